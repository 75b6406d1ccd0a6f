"""Network namespaces as test "nodes", and forwarders that let them reach the host's services.

`network_nodes("a", "b")` makes one namespace per label, each joined to the host by a veth pair
on its own /30 (host side `.1`, node side `.2`), with `lo` up inside. Processes started with
`Node.spawn` run inside the namespace *and* their own UTS namespace whose hostname is the node's
name, so `socket.gethostname()` (and everything a worker records with it) tells nodes apart.
`Node.cut()` takes the node's side of the link down without touching its processes: a network
partition, not a crash. Everything is removed on exit, whatever happened inside the block.

Services on the host often listen on loopback only. `Gateway(node.host_ip)` exposes them on the
node's host-side address through small TCP forwarders (`gateway.url(url)` rewrites a URL to go
through one). The forwarders set TCP keepalive and `TCP_USER_TIMEOUT` on the node's side, so
when a node is cut off its connections end within seconds and the service behind sees them
close, as a server with short keepalives would; a PostgreSQL transaction left open by a cut-off
node is then rolled back instead of holding its row locks for ever.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

from labeller.local._children import spawn

__all__ = [
    "Gateway",
    "Node",
    "TcpForwarder",
    "netns_unavailable_reason",
    "network_nodes",
]

#: The /16 the nodes' /30 links are drawn from.
_SUBNET_PREFIX = "10.231"
#: How long a cut-off peer's connection survives on the host side, in seconds (keepalive idle,
#: probe interval, probes; and the bound on unacknowledged data).
_KEEPALIVE_IDLE_S = 1
_KEEPALIVE_INTERVAL_S = 1
_KEEPALIVE_PROBES = 2
_USER_TIMEOUT_MS = 3000
#: Sets the hostname of the fresh UTS namespace, then becomes the command.
_SET_HOSTNAME = 'hostname "$0" && exec "$@"'


def _tool(name: str) -> str | None:
    """`name` on PATH, or in the sbin directories a non-login root shell may lack."""
    for directory in ("/usr/sbin", "/sbin"):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return shutil.which(name) or path
    return shutil.which(name)


def _ip_binary() -> str:
    path = _tool("ip")
    if path is None:
        raise RuntimeError("the `ip` command (iproute2) is not installed")
    return path


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_ip_binary(), *args], check=check, capture_output=True, text=True, timeout=30
    )


@functools.cache
def netns_unavailable_reason() -> str | None:
    """Why namespaces cannot be made here (a skip reason), or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (`ip netns add`); run as root, as CI does"
    if _tool("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    unshare = _tool("unshare")
    if unshare is None:
        return "the `unshare` command (util-linux) is not installed"
    probe = f"lbl-probe-{secrets.token_hex(3)}"
    added = _run("netns", "add", probe, check=False)
    if added.returncode != 0:
        return f"`ip netns add` failed: {added.stderr.strip() or added.returncode}"
    try:
        inside = _run("netns", "exec", probe, unshare, "--uts", "hostname", probe, check=False)
        if inside.returncode != 0:
            return f"`unshare --uts` inside a namespace failed: {inside.stderr.strip()}"
    finally:
        _run("netns", "del", probe, check=False)
    return None


@dataclass(frozen=True)
class Node:
    """One namespace: its name (also the hostname of what runs in it) and its link's ends."""

    name: str
    host_ip: str
    node_ip: str
    host_veth: str
    node_veth: str

    def command(self, args: Sequence[str]) -> list[str]:
        """`args` run inside the node, with the node's name as hostname."""
        unshare = _tool("unshare") or "unshare"
        return [
            _ip_binary(), "netns", "exec", self.name,
            unshare, "--uts", "sh", "-c", _SET_HOSTNAME, self.name, *args,
        ]  # fmt: skip

    def spawn(
        self, args: Sequence[str], *, env: Mapping[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """Start `args` in the node, output to `log`; it gets SIGTERM if this process dies.

        `ip netns exec`, `unshare` and `sh` each exec the next, so the Popen's pid is the
        command's own and signals sent to it reach the command.
        """
        return spawn(self.command(args), env=env, log=log)

    def cut(self) -> None:
        """Take the node's end of the link down: nothing in or out, processes untouched."""
        _run("netns", "exec", self.name, _ip_binary(), "link", "set", self.node_veth, "down")

    def pids(self) -> list[int]:
        """Processes living in the node's network namespace."""
        listed = _run("netns", "pids", self.name, check=False)
        return [int(p) for p in listed.stdout.split() if p.isdigit()]


def _used_subnets() -> set[str]:
    listed = _run("-o", "-4", "addr", "show", check=False).stdout
    used = set()
    for address in re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", listed):
        a, b, c, d = address.split(".")
        used.add(f"{a}.{b}.{c}.{int(d) & ~3}")
    return used


def _free_subnet(rng: random.Random) -> str:
    used = _used_subnets()
    for _ in range(1000):
        subnet = f"{_SUBNET_PREFIX}.{rng.randrange(256)}.{rng.randrange(64) * 4}"
        if subnet not in used:
            return subnet
    raise RuntimeError(f"no free /30 left in {_SUBNET_PREFIX}.0.0/16")


def _create(label: str, token: str, rng: random.Random, made: list[Node]) -> Node:
    subnet = _free_subnet(rng)
    base = subnet.rsplit(".", 1)[0]
    last = int(subnet.rsplit(".", 1)[1])
    node = Node(
        name=f"lbl-{label}-{token}",
        host_ip=f"{base}.{last + 1}",
        node_ip=f"{base}.{last + 2}",
        # Interface names are at most 15 characters.
        host_veth=f"lv{label}{token}h",
        node_veth=f"lv{label}{token}n",
    )
    made.append(node)  # before anything exists, so a half-made node is removed too
    ip = _ip_binary()
    _run("netns", "add", node.name)
    _run("link", "add", node.host_veth, "type", "veth", "peer", "name", node.node_veth)
    _run("link", "set", node.node_veth, "netns", node.name)
    _run("addr", "add", f"{node.host_ip}/30", "dev", node.host_veth)
    _run("link", "set", node.host_veth, "up")
    inside = ("netns", "exec", node.name, ip)
    _run(*inside, "addr", "add", f"{node.node_ip}/30", "dev", node.node_veth)
    _run(*inside, "link", "set", node.node_veth, "up")
    _run(*inside, "link", "set", "lo", "up")
    return node


def _destroy(node: Node) -> None:
    """Kill whatever still runs in the node, then remove its link and namespace."""
    for pid in node.pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # Deleting one end of a veth removes both; without this the host end lingers until the
    # kernel gets round to freeing the namespace.
    _run("link", "del", node.host_veth, check=False)
    _run("netns", "del", node.name, check=False)


@contextlib.contextmanager
def network_nodes(*labels: str) -> Iterator[list[Node]]:
    """One node per label (a short [a-z0-9] tag: `a`, `b`), all removed on exit.

    Raises RuntimeError with `netns_unavailable_reason()` when namespaces cannot be made.
    """
    reason = netns_unavailable_reason()
    if reason is not None:
        raise RuntimeError(reason)
    for label in labels:
        if not re.fullmatch(r"[a-z0-9]{1,3}", label):
            raise ValueError(f"node label {label!r}: use 1-3 characters [a-z0-9]")
    token = secrets.token_hex(3)
    rng = random.Random(secrets.randbits(64))
    made: list[Node] = []
    try:
        for label in labels:
            _create(label, token, rng, made)
        yield list(made)
    finally:
        for node in reversed(made):
            _destroy(node)


def _quiet_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _short_keepalive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, _KEEPALIVE_IDLE_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, _KEEPALIVE_INTERVAL_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, _KEEPALIVE_PROBES)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, _USER_TIMEOUT_MS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class TcpForwarder:
    """Listen on `listen_host` (a free port) and relay every connection to `target`."""

    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        self._listen_host = listen_host
        self._target = target
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        #: Connections accepted so far.
        self.accepted = 0

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("TcpForwarder is not started")
        return int(self._listener.getsockname()[1])

    def start(self) -> None:
        self._listener = socket.create_server((self._listen_host, 0))
        self._listener.settimeout(0.1)
        self._spawn(self._accept_loop, "accept")

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for sock in list(self._open):
                _quiet_close(sock)
            self._open.clear()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> TcpForwarder:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], role: str, *args: object) -> None:
        thread = threading.Thread(
            target=target,
            args=args,
            name=f"forward-{self._listen_host}-{role}",
            daemon=True,
        )
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            try:
                client.settimeout(None)
                _short_keepalive(client)
                upstream = socket.create_connection(self._target, timeout=5)
                upstream.settimeout(None)
                upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                _quiet_close(client)
                continue
            with self._lock:
                if self._stopping.is_set():
                    _quiet_close(client)
                    _quiet_close(upstream)
                    return
                self._open.update((client, upstream))
                self.accepted += 1
            self._spawn(self._pump, "up", client, upstream)
            self._spawn(self._pump, "down", upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass  # reset, timed out (a cut-off peer), or closed by the other direction
        finally:
            # Either side gone means the conversation is over: end both, so the service
            # behind (or the peer) sees the close at once.
            with self._lock:
                for sock in (source, sink):
                    if sock in self._open:
                        self._open.discard(sock)
                        _quiet_close(sock)


class Gateway:
    """Host services as one node sees them: forwarders on the node's host-side address."""

    def __init__(self, listen_host: str) -> None:
        self.listen_host = listen_host
        self._forwarders: list[TcpForwarder] = []

    def forward(self, host: str, port: int) -> int:
        """Relay `listen_host:<returned port>` to `host:port`."""
        forwarder = TcpForwarder(self.listen_host, (host, port))
        forwarder.start()
        self._forwarders.append(forwarder)
        return forwarder.port

    def url(self, url: str, default_port: int) -> str:
        """`url` with its host and port replaced by a forwarder to them (credentials kept)."""
        parts = urlsplit(url)
        if parts.hostname is None:
            raise ValueError(f"{url}: no host to forward to")
        port = self.forward(parts.hostname, parts.port or default_port)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@" if userinfo else ""
        return urlunsplit(parts._replace(netloc=f"{netloc}{self.listen_host}:{port}"))

    def close(self) -> None:
        for forwarder in self._forwarders:
            forwarder.stop()
        self._forwarders.clear()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

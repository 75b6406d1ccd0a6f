"""Two nodes, one job, and a network partition: the node that stays finishes what the other held.

Each node is a network namespace with its own Celery workers (`tests/chaos/netns.py`); both
reach Redis, PostgreSQL and the provider simulator only over their veth link, through
forwarders on the host side. Mid-job node A is cut off (its link goes down; its processes keep
running, as on a partitioned machine). The frames it had claimed stay leased to it until their
lease (`lease_s`) expires; the sweeper then sends them out again and node B captions them (as
it does, after `feeder.lost_after_s`, with a frame whose message A took but never claimed). The
audit: every frame done, one caption (one successful call) per frame, nothing done by node A
after the cut, and the frames A held finished by B.

Workers of each node run with the node's name as hostname, so `Attempt.worker`
(`hostname:uuid`) says which node made each call.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from labeller.config import Settings, load_settings
from labeller.jobs import create_job, requeue_pending
from labeller.local import worker_command
from labeller.local._children import stop
from labeller.recordings import open_recording, write_sample
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import Attempt, AttemptStatus, Frame, FrameState, Store, make_engine, upgrade
from tests.chaos.harness import WaitUntil
from tests.chaos.netns import Gateway, Node, netns_unavailable_reason, network_nodes
from workers import make_publisher

#: 10 ms windows: FRAMES frames. A frame takes ~0.3 s of a worker thread (a ~200 ms call plus
#: render, claim and writes): ~50 frames/s on both nodes, ~25/s on node B alone, so the job
#: runs ~15 s with node A cut off early in it.
FRAMES = 400
#: Node A is cut off once this many frames are done.
CUT_AFTER_DONE = 100
WORKERS_PER_NODE = 2
THREADS_PER_WORKER = 4
#: A claim lasts this long: the frames node A held come back this soon after the cut.
LEASE_S = 5.0
LATENCY_MS = 200.0
#: A frame queued this long is presumed lost and sent again (the feeder's sweep). Node A may
#: have taken a frame's message and been cut off before its claim committed: the frame stays
#: `queued`, its message unacknowledged on a node that is gone (Redis would redeliver it only
#: after the hour-long visibility timeout). The default, 15 min, is too long for a test; a
#: frame merely waiting its turn in the queue gets a duplicate message, which the claim absorbs.
LOST_AFTER_S = 10.0

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="network namespaces need root (`ip netns add`); CI runs as root"
    ),
    # Startup, ~15 s of job, a lease to expire, and slack for a slow CI machine.
    pytest.mark.timeout(300),
]


def _write_config(path: Path) -> Path:
    config = {
        "lease_s": LEASE_S,
        "feeder": {"lost_after_s": LOST_AFTER_S},
        "binning": {"window": "10ms", "keep_partial": True},
        # Every frame goes to a provider; caching has its own tests.
        "cache": {"exact": False, "near_duplicate_bits": None},
        # A simulated job calls LABELLER_SIMULATOR_URL; an unset key variable sends a dummy key.
        "providers": [
            {
                "name": "openai",
                "model": "gpt-4o-mini",
                "api_key_env": "CHAOS_UNSET_KEY",
                "weight": 0.5,
                "fallback": ["local"],
                # Short calls, so a lease renewed for a call is no longer than LEASE_S.
                "timeout_s": 3.0,
            },
            {
                "name": "local",
                "model": "llava-v1.6-34b",
                "api_key_env": "CHAOS_UNSET_KEY",
                "weight": 0.5,
                "fallback": ["openai"],
                "timeout_s": 3.0,
            },
        ],
    }
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    reason = netns_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with network_nodes("a", "b") as made:
        yield made


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    profile = {"latency_ms": LATENCY_MS, "latency_jitter_ms": 40}
    config = SimulatorConfig.model_validate(
        {"seed": 11, "models": {"gpt-4o-mini": profile, "llava-v1.6-34b": profile}}
    )
    with SimulatorServer(config) as server:
        yield server


def _count(engine: Engine, *states: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(Frame.state.in_(states))) or 0)


def _ok_by_node(engine: Engine, node: Node) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count()).where(
                    Attempt.status == AttemptStatus.ok.value,
                    Attempt.worker.startswith(f"{node.name}:"),
                )
            )
            or 0
        )


def _states(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(Frame.state, func.count()).group_by(Frame.state)).all()
    return {str(state): int(count) for state, count in rows}


def _stuck(engine: Engine, now: float) -> str:
    """What the frames that are not done are doing: for the failure message."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Frame.index, Frame.state, Frame.lease_owner, Frame.lease_until, Frame.attempts)
            .where(Frame.state != FrameState.done.value)
            .order_by(Frame.index)
            .limit(12)
        ).all()
    return "; ".join(
        f"#{index} {state} owner={owner} "
        f"lease={'-' if until is None else f'{until - now:+.1f}s'} attempts={attempts}"
        for index, state, owner, until, attempts in rows
    )


def _tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


# Only the PostgreSQL case of `database_url` (skipped without LABELLER_TEST_DATABASE_URL): two
# nodes share a database server over the network; SQLite is one machine's file.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_cut_off_node_frames_are_finished_by_the_other(
    tmp_path: Path,
    database_url: str,
    nodes: list[Node],
    redis_url: str,
    key_prefix: str,
    simulator: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    wait_until: WaitUntil,
) -> None:
    node_a, node_b = nodes
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=FRAMES / 100, width=320, height=240, rate_hz=2e5, seed=7)
    config_path = _write_config(tmp_path / "labeller.yaml")
    common = {
        "LABELLER_KEY_PREFIX": key_prefix,
        "LABELLER_CONFIG": str(config_path),
    }
    # The test process itself talks to the services directly (over loopback).
    for name, value in {
        **common,
        "LABELLER_BROKER_URL": redis_url,
        "LABELLER_REDIS_URL": redis_url,
        "LABELLER_DATABASE_URL": database_url,
        "LABELLER_SIMULATOR_URL": simulator.url,
    }.items():
        monkeypatch.setenv(name, value)
    settings: Settings = load_settings()
    assert settings.lease_s == LEASE_S
    queues = [f"vlm.{p.name}" for p in settings.providers]
    engine = make_engine(database_url)
    upgrade(engine)
    store = Store(engine, time.time)
    processes: dict[str, list[subprocess.Popen[bytes]]] = {}
    logs: dict[str, list[Path]] = {}

    with ExitStack() as stack:
        stack.callback(engine.dispose)
        for node in nodes:
            # Everything a node reaches goes over its link: forwarders on the host-side address.
            gateway = stack.enter_context(Gateway(node.host_ip))
            env = {
                **os.environ,
                **common,
                "LABELLER_BROKER_URL": gateway.url(redis_url, 6379),
                "LABELLER_DATABASE_URL": gateway.url(database_url, 5432),
                "LABELLER_SIMULATOR_URL": gateway.url(simulator.url, 80),
            }
            env["LABELLER_REDIS_URL"] = env["LABELLER_BROKER_URL"]
            log_dir = tmp_path / node.name
            log_dir.mkdir()
            for n in range(1, WORKERS_PER_NODE + 1):
                log = log_dir / f"worker-{n}.log"
                command = worker_command(
                    queues, concurrency=THREADS_PER_WORKER, name=f"w{n}-{node.name}"
                )
                process = node.spawn(command, env=env, log=log)
                # Node A may be stuck on its dead link: no grace. Node B shuts down cleanly.
                grace = 0.0 if node is node_a else 20.0
                stack.callback(stop, process, grace_s=grace)
                processes.setdefault(node.name, []).append(process)
                logs.setdefault(node.name, []).append(log)

        def diagnostics() -> str:
            parts = [f"states {_states(engine)}", f"not done: {_stuck(engine, time.time())}"]
            for name, paths in logs.items():
                for path in paths:
                    parts.append(f"--- {name}/{path.name}\n{_tail(path)}")
            return "\n".join(parts)

        # Publish once every worker listens: a frame queued longer than LOST_AFTER_S while the
        # workers start would be presumed lost and sent twice (harmless, but noise).
        all_logs = [path for paths in logs.values() for path in paths]
        wait_until(
            lambda: all(" ready." in _tail(path, 200) for path in all_logs),
            60,
            lambda: f"every worker ready\n{diagnostics()}",
        )
        with open_recording(recording, settings.recording) as opened:
            job_id = create_job(store, settings, opened, simulated=True)
        publisher = make_publisher(settings)
        try:
            # Zero when the workers' own feeder has already published every pending frame.
            published = requeue_pending(store, publisher, job_id)
        finally:
            publisher.close()
        assert 0 <= published <= FRAMES

        started = time.monotonic()
        done = FrameState.done.value
        # Both nodes at work before the cut, so the cut takes something away.
        wait_until(
            lambda: (
                _count(engine, done) >= CUT_AFTER_DONE
                and _ok_by_node(engine, node_a) > 0
                and _ok_by_node(engine, node_b) > 0
            ),
            120,
            lambda: f"{CUT_AFTER_DONE} frames done by both nodes\n{diagnostics()}",
        )
        t_cut = time.time()
        node_a.cut()
        cut_at = time.monotonic()
        # A write node A had already put on the wire lands within this; after it, what A holds
        # stays held until its lease runs out.
        time.sleep(0.5)
        with engine.connect() as conn:
            held: dict[int, float] = {
                index: until
                for index, until in conn.execute(
                    select(Frame.index, Frame.lease_until).where(
                        Frame.job_id == job_id,
                        Frame.state == FrameState.running.value,
                        Frame.lease_owner.startswith(f"{node_a.name}:"),
                    )
                )
                if until is not None
            }
        done_at_cut = _count(engine, done)
        assert held, "node A held no frame at the cut: nothing to take over"
        assert all(p.poll() is None for p in processes[node_a.name]), "cut, not killed"

        wait_until(
            lambda: _count(engine, done) == FRAMES,
            120,
            lambda: (
                f"every frame done after node A was cut off (frames it held: {sorted(held)}; "
                "the sweeper sends them again once their leases expire, and frames left queued "
                f"after {LOST_AFTER_S:g} s)\n"
                f"{diagnostics()}"
            ),
        )
        finished = time.monotonic()
        # Node A's workers are still running: partitioned, not crashed.
        assert all(p.poll() is None for p in processes[node_a.name])

        with engine.connect() as conn:
            assert _states(engine) == {done: FRAMES}
            ok = conn.execute(
                select(
                    Attempt.frame_index, Attempt.worker, Attempt.started_at, Attempt.latency_ms
                ).where(Attempt.job_id == job_id, Attempt.status == AttemptStatus.ok.value)
            ).all()
            captions = conn.scalar(
                select(func.count()).where(Frame.job_id == job_id, Frame.caption.is_not(None))
            )
            finished_at = {
                index: at
                for index, at in conn.execute(
                    select(Frame.index, Frame.finished_at).where(Frame.job_id == job_id)
                )
                if at is not None
            }
    # `with` ended: every process stopped, forwarders closed, namespaces gone.
    assert not [n.name for n in nodes if n.pids()]

    def node_of(worker: str) -> str:
        return worker.split(":", 1)[0]

    a, b = node_a.name, node_b.name
    calls: dict[int, list[tuple[str, float, float]]] = {}
    for index, worker, started_at, latency in ok:
        calls.setdefault(index, []).append((node_of(worker), started_at - t_cut, latency))

    def described(index: int) -> str:
        return f"frame {index}: " + ", ".join(
            f"{node} called at {at:+.2f} s from the cut ({latency:.0f} ms)"
            for node, at, latency in calls.get(index, [])
        )

    assert sorted(calls) == list(range(FRAMES)), "a done frame without a successful call"
    assert captions == FRAMES
    assert {node for per_frame in calls.values() for node, _, _ in per_frame} == {a, b}
    # Node A did nothing after the cut.
    late = [
        i for i, per_frame in calls.items() for node, at, _ in per_frame if node == a and at >= 0
    ]
    assert not late, [described(i) for i in late]
    # One successful call per frame (one caption, billed once), with one exception: a call node
    # A made just before the cut whose caption it could not save. That frame stayed leased to A
    # and was called again, by B, once the lease expired; the first answer is lost but was paid.
    for index, per_frame in calls.items():
        nodes_called = sorted(node for node, _, _ in per_frame)
        if index in held:
            assert nodes_called in ([b], [a, b]), described(index)
            # Saved by B, after A's lease on it expired.
            assert finished_at[index] >= held[index], described(index)
        else:
            assert len(nodes_called) == 1, described(index)
            if finished_at[index] > t_cut + 0.5:
                assert nodes_called == [b], described(index)
    assert [i for i, at in finished_at.items() if at > t_cut + 0.5], "nothing done after the cut"

    # The provider accepted one call per frame, plus the answers node A never received.
    totals = httpx.get(f"{simulator.url}/stats").json()["totals"]
    assert FRAMES <= totals["accepted"] <= FRAMES + WORKERS_PER_NODE * THREADS_PER_WORKER
    print(
        f"\n{FRAMES} frames ({published} published by the test, the rest by the feeder): "
        f"cut node A at {cut_at - started:.1f} s with {done_at_cut} done and "
        f"{len(held)} held; all done {finished - cut_at:.1f} s after the cut"
    )

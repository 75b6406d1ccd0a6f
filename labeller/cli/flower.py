"""`labeller flower`: Celery's Flower for the workers' broker, with labeller's defaults.

Flower is a live view, not the record (the database is): it keeps task state in memory, so the
history is bounded (`--max-tasks`; Flower slows past ~1M tasks, flower#1192). Listening beyond
this machine needs basic auth. The password travels to Flower in its environment, never on its
command line (where `ps` shows it), and Flower gets no provider API key.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

import workers
from labeller.cli._common import ConfigOpt, console, load
from labeller.config import Settings
from labeller.errors import UserError
from workers import make_publisher

__all__ = ["flower", "flower_command"]

#: Flower's environment variable for `--basic-auth`; Flower reads it itself.
BASIC_AUTH_ENV = "FLOWER_BASIC_AUTH"
#: Tasks Flower keeps in memory by default (its own default is 100,000): enough to watch a job
#: go by, small enough to stay responsive whatever the job's size.
DEFAULT_MAX_TASKS = 10_000
#: Flower settings for our tasks: the columns, and kwargs that read `job=…, frame=… → provider`.
FLOWER_CONF = Path(workers.__file__).with_name("flowerconfig.py")


def flower_command(*, address: str, port: int, max_tasks: int) -> list[str]:
    """The `celery flower` command line; no secret on it."""
    return [
        sys.executable, "-m", "celery", "-A", "workers.app", "flower",
        f"--conf={FLOWER_CONF}",
        f"--address={address}",
        f"--port={port}",
        f"--max_tasks={max_tasks}",
    ]  # fmt: skip


def is_loopback(address: str) -> bool:
    """True if `address` only accepts connections from this machine (`""` means every one)."""
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_basic_auth(value: str) -> None:
    """`user:password[,user2:password2]`, as Flower takes it; the error never echoes it."""
    for entry in value.split(","):
        user, colon, password = entry.partition(":")
        if not (colon and user.strip() and password):
            raise UserError(
                f"--basic-auth/{BASIC_AUTH_ENV}: expected user:password "
                "(several separated by commas)"
            )


def _flower_env(
    settings: Settings, broker_url: str, config: Path | None, basic_auth: str | None
) -> dict[str, str]:
    env = dict(os.environ)
    # Flower reads no provider key; it should not hold one either.
    for provider in settings.providers:
        for key in provider.key_list:
            env.pop(key.env, None)
    env["LABELLER_BROKER_URL"] = broker_url
    env["LABELLER_KEY_PREFIX"] = settings.key_prefix
    if config is not None:
        env["LABELLER_CONFIG"] = str(config.resolve())
    if basic_auth:
        env[BASIC_AUTH_ENV] = basic_auth
    else:
        env.pop(BASIC_AUTH_ENV, None)
    return env


def flower(
    address: Annotated[
        str, typer.Option(help="Interface to listen on; beyond loopback needs --basic-auth.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 5555,
    basic_auth: Annotated[
        str | None,
        typer.Option(
            "--basic-auth",
            envvar=BASIC_AUTH_ENV,
            show_envvar=True,
            help="user:password (several separated by commas) for HTTP basic auth.",
        ),
    ] = None,
    max_tasks: Annotated[
        int, typer.Option(min=1, help="Tasks kept in memory; the oldest are forgotten.")
    ] = DEFAULT_MAX_TASKS,
    config: ConfigOpt = None,
    broker_url: Annotated[
        str | None, typer.Option(help="Celery broker (default: $LABELLER_BROKER_URL).")
    ] = None,
) -> None:
    """Run Flower, the web view of the workers: tasks, queues per provider, workers."""
    if basic_auth is not None:
        _check_basic_auth(basic_auth)
    if not basic_auth and not is_loopback(address):
        raise UserError(
            f"--basic-auth: required when Flower listens beyond this machine "
            f"(--address {address or '(every interface)'}); pass user:password or set "
            f"{BASIC_AUTH_ENV}"
        )
    settings = load(config, broker_url=broker_url)
    if settings.broker_url is None:
        raise UserError(
            "broker_url: Flower watches the workers' shared broker, and a null broker_url "
            "(an embedded Redis per command) has none; set LABELLER_BROKER_URL or --broker-url"
        )
    # A wrong broker URL is one line here, not Flower retrying forever.
    publisher = make_publisher(settings)
    try:
        publisher.check()
    finally:
        publisher.close()
    address = address.strip("[]")  # tornado binds `::1`, not `[::1]`
    queues = ", ".join(f"vlm.{p.name}" for p in settings.providers)
    host = f"[{address}]" if ":" in address else address or "0.0.0.0"
    console.print(
        f"Flower on http://{host}:{port}/ (queues {queues}; keeps the last {max_tasks:,} "
        f"tasks; basic auth {'on' if basic_auth else 'off'})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    command = flower_command(address=address, port=port, max_tasks=max_tasks)
    sys.stdout.flush()
    os.execve(command[0], command, _flower_env(settings, settings.broker_url, config, basic_auth))

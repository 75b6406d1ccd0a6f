"""`labeller flower` refuses what it must before Flower starts: no auth beyond loopback, a
malformed user:password, a null broker; and its Flower command line and environment hold no
secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from celery.events.state import Task
from typer.testing import CliRunner

from labeller.cli import app
from labeller.cli.flower import _flower_env, flower_command, is_loopback
from labeller.config import load_settings
from labeller.errors import UserError
from workers.flowerconfig import format_task

PASSWORD = "n0t-in-argv"
#: Variables that would change what the commands below see.
CLEAN = {"LABELLER_CONFIG": None, "LABELLER_BROKER_URL": None, "FLOWER_BASIC_AUTH": None}


def _refusal(args: list[str], env: dict[str, str | None] | None = None) -> str:
    result = CliRunner().invoke(app, ["flower", *args], env={**CLEAN, **(env or {})})
    assert result.exit_code != 0
    assert isinstance(result.exception, UserError), result.output
    message = str(result.exception)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "", "192.168.1.20", "flower.example"])
def test_listening_beyond_loopback_without_auth_is_refused(address: str) -> None:
    message = _refusal(["--address", address])
    assert message.startswith("--basic-auth: required")
    assert "FLOWER_BASIC_AUTH" in message


@pytest.mark.parametrize("value", ["admin", "admin:", ":pw", "a:b,c"])
def test_a_malformed_basic_auth_is_refused_without_echoing_it(value: str) -> None:
    message = _refusal(["--address", "0.0.0.0"], {"FLOWER_BASIC_AUTH": value})
    assert "expected user:password" in message
    assert value not in message.split(": ", 1)[1]


def test_a_null_broker_is_refused() -> None:
    message = _refusal(["--basic-auth", f"admin:{PASSWORD}"])
    assert message.startswith("broker_url:")
    assert "embedded Redis" in message


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("", False), ("::", False), ("10.0.0.2", False)],
)  # fmt: skip
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_the_password_and_api_keys_stay_out_of_flowers_command_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-" + "k3y" * 10)
    monkeypatch.setenv("LABELLER_BROKER_URL", "redis://127.0.0.1:6379/0")
    settings = load_settings(None)
    command = flower_command(address="0.0.0.0", port=5555, max_tasks=10_000)
    assert "--max_tasks=10000" in command
    assert not any(PASSWORD in part for part in command)
    env = _flower_env(settings, "redis://127.0.0.1:6379/0", None, f"admin:{PASSWORD}")
    assert env["FLOWER_BASIC_AUTH"] == f"admin:{PASSWORD}"
    assert "OPENAI_API_KEY" not in env
    assert env["LABELLER_KEY_PREFIX"] == settings.key_prefix


def test_the_command_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """The whole path a person sees: `main()` turns the refusal into one line on stderr."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "labeller.cli", "flower", "--address", "0.0.0.0"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --basic-auth: required")


def test_flower_shows_label_frame_kwargs_as_job_frame_and_provider() -> None:
    """What the tasks page shows; Flower's search and API keep the dict the workers sent."""
    sent = "{'job': '3f2a9c1d0b7e', 'frame': 7, 'provider': 'openai'}"
    task = format_task(Task("u1", name="label_frame", kwargs=sent))
    assert task.kwargs == "job=3f2a9c1d0b7e, frame=7 → openai"
    other = format_task(Task("u2", name="celery.chord_unlock", kwargs=sent))
    assert other.kwargs == sent
    odd = format_task(Task("u3", name="label_frame", kwargs="{'job': 'x', 'frame': 1...}"))
    assert odd.kwargs == "{'job': 'x', 'frame': 1...}"

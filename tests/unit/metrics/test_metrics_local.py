"""Which port the workers of a command export on: none for a trial run on its own embedded Redis
unless the port was set, the default when they serve a real broker."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from labeller.config import load_settings
from labeller.local import LocalSession


@pytest.fixture(autouse=True)
def _no_port_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite turns metrics off for every worker (tests/conftest.py); here the user decides.
    monkeypatch.delenv("LABELLER_METRICS_PORT")
    monkeypatch.delenv("LABELLER_BROKER_URL", raising=False)
    monkeypatch.delenv("LABELLER_CONFIG", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the session's work dir


def _worker_port(
    monkeypatch: pytest.MonkeyPatch, config: Path | None = None, broker: str | None = None
) -> int | None:
    """The port a worker started by the session would load from its environment."""
    settings = load_settings(config, {"broker_url": broker})
    session = LocalSession(
        settings, simulate=True, simulator_config=None, workers=1, config_path=config
    )
    for name, value in session.worker_env().items():
        monkeypatch.setenv(name, value)
    return load_settings().metrics_port


def test_a_run_on_its_own_redis_exports_nothing_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _worker_port(monkeypatch) == 0


def test_a_port_in_the_file_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "labeller.yaml"
    config.write_text("metrics_port: 9470\n")

    assert _worker_port(monkeypatch, config) == 9470


def test_a_port_in_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELLER_METRICS_PORT", "9471")

    assert _worker_port(monkeypatch) == 9471


def test_workers_of_a_real_broker_keep_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _worker_port(monkeypatch, broker="redis://broker.example:6379/0") == 9464

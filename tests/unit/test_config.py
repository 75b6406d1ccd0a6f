"""load_settings: defaults < YAML < LABELLER_* env < overrides; faults as one-line ConfigErrors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import redis

from labeller.config import ProviderSettings, Settings, load_settings
from labeller.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LABELLER_* variable of the shell running the tests leaks into a case."""
    for name in list(os.environ):
        if name.upper().startswith("LABELLER_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "labeller.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def config_error(path: Path | None = None, **overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, overrides or None)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- precedence --------------------------------------------------------------------------------


def test_defaults_without_file_env_or_overrides() -> None:
    settings = load_settings()

    assert settings == Settings()
    assert (settings.binning.window, settings.max_attempts, settings.key_prefix) == (
        "50ms",
        6,
        "labeller",
    )
    assert [(p.name, p.model) for p in settings.providers] == [("openai", "gpt-4o-mini")]


def test_yaml_over_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "binning:\n  window: 10ms\nmax_attempts: 3\nrender:\n  encoding: jpeg\n")

    settings = load_settings(path)

    assert (settings.binning.window, settings.max_attempts, settings.render.encoding) == (
        "10ms",
        3,
        "jpeg",
    )
    assert settings.lease_s == 300.0


def test_env_over_yaml_and_overrides_over_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path, "binning:\n  window: 10ms\nmax_attempts: 3\nkey_prefix: from-yaml\nlease_s: 10\n"
    )
    monkeypatch.setenv("LABELLER_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("LABELLER_KEY_PREFIX", "from-env")

    settings = load_settings(path, {"max_attempts": 5, "binning": None})

    assert settings.max_attempts == 5  # override beats env and YAML
    assert settings.key_prefix == "from-env"  # env beats YAML
    assert settings.binning.window == "10ms"  # a None override is no override
    assert settings.lease_s == 10.0  # YAML beats the default
    assert settings.render.jpeg_quality == 90  # nobody set it


def test_env_over_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELLER_DATABASE_URL", "postgresql://db/labeller")
    monkeypatch.setenv("LABELLER_WORKERS", "3")

    settings = load_settings()

    assert (settings.database_url, settings.workers) == ("postgresql://db/labeller", 3)


def test_labeller_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELLER_CONFIG", str(write(tmp_path, "binning: {window: 20ms}\n")))

    assert load_settings().binning.window == "20ms"


def test_an_explicit_path_beats_labeller_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "LABELLER_CONFIG", str(write(tmp_path, "binning: {window: 20ms}\n", "env.yaml"))
    )

    assert (
        load_settings(write(tmp_path, "binning: {window: 30ms}\n", "flag.yaml")).binning.window
        == "30ms"
    )


def test_an_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "# nothing yet\n")) == Settings()


def test_a_file_does_not_leak_into_the_next_load(tmp_path: Path) -> None:
    load_settings(write(tmp_path, "binning: {window: 10ms}\n"))

    assert load_settings().binning.window == "50ms"


def test_providers_from_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "providers:\n"
        "  - {name: openai, model: gpt-4o-mini, rpm: 500, weight: 3, fallback: [local]}\n"
        "  - {name: local, model: llava, base_url: 'http://gpu:8000/v1', api_key_env: null}\n",
    )

    openai, local = load_settings(path).providers

    assert (openai.rpm, openai.weight, openai.fallback) == (500, 3.0, ["local"])
    assert (local.base_url, local.api_key_env, local.weight) == ("http://gpu:8000/v1", None, 1.0)


def test_labeller_providers_is_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "providers:\n  - {name: yaml-only, model: gpt-4o}\n")
    providers = [
        {"name": "a", "model": "gpt-4o", "rpm": 10, "fallback": ["b"]},
        {"name": "b", "model": "llava", "api_key_env": None, "detail": "high"},
    ]
    monkeypatch.setenv("LABELLER_PROVIDERS", json.dumps(providers))

    settings = load_settings(path)

    assert settings.providers == [
        ProviderSettings(name="a", model="gpt-4o", rpm=10, fallback=["b"]),
        ProviderSettings(name="b", model="llava", api_key_env=None, detail="high"),
    ]


# --- errors ------------------------------------------------------------------------------------


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "window: [10ms\nmax_attempts: 3\n")

    message = config_error(path)

    assert str(path) in message
    assert "YAML" in message


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    assert str(path) in config_error(path)


@pytest.mark.parametrize("text", ["- window: 10ms\n", "just a string\n", "42\n"])
def test_a_non_mapping_top_level_names_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)

    message = config_error(path)

    assert str(path) in message
    assert "mapping" in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("windw: 10ms\n", "windw"),
        ("max_attempts: 0\n", "max_attempts"),
        ("encoding: gif\n", "encoding"),
        ("providers:\n  - {name: a, model: m, rpn: 3}\n", "providers.0.rpn"),
        ("providers:\n  - {name: a, model: m, weight: -1}\n", "providers.0.weight"),
        ("providers:\n  - {name: 'Not A Name', model: m}\n", "providers.0.name"),
        ("providers:\n  - {name: a}\n", "providers.0.model"),
    ],
)
def test_invalid_keys_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)

    message = config_error(path)

    assert message.startswith(f"{path}: {key}: ")


def test_fallback_to_an_unknown_provider(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "providers:\n  - {name: a, model: m, fallback: [b, ghost]}\n  - {name: b, model: m}\n",
    )

    message = config_error(path)

    assert message.startswith(f"{path}: providers: ")
    assert "a.fallback" in message
    assert "ghost" in message


def test_duplicate_provider_names(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  - {name: a, model: m}\n  - {name: a, model: n}\n")

    message = config_error(path)

    assert message.startswith(f"{path}: providers: ")
    assert "repeat" in message


def test_no_providers_or_all_zero_weights(tmp_path: Path) -> None:
    assert "at least one provider" in config_error(write(tmp_path, "providers: []\n"))
    zero = "providers:\n  - {name: a, model: m, weight: 0}\n"
    assert "sum to zero" in config_error(write(tmp_path, zero))


def test_an_invalid_override_names_the_key() -> None:
    message = config_error(workers=0)

    assert message.startswith("command line: workers: ")


def test_an_invalid_env_value_is_not_blamed_on_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "binning: {window: 10ms}\n")
    monkeypatch.setenv("LABELLER_MAX_ATTEMPTS", "many")

    message = config_error(path)

    assert "max_attempts" in message.lower()
    assert str(path) not in message


def test_malformed_labeller_providers_json_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABELLER_PROVIDERS", '[{"name": "a", "model": ')

    message = config_error()

    assert "providers" in message.lower()


# --- the limiter's Redis -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("redis_url", "broker_url", "expected"),
    [
        ("redis://limits:6379/1", None, "redis://limits:6379/1"),
        ("redis://limits:6379/1", "redis://broker:6379/0", "redis://limits:6379/1"),
        ("redis://limits:6379/1", "amqp://guest@rabbit//", "redis://limits:6379/1"),
        (None, "redis://broker:6379/0", "redis://broker:6379/0"),
        (None, "rediss://broker:6380/0", "rediss://broker:6380/0"),
        ("", "redis://broker:6379/0", "redis://broker:6379/0"),
        (None, "amqp://guest@rabbit//", None),
        (None, "pyamqp://guest@rabbit//", None),
        (None, None, None),
    ],
)
def test_limiter_redis_url(
    redis_url: str | None, broker_url: str | None, expected: str | None
) -> None:
    settings = Settings(redis_url=redis_url, broker_url=broker_url)

    assert settings.limiter_redis_url() == expected


def test_limiter_redis_url_from_a_unix_socket_broker_is_usable_by_redis() -> None:
    """kombu spells a socket broker `redis+socket://`; redis-py only takes `unix://`."""
    settings = Settings(broker_url="redis+socket:///run/redis/redis.sock")

    url = settings.limiter_redis_url()

    if url is not None:
        client = redis.Redis.from_url(url)  # parses the URL; connects on first command only
        client.close()


# --- nested sections -----------------------------------------------------------------------------


def test_nested_overrides_merge_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "binning:\n  window: 10ms\n  min_events: 5\nrender:\n  mode: counts\n")
    monkeypatch.setenv("LABELLER_RENDER__ENCODING", "jpeg")

    settings = load_settings(path, {"binning": {"keep_partial": True}})

    assert settings.binning.window == "10ms" and settings.binning.min_events == 5
    assert settings.binning.keep_partial is True
    assert (settings.render.mode, settings.render.encoding) == ("counts", "jpeg")


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"binning": {"window": "fast"}}, "binning.window: invalid duration 'fast'"),
        ({"binning": {"window": "0ms"}}, "binning: window must be positive"),
        ({"binning": {"events": 100, "stride": "5ms"}}, "stride of count windows"),
        ({"binning": {"start": "5s", "end": "2s"}}, "end (2s) must be after start (5s)"),
        ({"render": {"time_surface_tau": "soon"}}, "render.time_surface_tau: invalid"),
        ({"render": {"on_color": [300, 0, 0]}}, "render.on_color.0"),
        ({"recording": {"format": "generic"}}, "format generic needs a `layout`"),
        ({"recording": {"format": "generic", "layout": {"x": "a"}}}, "name all of x, y, t, p"),
    ],
)
def test_frame_settings_errors_name_the_key(section: dict[str, Any], expected: str) -> None:
    message = config_error(**section)

    assert message.startswith("command line: ")
    assert expected in message

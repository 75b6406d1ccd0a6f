"""Settings: one typed object, loaded at the edge (CLI, worker start), passed down in pieces.

Precedence, highest first: explicit overrides (CLI flags), `LABELLER_*` environment variables,
the YAML file, the defaults below. API keys never appear here: a provider names the environment
variable that holds its key (`api_key_env`), and only the process that builds the client reads it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from labeller.config.feeder import FeederSettings
from labeller.config.frames import BinningSettings, RecordingSettings, RenderSettings
from labeller.config.prompt import check_prompt
from labeller.config.providers import ProviderSettings
from labeller.config.routing import CacheSettings, RoutingSettings
from labeller.errors import ConfigError

__all__ = ["CONFIG_ENV", "DEFAULT_PROMPT", "Settings", "load_settings"]

#: Environment variable naming the YAML file a worker process loads.
CONFIG_ENV = "LABELLER_CONFIG"

DEFAULT_PROMPT = (
    "This image is a pseudo-frame rendered from an event camera: bright orange pixels are "
    "brightness increases (ON events), blue pixels are decreases (OFF events), dark pixels saw "
    "no change. In one or two sentences, describe the moving objects and the motion."
)


def _default_providers() -> list[ProviderSettings]:
    return [ProviderSettings(name="openai", model="gpt-4o-mini")]


class Settings(BaseSettings):
    """Everything a producer or worker needs; see `labeller.example.yaml` for each key."""

    model_config = SettingsConfigDict(
        env_prefix="LABELLER_", env_nested_delimiter="__", extra="forbid"
    )

    #: SQLAlchemy URL of the job database (the source of truth).
    database_url: str = "sqlite:///labeller.db"
    #: Celery broker; None runs locally on an embedded Redis for the duration of a command.
    broker_url: str | None = None
    #: Redis for the shared rate limiter; None uses the broker when that is Redis.
    redis_url: str | None = None
    #: Base URL of the built-in simulator serving simulated jobs (set by `labeller run`).
    simulator_url: str | None = None
    #: Prefix of every Redis key labeller writes, broker keys included.
    key_prefix: str = "labeller"
    #: Sent with every frame: a template whose `{field}`s are filled per frame
    #: (labeller/config/prompt.py lists them); checked here, before any job is written.
    prompt: str = DEFAULT_PROMPT
    #: Which layout to read (auto-detected by default).
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    #: How the recording is cut into frames.
    binning: BinningSettings = Field(default_factory=BinningSettings)
    #: How a frame is rendered and encoded.
    render: RenderSettings = Field(default_factory=RenderSettings)
    #: Breaker, cooldowns and waits around provider trouble.
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    #: Caption reuse for identical and near-identical frames.
    cache: CacheSettings = Field(default_factory=CacheSettings)
    #: Backpressure: how many messages wait on each provider queue, and lost-frame sweeping.
    feeder: FeederSettings = Field(default_factory=FeederSettings)
    #: Spend (USD) at which a job pauses; `labeller resume JOB` continues it. None = no limit.
    budget_usd: float | None = Field(default=None, gt=0.0)
    #: Provider calls per frame before it ends `failed`.
    max_attempts: int = Field(default=6, gt=0)
    #: How long a worker's claim on a frame lasts, in seconds.
    lease_s: float = Field(default=300.0, gt=0.0)
    providers: list[ProviderSettings] = Field(default_factory=_default_providers)
    #: Local worker processes started by `labeller run` when no broker is given.
    workers: int = Field(default=2, ge=1)
    #: Threads per worker process: calls wait on the network, so many per core.
    worker_concurrency: int = Field(default=8, ge=1)
    #: Port of the node's Prometheus exporter, served by one worker process per node for every
    #: worker there (multiprocess); None or 0 turns metrics off. The local workers of a command
    #: without a broker (`labeller run` on an embedded Redis) export only when it is set.
    metrics_port: int | None = Field(default=9464, ge=0, le=65535)
    #: Address the exporter listens on: every interface by default, as Prometheus scrapes from
    #: another host; "127.0.0.1" keeps it to this machine.
    metrics_host: str = Field(default="0.0.0.0", min_length=1)
    #: Simulator profiles for `--simulate` (see `labeller/simulator/config.py`).
    simulator: dict[str, Any] = Field(default_factory=dict)

    def limiter_redis_url(self) -> str | None:
        """Redis for the shared limiter: `redis_url`, else the broker when that is Redis."""
        if self.redis_url:
            return self.redis_url
        if self.broker_url and self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, prompt: str) -> str:
        check_prompt(prompt)
        return prompt

    @field_validator("providers")
    @classmethod
    def _check_providers(cls, providers: list[ProviderSettings]) -> list[ProviderSettings]:
        names = [p.name for p in providers]
        if not providers:
            raise ValueError("at least one provider is needed")
        if len(set(names)) != len(names):
            raise ValueError(f"provider names repeat: {names}")
        for provider in providers:
            unknown = [f for f in provider.fallback if f not in names]
            if unknown:
                raise ValueError(f"{provider.name}.fallback names unknown providers {unknown}")
        if sum(p.weight for p in providers) <= 0:
            raise ValueError("provider weights sum to zero")
        return providers

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    def provider(self, name: str) -> ProviderSettings:
        """The provider called `name`; ConfigError if none is."""
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise ConfigError(f"providers: no provider named {name!r}")


class _YamlSource(InitSettingsSource):
    """The YAML file's values, below env and flags; filled by `load_settings`."""

    data: dict[str, Any] = {}

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls, init_kwargs=dict(_YamlSource.data))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not readable as YAML: {reason}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return loaded


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load settings from `path` (or `$LABELLER_CONFIG`), the environment and `overrides`.

    Raises ConfigError naming the file or key and the fault, on one line.
    """
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    data = _read_yaml(path) if path is not None else {}
    explicit = {k: v for k, v in (overrides or {}).items() if v is not None}
    _YamlSource.data = data
    try:
        return Settings(**explicit)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        source = _source_of(str(error["loc"][0]) if error["loc"] else "", path, data, explicit)
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{source}: {key}: {message}") from None
    except SettingsError as exc:
        # pydantic-settings names the field only in its message: "error parsing value for field
        # "providers" from source ...".
        field = re.search(r'field "(\w+)"', str(exc))
        where = f"LABELLER_{field.group(1).upper()}" if field else "environment"
        reason = str(exc.__cause__ or exc).splitlines()[0]
        raise ConfigError(f"{where}: cannot parse the value: {reason}") from None
    finally:
        _YamlSource.data = {}


def _source_of(key: str, path: Path | None, data: dict[str, Any], explicit: dict[str, Any]) -> str:
    """Where the bad value of `key` came from, to name it in the error."""
    if key in explicit:
        return "command line"
    env_name = f"LABELLER_{key.upper()}"
    if any(name.upper().startswith(env_name) for name in os.environ):
        return env_name
    if path is not None and key in data:
        return str(path)
    return "settings"

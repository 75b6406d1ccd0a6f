"""Per-process caches a worker keeps between frames: job specs, open recordings, HTTP clients."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labeller.config import JobSpec
from labeller.errors import LabellerError
from labeller.providers import CaptionClient, build_client
from labeller.recordings import Recording, open_recording
from labeller.routing import Price, RouteLimits, Router, price_for
from labeller.store import Store, get_job

__all__ = ["JobContext", "Resources", "prompt_digest"]

#: The `key_alias` of a provider without keys (servers without auth).
NO_KEY = "-"


def prompt_digest(prompt: str) -> str:
    """The prompt's identity for the exact cache: a caption is reused only for the same prompt."""
    return hashlib.sha256(prompt.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class JobContext:
    """A job as a worker needs it, built once per process."""

    job_id: str
    spec: JobSpec
    router: Router
    routes: dict[str, RouteLimits]
    prices: dict[str, Price]
    prompt_hash: str
    width: int
    height: int


class Resources:
    """Thread-safe caches; `close()` releases every file and connection."""

    def __init__(self, store: Store, *, simulator_url: str | None) -> None:
        self._store = store
        self._simulator_url = simulator_url
        self._lock = threading.Lock()
        self._jobs: dict[str, JobContext] = {}
        self._recordings: dict[str, Recording] = {}
        self._clients: dict[tuple[str, str, str], CaptionClient] = {}
        self._closers: list[Callable[[], None]] = []

    def close(self) -> None:
        with self._lock:
            for close in self._closers:
                close()
            for recording in self._recordings.values():
                recording.close()
            self._closers.clear()
            self._recordings.clear()
            self._clients.clear()

    def job(self, job_id: str) -> JobContext:
        with self._lock:
            cached = self._jobs.get(job_id)
        if cached is not None:
            return cached
        row = get_job(self._store.engine, job_id)
        if row is None:
            raise LabellerError(f"job {job_id}: not in the database")
        spec = JobSpec.model_validate_json(row.spec)
        recording = self.recording(spec)
        context = JobContext(
            job_id,
            spec,
            Router(spec.providers),
            {p.name: RouteLimits.from_settings(p) for p in spec.providers},
            {p.name: price_for(p) for p in spec.providers},
            prompt_digest(spec.prompt),
            recording.width,
            recording.height,
        )
        with self._lock:
            self._jobs[job_id] = context
        return context

    def recording(self, spec: JobSpec) -> Recording:
        """One open handle per recording and layout in this process."""
        key = f"{spec.recording}|{spec.recording_options.model_dump_json()}"
        with self._lock:
            if key not in self._recordings:
                self._recordings[key] = open_recording(Path(spec.recording), spec.recording_options)
            return self._recordings[key]

    def client(self, job: JobContext, provider_name: str, key_alias: str) -> CaptionClient:
        """The client for one provider key; raises LabellerError if it cannot be built."""
        cache_key = (job.job_id, provider_name, key_alias)
        with self._lock:
            cached = self._clients.get(cache_key)
        if cached is not None:
            return cached
        spec = job.spec
        provider = spec.provider(provider_name)
        key = next((k for k in provider.key_list if k.env == key_alias), None)
        base_url = None
        if spec.simulated:
            if self._simulator_url is None:
                raise LabellerError(
                    f"job {job.job_id} is simulated but this worker has no LABELLER_SIMULATOR_URL"
                )
            base_url = self._simulator_url.rstrip("/") + (
                "/v1" if provider.kind == "openai" else ""
            )
        client, http = build_client(provider, key, base_url=base_url, simulated=spec.simulated)
        with self._lock:
            self._clients[cache_key] = client
            self._closers.append(http.close)
        return client

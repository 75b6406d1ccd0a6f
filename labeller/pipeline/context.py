"""Per-process caches a worker keeps between frames: job specs, open recordings, HTTP clients."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labeller.config import JobSpec, PromptFacts
from labeller.errors import LabellerError
from labeller.providers import CaptionClient, build_client
from labeller.recordings import Recording, open_recording
from labeller.routing import Price, RouteLimits, Router, price_for
from labeller.store import ClaimedFrame, Store, get_job

__all__ = ["JobContext", "Resources", "cache_key", "frame_prompt", "prompt_digest"]

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
    #: Timestamp (µs) of the recording's first event: where a prompt's `t_start_s` counts from.
    origin_us: int
    #: Near-duplicate reuse is on: configured, and every frame is sent the same words (a
    #: similar frame's caption answers another prompt when a field like `{t_start_s}` differs).
    near_reuse: bool

    def prompt_for(self, frame: ClaimedFrame) -> str:
        """The prompt sent with `frame`: the job's template filled with the frame's metadata."""
        return frame_prompt(
            self.spec,
            window=frame.window,
            t_start_us=frame.t_start_us,
            t_end_us=frame.t_end_us,
            event_count=frame.i_end - frame.i_start,
            origin_us=self.origin_us,
            width=self.width,
            height=self.height,
        )

    def cache_key(self, image_hash: str, prompt: str) -> str:
        """What exact cache hits match on (see `cache_key`)."""
        return cache_key(self.spec, image_hash, prompt)


def frame_prompt(
    spec: JobSpec,
    *,
    window: int,
    t_start_us: int,
    t_end_us: int,
    event_count: int,
    origin_us: int,
    width: int,
    height: int,
) -> str:
    """The prompt sent for one frame: the job's template filled with the frame's metadata.

    `window` is the frame number the full job gives it; `origin_us` the recording's first
    event; `width`/`height` the sensor's. `labeller show` rebuilds it to check a digest.
    """
    return spec.prompt_for(
        PromptFacts(
            recording=spec.recording,
            frame=window,
            t_start_us=t_start_us,
            t_end_us=t_end_us,
            origin_us=origin_us,
            event_count=event_count,
            renderer=spec.render.mode,
            width=width,
            height=height,
        )
    )


def cache_key(spec: JobSpec, image_hash: str, prompt: str) -> str:
    """What exact cache hits match on (stored as the frame's `image_hash`), with the job's
    `prompt_hash` and the model.

    `prompt_hash` names the template; when the text sent differs from it (fields were
    filled), that text is folded into the key, so a caption is reused only for the same
    image asked with the same words. A plain prompt keeps the image digest as it was.
    """
    if prompt == spec.prompt:
        return image_hash
    return hashlib.sha256(f"{image_hash}\n{prompt}".encode()).hexdigest()[:32]


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
            recording.t_start_us,
            spec.cache.near_duplicate_bits is not None and not spec.prompt_varies(),
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

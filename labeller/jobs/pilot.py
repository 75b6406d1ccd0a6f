"""A pilot's figures, computed from its rows: per provider, agreement, and the full job's cost.

Everything comes from the database, so a pilot can be shown again at any time: calls, 429s,
tokens and cost from the job summary `labeller status` and the report use, latencies from the
Attempt rows, captions from the Frame rows. Latency percentiles are over successful calls; the
429 rate over every call; tokens and cost per captioned frame include what failed calls used.
The full job is extrapolated with the estimate's own models (`mix_cost_usd`, `mix_minutes`,
`frames_per_min`), fed with measured tokens, cost and latency instead of estimated ones.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from labeller.config import JobSpec, ProviderSettings
from labeller.errors import UserError
from labeller.jobs.estimate import ProviderEstimate, frames_per_min, mix_cost_usd, mix_minutes
from labeller.jobs.sampling import percentiles
from labeller.store import (
    CaptionRow,
    FrameState,
    Job,
    JobKind,
    ProviderStats,
    get_job,
    ok_latencies,
    read_captions,
    summarise,
)

__all__ = ["Agreement", "PilotReport", "ProviderPilot", "jaccard", "pilot_report", "words"]

#: Percentiles of successful calls' latency the report shows.
PERCENTILES = (50, 90, 99)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(caption: str) -> set[str]:
    """A caption's distinct lower-case words: what lexical agreement compares."""
    return set(_WORD.findall(caption.lower()))


def jaccard(a: set[str], b: set[str]) -> float:
    """Shared words over all words (1.0 for two empty sets)."""
    union = a | b
    return len(a & b) / len(union) if union else 1.0


@dataclass(frozen=True)
class ProviderPilot:
    name: str
    model: str
    #: Share of a full job's frames the configured weights send here.
    share: float
    #: Pilot frames pinned here, and how they ended.
    frames: int
    done: int
    failed: int
    calls: int
    rate_limited: int
    #: Percentile -> ms, over successful calls; empty when none succeeded.
    latency_ms: dict[int, float]
    latency_mean_ms: float | None
    #: Per captioned frame; None when no frame was captioned.
    prompt_tokens_per_frame: float | None
    completion_tokens_per_frame: float | None
    cost_per_frame_usd: float | None
    caption_words: float | None
    #: What the pilot spent here (every call).
    cost_usd: float
    #: Frames a minute this provider's limits allow at the measured tokens and latency.
    frames_per_min: float | None

    @property
    def rate_limited_share(self) -> float:
        """429s among all calls (0 with no call)."""
        return self.rate_limited / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class Agreement:
    """How alike two providers' captions of the same frames are."""

    a: str
    b: str
    #: Sampled windows both captioned.
    frames: int
    #: Mean Jaccard similarity of their word sets; None when no window was captioned by both.
    jaccard: float | None


@dataclass(frozen=True)
class PilotReport:
    job_id: str
    state: str
    simulated: bool
    #: Windows sampled (each sent to every provider).
    sample: int
    full_frames: int
    full_skipped: int
    providers: list[ProviderPilot]
    agreement: list[Agreement]

    @property
    def full_sent(self) -> int:
        """Frames a full job would send (the skipped ones never are)."""
        return self.full_frames - self.full_skipped

    @property
    def cost_usd(self) -> float:
        """What the pilot itself cost."""
        return sum(p.cost_usd for p in self.providers)

    def _mix(self) -> list[ProviderEstimate] | None:
        """The providers as the estimate models them, from measured figures; None when a
        provider the weights send frames to captioned nothing (its cost is unknown)."""
        estimates = []
        for p in self.providers:
            if p.share == 0:
                continue
            if p.cost_per_frame_usd is None:
                return None
            estimates.append(
                ProviderEstimate(
                    p.name,
                    p.model,
                    p.share,
                    round(p.prompt_tokens_per_frame or 0),
                    round(p.completion_tokens_per_frame or 0),
                    p.cost_per_frame_usd,
                    p.frames_per_min,
                )
            )
        return estimates

    @property
    def full_cost_usd(self) -> float | None:
        """The full job's cost under the configured mix; None when it cannot be priced."""
        mix = self._mix()
        return None if mix is None else mix_cost_usd(self.full_sent, mix)

    @property
    def full_minutes(self) -> float | None:
        """Minutes the limits allow the full job; None when no limit binds or it cannot be
        priced."""
        mix = self._mix()
        return None if mix is None else mix_minutes(self.full_sent, mix)


def _provider(
    settings: ProviderSettings,
    share: float,
    frames: list[CaptionRow],
    calls: ProviderStats,
    ok: Sequence[float],
) -> ProviderPilot:
    done = [f for f in frames if f.state == FrameState.done.value]
    n = len(done)
    prompt = calls.prompt_tokens / n if n else None
    completion = calls.completion_tokens / n if n else None
    mean_ms = sum(ok) / len(ok) if ok else None
    limit = None
    if prompt is not None and completion is not None and prompt + completion > 0:
        latency_s = mean_ms / 1000 if mean_ms else None
        limit = frames_per_min(settings, prompt + completion, latency_s)
    return ProviderPilot(
        name=settings.name,
        model=settings.model,
        share=share,
        frames=len(frames),
        done=n,
        failed=sum(f.state == FrameState.failed.value for f in frames),
        calls=calls.attempts,
        rate_limited=calls.rate_limited,
        latency_ms=percentiles(ok, PERCENTILES),
        latency_mean_ms=mean_ms,
        prompt_tokens_per_frame=prompt,
        completion_tokens_per_frame=completion,
        cost_per_frame_usd=calls.cost_usd / n if n else None,
        caption_words=sum(len((f.caption or "").split()) for f in done) / n if n else None,
        cost_usd=calls.cost_usd,
        frames_per_min=limit,
    )


def _agreement(names: list[str], frames: list[CaptionRow]) -> list[Agreement]:
    """Mean pairwise Jaccard over the windows both providers of a pair captioned."""
    by_window: dict[int | None, dict[str, set[str]]] = defaultdict(dict)
    for f in frames:
        if f.state == FrameState.done.value and f.caption is not None:
            by_window[f.full_index][f.provider] = words(f.caption)
    pairs = []
    for a, b in itertools.combinations(names, 2):
        scores = [jaccard(w[a], w[b]) for w in by_window.values() if a in w and b in w]
        pairs.append(Agreement(a, b, len(scores), sum(scores) / len(scores) if scores else None))
    return pairs


def _require_pilot(job: Job | None, job_id: str) -> Job:
    if job is None:
        raise UserError(f"job {job_id}: no such job in the database")
    if job.kind != JobKind.pilot.value:
        raise UserError(
            f"job {job_id} is a full job, not a pilot (start one with `labeller run REC --pilot N`)"
        )
    return job


def pilot_report(engine: Engine, job_id: str) -> PilotReport:
    """The figures of pilot `job_id` as its rows stand now (finished or not).

    Raises UserError for an unknown job or one that is not a pilot.
    """
    job = _require_pilot(get_job(engine, job_id), job_id)
    spec = JobSpec.model_validate_json(job.spec)
    frames = read_captions(engine, job_id)
    calls = summarise(engine, job).providers
    latencies = ok_latencies(engine, job_id)
    total_weight = sum(p.weight for p in spec.providers)
    frames_of: dict[str, list[CaptionRow]] = defaultdict(list)
    for f in frames:
        frames_of[f.provider].append(f)
    names = [p.name for p in spec.providers]
    return PilotReport(
        job_id=job.id,
        state=job.state,
        simulated=job.simulated,
        sample=len({f.full_index for f in frames}),
        full_frames=job.full_frames or 0,
        full_skipped=job.full_skipped or 0,
        providers=[
            _provider(
                p,
                p.weight / total_weight,
                frames_of[p.name],
                calls.get(p.name, ProviderStats()),
                latencies.get(p.name, ()),
            )
            for p in spec.providers
        ],
        agreement=_agreement(names, frames),
    )

"""The caption cache's storage: frame fingerprints, lookups, and completing a frame from a hit.

Two lookups, both over done frames only:

- `find_exact`: a byte-identical image (same `image_hash`) captioned by the same model, in any
  job whose `prompt_hash` is the same. Served by the index on `image_hash`. `prompt_hash` names
  a job's prompt template; when a template's fields make the text sent differ from it, the
  pipeline folds that text into `image_hash` (`JobContext.cache_key`), so a hit also needs the
  same words, not just the same template.
- `find_near`: a frame of the same job whose 64-bit perceptual hash is within `max_bits` bits.
  The hash is stored whole (`phash`) and as four 16-bit bands (`phash_b0` = bits 0-15, ...,
  `phash_b3` = bits 48-63), each indexed with `job_id`. Pigeonhole: hashes differing in at most
  3 bits leave at least one band untouched, so for `max_bits` < 4 every match shares a band
  exactly and is among the candidates (unless more than `NEAR_CANDIDATES` distinct hashes of
  the job share a band with the query). With `max_bits` >= 4 a match whose differing bits hit
  all four bands is missed: the lookup stays exact, its recall drops.

A cached frame is written like a captioned one, at no cost, with provider "cache" and
`cached_from_job`/`cached_from_frame` naming the frame whose caption it copies (the original
when the source was itself a copy). Copies are valid exact sources (their image is the one the
caption was written for), originals preferred. `find_near` compares originals only: a copy's
hash is its own, not its caption's frame's, so chaining through copies would let one caption
drift along a slow motion (consecutive 50 ms frames of the sample are often <= 3 bits apart),
while an original bounds every reuse to `max_bits` from the frame actually captioned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, Engine, case, func, or_, select, update

from labeller.store._errors import translated
from labeller.store._records import HELD, ClaimedFrame, changed, held
from labeller.store.models import Frame, FrameState, Job

__all__ = [
    "CACHE_PROVIDER",
    "NEAR_CANDIDATES",
    "CacheWrites",
    "CachedCaption",
    "find_exact",
    "find_near",
    "phash_bands",
]

#: `Frame.provider` of a frame completed from the cache.
CACHE_PROVIDER: Final = "cache"
#: Distinct perceptual hashes `find_near` compares in Python, at most, per lookup.
NEAR_CANDIDATES: Final = 200
#: Frames of the best hash whose thumbnails `find_near` offers for confirmation, at most.
CONFIRM_CANDIDATES: Final = 20
_MASK64: Final = (1 << 64) - 1
_BANDS: Final = (Frame.phash_b0, Frame.phash_b1, Frame.phash_b2, Frame.phash_b3)


@dataclass(frozen=True)
class CachedCaption:
    """A caption to reuse, and the frame it was first written for (job id, index)."""

    job_id: str
    frame_index: int
    caption: str
    #: The provider that wrote the caption; "cache" when only a copy of it matched.
    provider: str
    model: str


def phash_bands(phash: int) -> tuple[int, int, int, int]:
    """The four 16-bit quarters (0..65535) of a 64-bit hash, low bits first; sign ignored."""
    unsigned = phash & _MASK64
    b0, b1, b2, b3 = ((unsigned >> (16 * band)) & 0xFFFF for band in range(4))
    return b0, b1, b2, b3


def _hamming(a: int, b: int) -> int:
    """Bits in which two 64-bit hashes differ (`labeller.frames.hamming`, a layer above)."""
    return ((a ^ b) & _MASK64).bit_count()


def _source_columns() -> tuple[Any, ...]:
    """Provenance always points at the original caption, even through a copy of a copy."""
    return (
        func.coalesce(Frame.cached_from_job, Frame.job_id),
        func.coalesce(Frame.cached_from_frame, Frame.index),
        Frame.caption,
        Frame.provider,
        Frame.model,
    )


def _originals_first() -> tuple[Any, ...]:
    return (Frame.cached_from_job.is_(None).desc(), Frame.job_id, Frame.index)


def _cached(row: Any) -> CachedCaption:
    job_id, index, caption, provider, model = row
    return CachedCaption(str(job_id), int(index), str(caption), str(provider), str(model))


def find_exact(
    engine: Engine, image_hash: str, prompt_hash: str, model: str
) -> CachedCaption | None:
    """A done frame of any job with this image, prompt and model; originals before copies."""
    with translated("looking up the caption cache"), engine.connect() as conn:
        row = conn.execute(
            select(*_source_columns())
            .join(Job, Job.id == Frame.job_id)
            .where(
                Frame.image_hash == image_hash,
                Frame.state == FrameState.done.value,
                Frame.model == model,
                Frame.caption.is_not(None),
                Job.prompt_hash == prompt_hash,
            )
            .order_by(*_originals_first())
            .limit(1)
        ).one_or_none()
    return None if row is None else _cached(row)


def find_near(
    engine: Engine,
    job_id: str,
    phash: int,
    max_bits: int,
    accept: Callable[[bytes | None], bool] = lambda _thumb: True,
) -> CachedCaption | None:
    """The captioned (not copied) frame of `job_id` closest to `phash`, within `max_bits`,
    whose thumbnail `accept` confirms.

    Candidates share a band with `phash` (see the module docstring for what that guarantees);
    they are grouped by hash, so a thousand identical blank frames cost one candidate, and
    those sharing more bands come first. Equally close hashes: the one first seen in the job
    (lowest index) wins. Of the frames with the best hash, the first `CONFIRM_CANDIDATES` are
    offered to `accept` in index order.
    """
    if max_bits < 0:
        return None
    matches = [column == value for column, value in zip(_BANDS, phash_bands(phash), strict=True)]
    first, *others = (case((match, 1), else_=0) for match in matches)
    shared: ColumnElement[int] = first
    for match in others:
        shared = shared + match
    done = (
        Frame.job_id == job_id,
        Frame.state == FrameState.done.value,
        Frame.caption.is_not(None),
        Frame.cached_from_job.is_(None),
    )
    with translated("looking up the caption cache"), engine.connect() as conn:
        candidates = conn.execute(
            select(Frame.phash, func.min(Frame.index))
            .where(*done, Frame.phash.is_not(None), or_(*matches))
            .group_by(Frame.phash, *_BANDS)
            .order_by(shared.desc(), Frame.phash)
            .limit(NEAR_CANDIDATES)
        ).all()
        if not candidates:
            return None
        distance, _, best = min(
            (_hamming(h, phash), first_index, h)
            for h, first_index in candidates
            if h is not None and first_index is not None
        )
        if distance > max_bits:
            return None
        rows = conn.execute(
            select(*_source_columns(), Frame.thumb)
            .where(*done, Frame.phash == best)
            .order_by(Frame.index)
            .limit(CONFIRM_CANDIDATES)
        ).all()
    for row in rows:
        if accept(row[-1]):
            return _cached(row[:-1])
    return None


class CacheWrites:
    """Cache writes of `Store`: each is conditional on the worker still holding the lease."""

    engine: Engine
    clock: Callable[[], float]

    def record_image(
        self,
        frame: ClaimedFrame,
        worker: str,
        image_hash: str | None,
        phash: int | None,
        thumb: bytes | None = None,
    ) -> bool:
        """Store the frame's image digest, perceptual hash and thumbnail; False if the lease
        was lost."""
        bands: tuple[int | None, ...] = (None,) * 4 if phash is None else phash_bands(phash)
        with translated("recording a frame's hashes"), self.engine.begin() as session:
            return changed(
                session,
                update(Frame)
                .where(*HELD)
                .values(
                    image_hash=image_hash,
                    phash=phash,
                    thumb=thumb,
                    **{column.key: value for column, value in zip(_BANDS, bands, strict=True)},
                    updated_at=self.clock(),
                ),
                held(frame, worker),
            )

    def complete_from_cache(self, frame: ClaimedFrame, worker: str, source: CachedCaption) -> bool:
        """Finish the frame with `source`'s caption at no cost; False if the lease was lost.

        No provider call was made, so the claim's attempt is given back.
        """
        now = self.clock()
        with translated("saving a cached caption"), self.engine.begin() as session:
            return changed(
                session,
                update(Frame)
                .where(*HELD)
                .values(
                    state=FrameState.done.value,
                    provider=CACHE_PROVIDER,
                    model=source.model,
                    caption=source.caption,
                    prompt_tokens=0,
                    completion_tokens=0,
                    cost_usd=0.0,
                    error=None,
                    attempts=Frame.attempts - 1,
                    cached_from_job=source.job_id,
                    cached_from_frame=source.frame_index,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                    finished_at=now,
                ),
                held(frame, worker),
            )

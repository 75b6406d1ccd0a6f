"""The caption cache in SQL: fingerprints under the lease, exact and near lookups, cached writes."""

from __future__ import annotations

from sqlalchemy import Engine

from labeller.store import (
    CACHE_PROVIDER,
    CachedCaption,
    FrameOutcome,
    Store,
    find_exact,
    find_near,
    phash_bands,
)
from labeller.store.cache import NEAR_CANDIDATES
from tests.support import T0, FakeClock
from tests.unit.store.store_support import (
    JOB,
    LEASE_S,
    MODEL,
    PROMPT,
    claimed,
    done,
    new_job,
    row,
)

OTHER = "job0000000002"
IMAGE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
#: A hash with bits in every band and the sign bit set.
BASE = -0x7A5C_1234_0F0F_8001


def flip(value: int, *bits: int) -> int:
    """`value` with the given bit positions (0 = lowest) inverted, kept in the signed range."""
    for bit in bits:
        value ^= 1 << bit
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


def done_pending(index: int) -> dict[str, object]:
    """A pending frame among done ones (`new_job` takes a mix)."""
    return {**done(index), "state": "pending", "caption": None, "model": None}


# --- fingerprints ------------------------------------------------------------------------------


def test_phash_bands_are_the_four_quarters_low_first() -> None:
    assert phash_bands(0x0123_4567_89AB_CDEF) == (0xCDEF, 0x89AB, 0x4567, 0x0123)
    assert phash_bands(-1) == (0xFFFF,) * 4
    assert phash_bands(-(2**63)) == (0, 0, 0, 0x8000)


def test_record_image_writes_hashes_only_for_the_lease_holder(store: Store, engine: Engine) -> None:
    new_job(store, 2)
    frame = claimed(store, 0)

    assert store.record_image(frame, "w2", IMAGE, BASE) is False
    assert row(engine, 0)["image_hash"] is None
    assert store.record_image(frame, "w1", IMAGE, BASE) is True

    stored = row(engine, 0)
    assert (stored["image_hash"], stored["phash"]) == (IMAGE, BASE)
    bands = tuple(stored[f"phash_b{band}"] for band in range(4))
    assert bands == phash_bands(BASE)
    assert (stored["state"], stored["lease_owner"]) == ("running", "w1")


def test_record_image_after_the_lease_moved_on_changes_nothing(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, 1)
    stale = claimed(store, 0, "w1")
    clock.advance(LEASE_S + 1)
    fresh = claimed(store, 0, "w2")

    assert store.record_image(stale, "w1", IMAGE, BASE) is False
    assert store.record_image(fresh, "w2", None, 7) is True
    stored = row(engine, 0)
    assert (stored["image_hash"], stored["phash"], stored["phash_b0"], stored["phash_b3"]) == (
        None,
        7,
        7,
        0,
    )


# --- exact lookups -----------------------------------------------------------------------------


def test_find_exact_needs_the_same_image_prompt_and_model(store: Store, engine: Engine) -> None:
    new_job(store, [done(0, image_hash=IMAGE, caption="A car turns."), done(1)])

    hit = find_exact(engine, IMAGE, PROMPT, MODEL)

    assert hit == CachedCaption(JOB, 0, "A car turns.", "openai", MODEL)
    assert find_exact(engine, IMAGE, "another prompt hash", MODEL) is None
    assert find_exact(engine, IMAGE, PROMPT, "claude-3-5-haiku") is None
    assert find_exact(engine, "f" * 32, PROMPT, MODEL) is None


def test_find_exact_spans_jobs_but_not_unfinished_frames(store: Store, engine: Engine) -> None:
    new_job(store, [done(0, image_hash=IMAGE, state="failed"), done(1, image_hash=IMAGE)])
    new_job(store, [done(4, image_hash=IMAGE, caption="from the other job")], job_id=OTHER)
    new_job(store, [done(0, image_hash=IMAGE)], job_id="job-no-prompt", prompt_hash=None)

    hit = find_exact(engine, IMAGE, PROMPT, MODEL)

    assert hit is not None and (hit.job_id, hit.frame_index) == (JOB, 1)
    store.reopen(JOB, [1], reset_attempts=True)
    assert find_exact(engine, IMAGE, PROMPT, MODEL) == CachedCaption(
        OTHER, 4, "from the other job", "openai", MODEL
    )


def test_find_exact_prefers_the_original_and_a_copy_points_at_it(
    store: Store, engine: Engine
) -> None:
    new_job(store, [done(3, image_hash=IMAGE, caption="original")])
    copy = done(0, image_hash=IMAGE, caption="original", provider=CACHE_PROVIDER)
    new_job(store, [{**copy, "cached_from_job": JOB, "cached_from_frame": 3}], job_id=OTHER)

    assert find_exact(engine, IMAGE, PROMPT, MODEL) == CachedCaption(
        JOB, 3, "original", "openai", MODEL
    )
    store.reopen(JOB, [3], reset_attempts=True)  # the original is being captioned again
    assert find_exact(engine, IMAGE, PROMPT, MODEL) == CachedCaption(
        JOB, 3, "original", CACHE_PROVIDER, MODEL
    )


# --- near lookups ------------------------------------------------------------------------------


def test_find_near_within_and_over_the_threshold(store: Store, engine: Engine) -> None:
    new_job(
        store, [done(0, phash=BASE, caption="parked car"), done(1, phash=flip(BASE, *range(20)))]
    )

    for query, max_bits in ((BASE, 0), (flip(BASE, 5), 1), (flip(BASE, 1, 17, 33), 3)):
        assert find_near(engine, JOB, query, max_bits) == CachedCaption(
            JOB, 0, "parked car", "openai", MODEL
        )
    assert find_near(engine, JOB, flip(BASE, 1, 17, 33), 2) is None
    assert find_near(engine, JOB, flip(BASE, 1, 2, 3, 4), 3) is None
    assert find_near(engine, JOB, BASE, -1) is None


def test_find_near_ignores_other_jobs_and_unfinished_frames(store: Store, engine: Engine) -> None:
    new_job(store, [done(0, phash=flip(BASE, 40, 41, 42), state="failed"), done(1)])
    new_job(store, [done(0, phash=BASE)], job_id=OTHER)

    assert find_near(engine, JOB, BASE, 3) is None
    assert find_near(engine, OTHER, BASE, 3) is not None
    assert find_near(engine, "job-without-frames", BASE, 3) is None


def test_find_near_picks_the_closest_then_the_earliest(store: Store, engine: Engine) -> None:
    new_job(
        store,
        [
            done(0, phash=flip(BASE, 1, 2, 3)),
            done(1, phash=flip(BASE, 60)),
            done(2, phash=flip(BASE, 9, 10)),
            done(3, phash=flip(BASE, 30)),
            done(4, phash=flip(BASE, 60)),
        ],
    )

    hit = find_near(engine, JOB, BASE, 3)

    assert hit is not None and hit.frame_index == 1


def test_bits_in_three_bands_still_share_the_fourth(store: Store, engine: Engine) -> None:
    new_job(store, [done(0, phash=flip(BASE, 3, 20, 63))])

    assert find_near(engine, JOB, BASE, 3) is not None


def test_four_bits_across_all_four_bands_are_missed_as_documented(
    store: Store, engine: Engine
) -> None:
    new_job(store, [done(0, phash=flip(BASE, 3, 20, 40, 63)), done(1, phash=flip(BASE, 3, 4))])

    hit = find_near(engine, JOB, BASE, 4)

    assert hit is not None and hit.frame_index == 1  # frame 0 is 4 bits away but shares no band


#: Bands (low first) 0x0000, 0xAAAA, 0x5555, 0x7FFF: sorts after every small hash.
QUERY = 0x7FFF_5555_AAAA_0000


def test_frames_sharing_more_bands_are_compared_first(store: Store, engine: Engine) -> None:
    # More distinct hashes than the candidate limit share one band (b0 = 0) with the query and
    # sort before it; the true match, 2 bits away, shares three bands.
    far = [done(i, phash=(i + 1) << 16) for i in range(NEAR_CANDIDATES + 20)]
    match = done(10_000, phash=flip(QUERY, 20, 21), caption="the match")
    new_job(store, [*far, match])

    hit = find_near(engine, JOB, QUERY, 3)

    assert hit is not None and (hit.frame_index, hit.caption) == (10_000, "the match")


def test_many_identical_blank_frames_count_as_one_candidate(store: Store, engine: Engine) -> None:
    # Blank frames and the match (3 bits away, one per band b1..b3) both share only b0.
    blank = [done(i, phash=0) for i in range(NEAR_CANDIDATES + 100)]
    match = done(10_000, phash=flip(QUERY, 17, 33, 49), caption="the match")
    new_job(store, [*blank, match])

    hit = find_near(engine, JOB, QUERY, 3)

    assert hit is not None and hit.frame_index == 10_000
    blank_hit = find_near(engine, JOB, 0, 0)
    assert blank_hit is not None and blank_hit.frame_index == 0


# --- completing from the cache -----------------------------------------------------------------


def test_complete_from_cache_copies_for_free_under_the_lease(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, [done(0, phash=BASE, caption="parked car"), *map(done_pending, (1, 2))])
    frame = claimed(store, 1)
    store.record_image(frame, "w1", IMAGE, flip(BASE, 7))
    source = find_near(engine, JOB, flip(BASE, 7), 3)
    assert source is not None
    clock.advance(1.5)

    assert store.complete_from_cache(frame, "w2", source) is False
    assert store.complete_from_cache(frame, "w1", source) is True
    assert store.complete_from_cache(frame, "w1", source) is False

    stored = row(engine, 1)
    assert (stored["state"], stored["caption"], stored["provider"], stored["model"]) == (
        "done",
        "parked car",
        CACHE_PROVIDER,
        MODEL,
    )
    assert (stored["prompt_tokens"], stored["completion_tokens"], stored["cost_usd"]) == (0, 0, 0)
    assert (stored["cached_from_job"], stored["cached_from_frame"]) == (JOB, 0)
    assert (stored["attempts"], stored["lease_owner"], stored["finished_at"]) == (0, None, T0 + 1.5)
    assert stored["phash"] == flip(BASE, 7)


def test_a_stale_holder_cannot_complete_from_cache(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, [done(0, caption="cached"), done_pending(1)])
    stale = claimed(store, 1, "w1")
    clock.advance(LEASE_S + 1)
    fresh = claimed(store, 1, "w2")
    source = CachedCaption(JOB, 0, "cached", "openai", MODEL)

    assert store.complete_from_cache(stale, "w1", source) is False
    assert store.complete(fresh, "w2", FrameOutcome("openai", MODEL, "paid", 10, 2, 0.001)) is True
    assert store.complete_from_cache(fresh, "w2", source) is False
    assert (row(engine, 1)["caption"], row(engine, 1)["cached_from_job"]) == ("paid", None)


def test_a_frame_recaptioned_after_a_cache_hit_forgets_its_source(
    store: Store, engine: Engine
) -> None:
    new_job(store, [done(0, caption="cached"), done_pending(1)])
    source = CachedCaption(JOB, 0, "cached", "openai", MODEL)
    store.complete_from_cache(claimed(store, 1), "w1", source)
    store.reopen(JOB, [1], reset_attempts=True)

    outcome = FrameOutcome("gemini", "gemini-2.0-flash", "fresh", 300, 12, 0.002)
    assert store.complete(claimed(store, 1), "w1", outcome) is True

    stored = row(engine, 1)
    assert (stored["provider"], stored["caption"], stored["cost_usd"]) == ("gemini", "fresh", 0.002)
    assert (stored["cached_from_job"], stored["cached_from_frame"]) == (None, None)


def test_near_lookups_skip_copies_so_captions_cannot_drift(store: Store, engine: Engine) -> None:
    new_job(store, [done(0, phash=BASE, caption="original"), done_pending(1), done_pending(2)])
    frame = claimed(store, 1)
    store.record_image(frame, "w1", None, flip(BASE, 1, 2, 3))
    source = find_near(engine, JOB, flip(BASE, 1, 2, 3), 3)
    assert source == CachedCaption(JOB, 0, "original", "openai", MODEL)
    assert store.complete_from_cache(frame, "w1", source) is True

    # Frame 2 is 2 bits from the copy but 5 from the frame the caption describes.
    assert find_near(engine, JOB, flip(BASE, 1, 2, 3, 4, 5), 3) is None
    assert find_near(engine, JOB, flip(BASE, 1, 2, 3), 0) is None

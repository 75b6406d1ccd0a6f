"""The pure parts of a pilot: where its sample falls, and how captions are compared."""

from __future__ import annotations

import itertools

import pytest

from labeller.config import ProviderSettings
from labeller.jobs import percentiles, spread
from labeller.jobs.estimate import frames_per_min
from labeller.jobs.pilot import jaccard, words


@pytest.mark.parametrize(("population", "sample"), [(40, 6), (1000, 7), (10, 10), (3, 1)])
def test_spread_picks_distinct_evenly_spaced_positions(population: int, sample: int) -> None:
    picked = spread(population, sample)

    assert len(picked) == sample and len(set(picked)) == sample
    assert all(0 <= p < population for p in picked)
    step = population / sample
    gaps = [b - a for a, b in itertools.pairwise(picked)]
    assert all(int(step) <= g <= int(step) + 1 for g in gaps)
    assert picked[0] < step and picked[-1] >= population - step  # both ends are covered


def test_spread_takes_the_middle_of_each_part_and_everything_when_asked_for_more() -> None:
    assert spread(100, 5) == [10, 30, 50, 70, 90]
    assert spread(3, 1) == [1]
    assert spread(5, 6) == [0, 1, 2, 3, 4]
    assert spread(0, 3) == []


def test_percentiles_interpolate_linearly_and_are_empty_without_values() -> None:
    assert percentiles([10.0, 20.0, 30.0, 40.0, 50.0], (0, 50, 90, 100)) == pytest.approx(
        {0: 10.0, 50: 30.0, 90: 46.0, 100: 50.0}
    )
    assert percentiles([], (50,)) == {}


def test_words_and_jaccard() -> None:
    assert words("A car, the CAR's lights; 2 cars.") == {"a", "car", "the", "car's", "lights", "2",
                                                          "cars"}  # fmt: skip
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert jaccard(set(), set()) == 1.0
    assert jaccard({"a"}, set()) == 0.0


def test_max_in_flight_binds_only_when_latency_is_known() -> None:
    provider = ProviderSettings(name="p", model="m", api_key_env=None, rpm=600, max_in_flight=2)

    assert frames_per_min(provider, 100) == 600
    assert frames_per_min(provider, 100, latency_s=0.5) == 240  # 2 calls per 0.5 s
    assert frames_per_min(provider, 100, latency_s=0.1) == 600

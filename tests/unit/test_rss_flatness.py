"""The peers benchmark's memory verdict on synthetic RSS series: a run that swings chunk
after chunk around a steady level is flat even when its peak tops the 1x median by more
than 15% (the old measure); a run that climbs, or sits above the 1x runs from the start,
is not."""

from __future__ import annotations

import random

import pytest

from benchmarks.rss_flatness import FLAT_LIMIT, Flatness, slope_per_row, span_peaks

MiB = 1024 * 1024
STEP = 0.02  # the benchmark's sampling interval, seconds
CHUNK_SECONDS = 0.2
SMALL_SECONDS = 1.6  # a 1x run: 8 chunk swings
SCALE = 10


def swings(seconds: float, rng: random.Random, climb_mib: float = 0.0) -> list[tuple[float, int]]:
    """RSS sampled every STEP: each chunk rises from 600 MiB to a peak between 630 and
    770 MiB and falls back, plus `climb_mib` gained evenly over the run."""
    samples = []
    chunks = round(seconds / CHUNK_SECONDS)
    steps = round(CHUNK_SECONDS / STEP)
    for chunk in range(chunks):
        top = rng.uniform(630, 770)
        for step in range(steps):
            at = (chunk * steps + step) * STEP
            level = 600 + (top - 600) * step / (steps - 1) + climb_mib * at / seconds
            samples.append((at, int(level * MiB)))
    return samples


def small_peaks(rng: random.Random) -> list[int]:
    """Peaks of SCALE 1x runs, as many rows in all as the SCALEx run."""
    return [max(rss for _, rss in swings(SMALL_SECONDS, rng)) for _ in range(SCALE)]


def judge(samples: list[tuple[float, int]], small: list[int]) -> Flatness:
    seconds = SMALL_SECONDS * SCALE
    return Flatness.judge(
        small, max(rss for _, rss in samples), 10_000_000, samples, seconds, SCALE
    )


@pytest.mark.parametrize("seed", range(30))
def test_a_steady_swinging_run_is_flat(seed: int) -> None:
    rng = random.Random(seed)
    flatness = judge(swings(SMALL_SECONDS * SCALE, rng), small_peaks(rng))
    assert flatness.grows is False
    assert abs(flatness.thirds_growth or 1.0) < 0.05
    assert flatness.level_ok and flatness.flat


def windows_of(tops_mib: list[float]) -> list[tuple[float, int]]:
    """A SCALEx run of SCALE windows, window n's highest chunk peaking at tops_mib[n] and
    its other chunks at 650 MiB."""
    samples = []
    steps = round(CHUNK_SECONDS / STEP)
    chunks = round(SMALL_SECONDS / CHUNK_SECONDS)
    for window, top in enumerate(tops_mib):
        for chunk in range(chunks):
            peak = top if chunk == chunks // 2 else 650
            for step in range(steps):
                at = ((window * chunks + chunk) * steps + step) * STEP
                samples.append((at, int((600 + (peak - 600) * step / (steps - 1)) * MiB)))
    return samples


def test_flat_even_where_the_old_measure_fails() -> None:
    """The run that prompted the new verdict (peers text-heavy, 2026-12-05 04:09): its
    window peaks and 1x peaks, in MiB. The 10x peak tops the 1x median by 15.4%, yet the
    run does not climb and its typical window sits 4.4% over the typical 1x run."""
    samples = windows_of([785, 716, 744, 717, 725, 717, 802, 812, 735, 732])
    small = [int(p * MiB) for p in (626, 711, 704, 642, 687, 701, 706, 773, 692, 742)]
    flatness = judge(samples, small)
    assert flatness.old_growth > FLAT_LIMIT
    assert flatness.windows_level_growth == pytest.approx(0.044, abs=0.002)
    assert flatness.grows is False
    assert flatness.flat


@pytest.mark.parametrize("seed", range(30))
def test_a_climbing_run_is_not_flat(seed: int) -> None:
    """+200 MiB over the run (about +27% of its level, far past the goal's 15%)."""
    rng = random.Random(seed)
    flatness = judge(swings(SMALL_SECONDS * SCALE, rng, climb_mib=200), small_peaks(rng))
    assert flatness.grows is True
    assert (flatness.thirds_growth or 0.0) > 0.05
    assert flatness.slope is not None and flatness.slope * 1_000_000 / MiB > 12
    assert not flatness.flat


@pytest.mark.parametrize("seed", range(30))
def test_the_trend_catches_a_climb_the_level_misses(seed: int) -> None:
    """One 1x run that spiked to 850 MiB lifts the level's limit to 977 MiB; a climb of
    160 MiB over the run (about +22%) stays under it and moves the typical window by
    half that, and only the trend within the run tells."""
    rng = random.Random(seed)
    small = [*small_peaks(rng)[1:], 850 * MiB]
    flatness = judge(swings(SMALL_SECONDS * SCALE, rng, climb_mib=160), small)
    assert flatness.level_ok
    assert flatness.grows is True
    assert not flatness.flat


@pytest.mark.parametrize("seed", range(30))
def test_a_slight_climb_within_the_goal_is_flat(seed: int) -> None:
    """+60 MiB over 10x the rows (about +8%): within the 15% the goal allows."""
    rng = random.Random(seed)
    flatness = judge(swings(SMALL_SECONDS * SCALE, rng, climb_mib=60), small_peaks(rng))
    assert 0.0 < (flatness.fitted_rise or 0.0) < FLAT_LIMIT
    assert flatness.flat


def test_a_run_above_the_1x_level_from_the_start_is_not_flat() -> None:
    rng = random.Random(5)
    small = small_peaks(rng)
    shifted = [(at, rss + 200 * MiB) for at, rss in swings(SMALL_SECONDS * SCALE, rng)]
    flatness = judge(shifted, small)
    assert flatness.grows is False
    assert not flatness.level_ok
    assert not flatness.flat


def test_span_peaks_ignore_samples_outside_the_export_and_mark_empty_spans() -> None:
    samples = [(-0.1, 999), (0.0, 5), (0.5, 7), (2.9, 3), (3.0, 4), (3.2, 999)]
    assert span_peaks(samples, 3.0, 3) == [7, None, 4]


def test_slope_of_a_straight_climb() -> None:
    # 10 MiB more per window of 1M rows: 10 MiB per 1M rows.
    peaks = [(700 + 10 * n) * MiB for n in range(10)]
    slope = slope_per_row(peaks, 10_000_000)
    assert slope is not None and slope * 1_000_000 / MiB == pytest.approx(10.0)
    assert slope_per_row([None, 5, None], 3) is None


def test_too_few_samples_is_not_judged_flat() -> None:
    flatness = Flatness.judge([700 * MiB], 700 * MiB, 3_000, [(0.1, 700 * MiB)], 3.0, 3)
    assert flatness.grows is None
    assert not flatness.flat


def test_one_high_1x_run_cannot_loosen_the_level_alone() -> None:
    """Nine 1x runs near 700 MiB and one spike to 900 MiB: a 10x run sitting 150 MiB
    higher throughout stays under the highest 1x peak's limit, but its typical window is
    far above the typical 1x run."""
    rng = random.Random(11)
    small = [*small_peaks(rng)[1:], 900 * MiB]
    shifted = [(at, rss + 150 * MiB) for at, rss in swings(SMALL_SECONDS * SCALE, rng)]
    flatness = judge(shifted, small)
    assert flatness.grows is False
    assert flatness.level_growth <= FLAT_LIMIT
    assert (flatness.windows_level_growth or 0.0) > FLAT_LIMIT
    assert not flatness.level_ok
    assert not flatness.flat

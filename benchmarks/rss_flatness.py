"""Is the daemon's peak RSS flat in the rows? The peers benchmark's memory verdict, from
the peaks of several 1x runs and the RSS sampled through one SCALEx run.

One ratio of two peaks cannot tell: a run's peak is the highest of the swings its chunks
make (RSS rises while a chunk is built and falls when it is handed on), a 1x run makes
about 8 of them and a 10x run about 80, so the 10x peak comes out higher by chance alone,
and one 1x run's peak wanders by ±8% by itself. The verdict therefore asks two questions,
each of like against like:

- **No growth over the run.** The SCALEx run is cut into SCALE windows of equal time,
  each about one 1x run's worth of rows at the run's steady rate. The highest sample of
  its last third may exceed its first third's by at most THIRDS_LIMIT, and the straight
  line fitted through the windows' peaks may rise by at most FLAT_LIMIT (of the windows'
  median) from the first window to the last. Memory held per row climbs; a pipeline
  bounded by its settings only swings.
- **The same level as at 1x.** The SCALEx run's peak may exceed the highest peak of the 1x
  runs by at most FLAT_LIMIT. With as many 1x runs as SCALE, both sides are the highest
  point over the same number of rows, hence of chunk swings; this catches what is sized by
  the whole input at the start, which no trend within the run shows. And, so that one
  high 1x run cannot loosen that limit alone, the median of the windows' peaks may exceed
  the median of the 1x runs' peaks by at most FLAT_LIMIT: typical against typical.

The old measure, the SCALEx peak against the 1x runs' median, is kept beside it so the
history stays comparable.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: Issue 7's goal: 10x rows raise the daemon's peak RSS by at most 15%.
FLAT_LIMIT = 0.15
#: A climb that raised the peak by FLAT_LIMIT over the whole run raises it by two thirds
#: of that between the middles of its first and last thirds.
THIRDS_LIMIT = FLAT_LIMIT * 2 / 3


def span_peaks(
    samples: Sequence[tuple[float, int]], seconds: float, spans: int
) -> list[int | None]:
    """The highest RSS sampled in each of `spans` equal slices of the export's time
    [0, seconds]; None for a slice no sample fell into. Samples outside it (the idle
    daemon before the export, the client's last wait after it) belong to no slice."""
    peaks: list[int | None] = [None] * spans
    for at, rss in samples:
        if not 0.0 <= at <= seconds:
            continue
        index = min(int(at / seconds * spans), spans - 1)
        current = peaks[index]
        peaks[index] = rss if current is None else max(current, rss)
    return peaks


def slope_per_row(peaks: Sequence[int | None], rows: int) -> float | None:
    """Least-squares slope of the window peaks against the rows exported by each window's
    middle (windows of equal time, so of equal rows at a steady rate), in bytes per row;
    None with fewer than two windows sampled."""
    width = rows / len(peaks)
    points = [((n + 0.5) * width, float(p)) for n, p in enumerate(peaks) if p is not None]
    if len(points) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


@dataclass(frozen=True)
class Flatness:
    #: Peak RSS (VmHWM) of every 1x run.
    small_peaks: tuple[int, ...]
    #: Peak RSS (VmHWM) of the SCALEx run, and its rows.
    large_peak: int
    large_rows: int
    #: The highest RSS sampled in each of SCALE equal-time windows of the SCALEx run.
    window_peaks: tuple[int | None, ...]
    #: The same for its first, middle and last third.
    third_peaks: tuple[int | None, ...]

    @classmethod
    def judge(
        cls,
        small_peaks: Sequence[int],
        large_peak: int,
        large_rows: int,
        samples: Sequence[tuple[float, int]],
        seconds: float,
        windows: int,
    ) -> Flatness:
        """`samples`: (seconds since the SCALEx export began, RSS bytes) over that export,
        which took `seconds`; `windows`: SCALE, how many 1x runs' worth of rows it holds."""
        if not small_peaks or windows < 2:
            raise ValueError("needs at least one 1x peak and two windows")
        return cls(
            tuple(small_peaks),
            large_peak,
            large_rows,
            tuple(span_peaks(samples, seconds, windows)),
            tuple(span_peaks(samples, seconds, 3)),
        )

    @property
    def small_median(self) -> float:
        return statistics.median(self.small_peaks)

    @property
    def small_max(self) -> int:
        return max(self.small_peaks)

    @property
    def sampled_windows(self) -> list[int]:
        return [p for p in self.window_peaks if p is not None]

    @property
    def windows_median(self) -> float | None:
        sampled = self.sampled_windows
        return statistics.median(sampled) if sampled else None

    @property
    def old_growth(self) -> float:
        """The SCALEx peak against the 1x runs' median: the measure of earlier reports."""
        return self.large_peak / self.small_median - 1

    @property
    def level_growth(self) -> float:
        """The SCALEx peak against the highest 1x peak."""
        return self.large_peak / self.small_max - 1

    @property
    def thirds_growth(self) -> float | None:
        """The last third's highest sample against the first third's; None if either had
        no sample."""
        first, last = self.third_peaks[0], self.third_peaks[-1]
        if first is None or last is None:
            return None
        return last / first - 1

    @property
    def slope(self) -> float | None:
        """Bytes per row the window peaks climb (least squares)."""
        return slope_per_row(self.window_peaks, self.large_rows)

    @property
    def fitted_rise(self) -> float | None:
        """How far the fitted line climbs from the first window's middle to the last's,
        relative to the windows' median."""
        slope, median = self.slope, self.windows_median
        if slope is None or median is None:
            return None
        windows = len(self.window_peaks)
        return slope * self.large_rows * (windows - 1) / windows / median

    @property
    def grows(self) -> bool | None:
        """Whether RSS climbs over the run; None when too few samples to say."""
        thirds, rise = self.thirds_growth, self.fitted_rise
        if thirds is None or rise is None:
            return None
        return thirds > THIRDS_LIMIT or rise > FLAT_LIMIT

    @property
    def windows_level_growth(self) -> float | None:
        """The windows' median peak against the 1x runs' median; None when unsampled."""
        median = self.windows_median
        return None if median is None else median / self.small_median - 1

    @property
    def level_ok(self) -> bool:
        """Highest against highest, and typical against typical."""
        windows = self.windows_level_growth
        return self.level_growth <= FLAT_LIMIT and windows is not None and windows <= FLAT_LIMIT

    @property
    def flat(self) -> bool:
        """The verdict: no growth over the run and the 1x level; not flat when unjudged."""
        return self.grows is False and self.level_ok

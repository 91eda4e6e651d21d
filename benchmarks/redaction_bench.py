"""Redaction throughput per level, against a per-record Python `re` implementation of
the same rules, and the end-to-end export rate with `moderate` vs `none`.

    python -m benchmarks.redaction_bench [--rows 1000000] [--baseline-rows 20000]

MB are those of the same rows as NDJSON (the export benchmark's yardstick). The Polars
redactor runs as the pipeline runs it (lazy frame, 65,536-row batches) on the dataset
held in memory, so only redaction is timed. The Python baseline applies the same
patterns and checksums record by record with `re`; it is timed on the first
`--baseline-rows` rows and reported as a rate. End to end runs the real pipeline
in-process (parquet source -> jsonl + zstd(3) -> local folder).
"""

from __future__ import annotations

import argparse
import ipaddress
import platform
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.export_bench import dataset
from benchmarks.observer import QuietObserver
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.pipeline.redaction.column_categories import COLUMN_CATEGORIES
from sluice.server.pipeline.redaction.entities import ENTITIES, LEVEL_RANK
from sluice.server.planning.plan import build_plan
from sluice.server.planning.redaction_plan import build_redactor
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    RedactionSpec,
    SourceSpec,
)
from sluice.server.settings import Settings
from sluice.sinks.local import LocalSink

REPO = Path(__file__).resolve().parent.parent
MB = 1_000_000
LEVELS = ("basic", "moderate", "strict")
BATCH_ROWS = 65_536


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def ndjson_bytes(frame: pl.DataFrame) -> int:
    return sum(len(b.write_ndjson()) for b in frame.iter_slices(200_000))


def polars_seconds(frame: pl.DataFrame, level: str) -> float:
    redactor = build_redactor(RedactionSpec(level=level), frame.schema, Settings())
    lazy = redactor.apply(frame.with_row_index("__sluice_row").lazy())
    started = time.perf_counter()
    for _ in lazy.collect_batches(chunk_size=BATCH_ROWS):
        pass
    return time.perf_counter() - started


# -- the per-record Python baseline ------------------------------------------------------


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _iban(value: str) -> bool:
    compact = value.replace(" ", "")
    moved = compact[4:] + compact[:4]
    return 15 <= len(compact) <= 34 and int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return value.count(":") >= 2 and sum(1 for g in value.split(":") if g) >= 2


_PHONE_NOT = re.compile(
    r"^(?:[0-9]{4}[.-][0-9]{1,2}[.-][0-9]{1,2}(?: [0-9]{1,2})?|[0-9]{1,2}[.-][0-9]{1,2}[.-]"
    r"[0-9]{2,4}|[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
    r"|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5}|[0-9]{3}[ -][0-9]{2}[ -][0-9]{4}"
    r"|[0-9]{4}(?: [0-9]{4})+(?: [0-9]{1,3})?)$"
)
_EXT = re.compile(r"(?i)\s?(?:ext\.?|x|extension)\s?[0-9]{1,6}$")


def _phone(value: str) -> bool:
    number = _EXT.sub("", value)
    count = sum(c.isdigit() for c in number)
    return (
        8 <= count <= 15
        and re.search(r"[+()]|[0-9][ .-][0-9]", number) is not None
        and not _PHONE_NOT.match(number)
    )


_DNI = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni(value: str) -> bool:
    compact = value.upper().replace("-", "")
    number = compact[:8].translate(str.maketrans("XYZ", "012"))
    return number.isdigit() and compact[8:9] == _DNI[int(number) % 23]


PY_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "card": lambda v: 13 <= len(d := re.sub(r"\D", "", v)) <= 19 and _luhn(d),
    "iban": _iban,
    "es_dni": _dni,
    "us_ssn": lambda v: v[:3] not in {"000", "666"} and not v.startswith("9"),
    "uk_nino": lambda v: v[:2] not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"},
    "ipv4": lambda v: v.count(".") == 3 and all(int(p) <= 255 for p in v.split(".")),
    "ipv6": _ipv6,
    "phone": _phone,
}


class PythonRedactor:
    """The same level, record by record: column names first, then every pattern over
    every remaining text value, validating each match in Python."""

    def __init__(self, level: str, columns: list[str]) -> None:
        rank = LEVEL_RANK[level]
        self.by_name: dict[str, str] = {}
        for category in COLUMN_CATEGORIES:
            if LEVEL_RANK[category.level] <= rank:
                for column in columns:
                    if any(re.fullmatch(_glob(g), column.lower()) for g in category.globs):
                        self.by_name[column] = category.name
        self.patterns = [
            (e.name, re.compile(e.python_regex), PY_VALIDATORS.get(e.validator))
            for e in ENTITIES
            if LEVEL_RANK[e.level] <= rank and not e.opt_in
        ]

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for column, value in row.items():
            if column in self.by_name:
                out[column] = None if value is None else f"[{self.by_name[column]}]"
            else:
                out[column] = self._value(value)
        return out

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            for name, pattern, validator in self.patterns:
                value = pattern.sub(_replacer(name, validator), value)
            return value
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v) for v in value]
        return value


def _replacer(name: str, validator: Callable[[str], bool] | None) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        value = match.group("sl_value")
        if validator is not None and not validator(value):
            return match.group(0)
        return f"{match.group('sl_lead')}[{name}]{match.group('sl_trail')}"

    return replace


def _glob(glob: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)


def python_seconds(frame: pl.DataFrame, level: str) -> float:
    redactor = PythonRedactor(level, frame.columns)
    started = time.perf_counter()
    for row in frame.iter_rows(named=True):
        redactor.record(row)
    return time.perf_counter() - started


# -- end to end ----------------------------------------------------------------------------


def export_seconds(source: Path, level: str, root: Path) -> tuple[float, int]:
    settings = Settings(
        state_dir=root / "state", allowed_roots=(root,), allowed_source_roots=(source.parent,)
    )
    spec = ExportSpec(
        source=SourceSpec(uri=str(source)),
        destination=DestinationSpec(uri=str(root), dataset=f"bench-{level}"),
        output=OutputSpec(format="jsonl", compression="zstd", level=3),
        redaction=RedactionSpec(level=level),
    )
    export_id = f"{level}-{time.monotonic_ns()}"
    plan = build_plan(spec, settings, export_id, owner="")
    options = PipelineOptions(
        batch_rows=settings.batch_rows,
        queue_depth=settings.pipeline_queue_depth,
        zstd_threads=0,
        content_key=b"k" * 32,
    )
    started = time.perf_counter()
    totals = run_pipeline(
        plan.pipeline, LocalSink(root), ResumePoint(), QuietObserver(), threading.Event(), options
    )
    return time.perf_counter() - started, totals.records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/redaction.md")
    args = parser.parse_args(argv)

    source = dataset(args.rows, "parquet")
    frame = pl.read_parquet(source)
    logical = ndjson_bytes(frame)
    sample = frame.head(args.baseline_rows)
    sample_bytes = ndjson_bytes(sample)
    log(f"{args.rows:,} rows, {logical / MB:,.0f} MB as NDJSON")

    rows = []
    for level in LEVELS:
        polars_s = min(polars_seconds(frame, level) for _ in range(args.repeat))
        python_s = python_seconds(sample, level)
        rows.append((level, polars_s, logical / MB / polars_s, sample_bytes / MB / python_s))
        log(f"{level}: polars {polars_s:.2f}s, python {python_s:.2f}s for {len(sample):,} rows")

    end_to_end = {}
    with tempfile.TemporaryDirectory() as folder:
        for level in ("none", "moderate"):
            best = min(export_seconds(source, level, Path(folder))[0] for _ in range(args.repeat))
            end_to_end[level] = best
            log(f"export {level}: {best:.2f}s")
    cost = end_to_end["moderate"] / end_to_end["none"] - 1
    write_report(args, logical, rows, end_to_end, cost)


def write_report(
    args: argparse.Namespace,
    logical: int,
    rows: list[tuple[str, float, float, float]],
    end_to_end: dict[str, float],
    cost: float,
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Sluice redaction benchmark",
        "",
        f"- date: {now}; machine: {platform.platform()}, python {platform.python_version()}, "
        f"polars {pl.__version__}",
        f"- dataset: {args.rows:,} events (sluice.client.demo_data, seed 7), "
        f"{logical / MB:,.0f} MB as NDJSON; best of {args.repeat}",
        "",
        "| level | Polars seconds | Polars MB/s | Python `re` per record MB/s | speed-up |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {level} | {seconds:.2f} | {rate:,.0f} | {baseline:,.1f} | {rate / baseline:,.0f}x |"
        for level, seconds, rate, baseline in rows
    ]
    lines += [
        "",
        f"Python baseline timed on the first {args.baseline_rows:,} rows (same patterns, "
        "checksums in Python, one record at a time).",
        "",
        "| end to end (parquet -> jsonl+zstd(3), in-process pipeline) | seconds | MB/s |",
        "|---|---|---|",
        *(
            f"| {level} | {seconds:.2f} | {logical / MB / seconds:,.0f} |"
            for level, seconds in end_to_end.items()
        ),
        "",
        f"`moderate` costs {cost:+.0%} of end-to-end time (goal: at most +15%).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

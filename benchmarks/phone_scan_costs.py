"""What the PHONE step's two scans of free text cost, and what other shapes of them
would: the gate (phone_gate.py) over every message, the refine (phone_shapes.py) over
the rows the gate picked, and the alternatives session 29 measured for issue 21.

    python -m benchmarks.phone_scan_costs [--rows 1000000] [--rounds 3]

Each line is one way of scanning the text-heavy dataset's messages, read in the rows
the daemon redacts at once (REDACTION_ROWS): its CPU seconds over all batches
(`time.process_time`, one Polars thread, as in benchmarks.redaction_cpu; the median of
`--rounds` runs) and the rows it keeps. Alternatives that stand in for a scan say
whether they keep the same rows.

Result (2026-12-07 12:38-12:44 UTC, 1M rows, load 26-32, median of three): the gate
0.098 (264,608 rows), the refine on those rows 0.077 (79,561). Every scan of the gate's
rows costs about the same whatever its pattern (anything the regex engine must read
byte by byte 0.069-0.077, the refine's plain numbers led by a digit 0.069 keeping
248,143 rows, against 0.025 for a literal that never occurs), so the refine cannot get
much cheaper by its pattern. The refine over every message 0.188, and the gate on the
rows it keeps 0.024 (the same rows): 0.21 against 0.175. The refine from 40 characters
before the gate's first match 0.045, but `find` for the gate costs 0.112 against 0.098,
the slice 0.039 and the layouts' gates on whole rows 0.048. Prefilters in front of the
gate cost as much as it or more (`contains_any` of the digits 0.132, `count_matches`
0.171), and the gate's alternatives in another order 0.097-0.230.
"""

# The thread setting must be in place before Polars is imported.
from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial

import polars as pl
import pyarrow as pa

from benchmarks.redaction_cpu import REDACTION_ROWS, source
from benchmarks.stage_budget import plan_for, source_batches
from sluice.server.pipeline.redaction import phone_gate, phone_shapes
from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME
from sluice.server.pipeline.redaction.phone_other_forms import OTHER_FORMS_GATE

GATE = ENTITY_BY_NAME["PHONE"].gate
REFINE = phone_shapes.POSSIBLE_PHONE
_CONTROL = r"[\x00-\x02]"
_TEL = "[tT][eE][lL]:"
#: Characters kept before the gate's first match by the windowed refine: a number
#: holding it starts no further back.
_BEFORE_FIRST = 40


def cpu(run: Callable[[], object], rounds: int) -> float:
    spent = []
    for _ in range(rounds):
        started = time.process_time()
        run()
        spent.append(time.process_time() - started)
    return statistics.median(spent)


def each(batches: Sequence[pl.Series], scan: Callable[[pl.Series], pl.Series]) -> pl.Series:
    return pl.concat([scan(batch) for batch in batches])


def holding(pattern: str) -> Callable[[pl.Series], pl.Series]:
    return lambda values: values.str.contains(pattern).fill_null(False)


def gate_orders() -> dict[str, str]:
    """The gate's alternatives in other orders (the same rows: only how the regex
    engine looks for them changes)."""
    signed, dotted_ten, dotted_pairs = phone_gate.SIGNED_OR_DOTTED
    run = phone_gate._PARTED_RUN
    digit_led = [
        run.removeprefix("[0-9]"),
        dotted_ten.replace("[0-9]{3}", "[0-9]{2}", 1),
        dotted_pairs.replace("[0-9]{2}", "[0-9]", 1),
        OTHER_FORMS_GATE.removeprefix("[0-9]"),
    ]
    return {
        "control characters first": "|".join(
            (_CONTROL, signed, dotted_ten, dotted_pairs, run, OTHER_FORMS_GATE)
        ),
        "parted run first": "|".join(
            (run, signed, dotted_ten, dotted_pairs, _CONTROL, OTHER_FORMS_GATE)
        ),
        "other forms first": "|".join(
            (OTHER_FORMS_GATE, signed, dotted_ten, dotted_pairs, run, _CONTROL)
        ),
        "digit-led under one [0-9]": f"{signed}|[0-9](?:{'|'.join(digit_led)})|{_CONTROL}",
    }


def window(gated: pl.Series, first: pl.Series) -> pl.Series:
    """`gated` from `_BEFORE_FIRST` characters before the gate's first match (`first`,
    from `find`; a slice by characters: an estimate of the cost, `find` gives bytes)."""
    return gated.str.slice((first - _BEFORE_FIRST).clip(0))


def whole_row_gates(gated: pl.Series) -> tuple[pl.Series, pl.Series]:
    """What the windowed refine must still read on the whole row: the layouts' gates (a
    length check for characters beyond ASCII, "tel:")."""
    return gated.str.len_bytes() != gated.str.len_chars(), gated.str.contains(_TEL)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.phone_scan_costs")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    path = source("text-heavy", args.rows, 0.5)
    read = source_batches(plan_for(path, "none"), REDACTION_ROWS)
    messages = [batch.get_column("message") for batch in read]
    rounds = args.rounds

    def line(what: str, seconds: float, rows: pl.Series | None = None, same: str = "") -> None:
        kept = f"{int(rows.sum()):>9,}" if rows is not None else " " * 9
        print(f"{seconds:7.3f}  {kept}  {what}{same}")

    gate = each(messages, holding(GATE))
    line("gate over every message", cpu(lambda: each(messages, holding(GATE)), rounds), gate)
    line(
        "gate as `find` over every message",
        cpu(lambda: each(messages, lambda b: b.str.find(GATE)), rounds),
    )
    gated = [
        batch.filter(held) for batch, held in zip(messages, _split(gate, messages), strict=True)
    ]
    refined = each(gated, holding(REFINE))
    line("refine on the gate's rows", cpu(lambda: each(gated, holding(REFINE)), rounds), refined)

    # Refine first, over every message, and the gate on the rows it keeps.
    everywhere = each(messages, holding(REFINE))
    kept = [b.filter(h) for b, h in zip(messages, _split(everywhere, messages), strict=True)]
    both = each(kept, holding(GATE))
    same = f" (same rows as gate then refine: {int(both.sum()) == int(refined.sum())})"
    line(
        "refine over every message",
        cpu(lambda: each(messages, holding(REFINE)), rounds),
        everywhere,
    )
    line(
        "gate on the rows the refine keeps",
        cpu(lambda: each(kept, holding(GATE)), rounds),
        both,
        same,
    )

    firsts = [batch.str.find(GATE) for batch in gated]
    windows = [window(b, f) for b, f in zip(gated, firsts, strict=True)]
    slicing = cpu(lambda: [window(b, f) for b, f in zip(gated, firsts, strict=True)], rounds)
    line("window: the slice from before the gate's first match", slicing)
    line(
        "window: the layouts' gates on whole rows",
        cpu(lambda: [whole_row_gates(b) for b in gated], rounds),
    )
    line("window: the refine on it", cpu(partial(each, windows, holding(REFINE)), rounds))

    signed = "|".join(phone_gate.SIGNED_OR_DOTTED)
    numbers = phone_shapes._POSSIBLE_NUMBER
    digit_led = (
        "(?:{})".format(
            "|".join(
                (
                    phone_shapes._ONE_OR_TWO,
                    phone_shapes._THREE,
                    phone_shapes._FOUR_SPACED,
                    phone_shapes._FOUR_DASHED,
                    phone_shapes._FIVE,
                )
            )
        )
        + phone_shapes._AFTER
    )
    for what, pattern in (
        ("the refine's signed and dotted layouts alone", signed),
        ("the refine's plain numbers alone", numbers),
        ("the plain numbers led by a digit (no lead's class)", digit_led),
        ("a class and 20 digits (never here)", "(?:^|[^0-9A-Za-z])[0-9]{20}[a-z]"),
        ("a literal that never occurs", "qjqj"),
    ):
        scan = holding(pattern)
        line(
            f"on the gate's rows: {what}",
            cpu(partial(each, gated, scan), rounds),
            each(gated, scan),
        )

    # Prefilters in front of the gate: what each costs alone over every message (the
    # gate's own scan skips to a digit, "+", "(" or a control character by itself).
    digits = list("0123456789")
    for what, prefilter in (
        ("contains [0-9]", holding("[0-9]")),
        ("contains_any of the ten digits", lambda b: b.str.contains_any(digits)),
        ("count_matches [0-9]+ >= 2", lambda b: b.str.count_matches("[0-9]+") >= 2),
        ("contains [0-9]{3}", holding("[0-9]{3}")),
    ):
        line(f"prefilter alone: {what}", cpu(partial(each, messages, prefilter), rounds))

    for what, pattern in gate_orders().items():
        scan = holding(pattern)
        found = each(messages, scan)
        same = f" (same rows: {found.equals(gate)})"
        line(f"gate, {what}", cpu(partial(each, messages, scan), rounds), found, same)


def _split(mask: pl.Series, like: Sequence[pl.Series]) -> list[pl.Series]:
    """`mask` cut into pieces as long as the batches `like`."""
    pieces, start = [], 0
    for batch in like:
        pieces.append(mask.slice(start, len(batch)))
        start += len(batch)
    return pieces


if __name__ == "__main__":
    main()

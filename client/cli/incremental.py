"""`sluice export create` options for incremental exports (nightly syncs)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from sluice.client.cli.params import INT64_MAX
from sluice.v1 import export_pb2

_F = TypeVar("_F", bound=Callable[..., Any])
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_INT64_DIGITS = len(str(INT64_MAX))
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType):  # type: ignore[type-arg]
    """90, 90s, 15m, 2h, 7d -> seconds."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value)
        match = _DURATION.fullmatch(text.lower())
        if not match:
            self.fail(f"{value!r} is not a duration like 90s, 15m, 2h or 7d", param, ctx)
        digits = match.group(1).lstrip("0") or "0"
        # Counted before int(): past 4300 digits int() raises ValueError (a traceback).
        seconds = (
            int(digits) * _SECONDS[match.group(2)]
            if len(digits) <= _INT64_DIGITS
            else INT64_MAX + 1
        )
        if seconds > INT64_MAX:
            shown = f"{text[:24]}..." if len(text) > 24 else text
            self.fail(f"{shown!r} is longer than the longest duration, {INT64_MAX}s", param, ctx)
        return seconds


def incremental_options(command: _F) -> _F:
    """Adds --mode, --cursor, --lookback and --key to a click command."""
    command = click.option(
        "--key",
        "key",
        default="",
        metavar="COL[,COL]",
        help="Primary key column(s), unique and exported. Stores a key index; without "
        "--cursor, --mode incremental sends inserted and changed rows plus tombstones for "
        "deleted ones; with --cursor, look-back rows already sent unchanged are skipped.",
    )(command)
    command = click.option(
        "--lookback",
        type=Duration(),
        default=0,
        help="Also re-send rows this far before the watermark (late rows): 90s, 15m, 2h, 7d.",
    )(command)
    command = click.option(
        "--cursor",
        default="",
        metavar="COLUMN",
        help="Column that grows when a row changes (updated_at). With --mode full it "
        "records the watermark the next incremental export starts from.",
    )(command)
    return click.option(
        "--mode",
        type=click.Choice(["full", "incremental"]),
        default="full",
        show_default=True,
        help="incremental: only rows past the dataset's last committed watermark (--cursor), "
        "or only inserted/changed rows and tombstones for deleted ones (--key alone).",
    )(command)


def build_incremental(
    mode: str, cursor: str, lookback: int, key: str
) -> export_pb2.Incremental | None:
    if mode == "full" and not cursor and not key and not lookback:
        return None
    return export_pb2.Incremental(
        mode=mode,
        cursor=cursor,
        lookback_seconds=lookback,
        key=[k.strip() for k in key.split(",") if k.strip()],
    )

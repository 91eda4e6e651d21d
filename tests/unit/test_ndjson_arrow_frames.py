"""An NDJSON read the field check parses (every column, or chosen ones with a struct)
takes pyarrow's parse for the block's frame where the two parsers agree, and Polars'
read elsewhere: the frames (byte for byte), the bad lines skipped and the errors raised
are those of the read without the check (Polars' read of every block), line for line."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from sluice.server.pipeline import reader
from sluice.server.pipeline.bad_rows import BadRowTally, SourceDataError
from sluice.server.pipeline.reader import read_batches
from sluice.server.pipeline.source import read_schema, resolve_source


def _lines(count: int) -> list[bytes]:
    rng = random.Random(7)
    lines = []
    for i in range(count):
        record: dict[str, object] = {
            "id": i,
            "amount": rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 1e-300, 1e308, -0.0, 3]),
            "text": rng.choice(["plain", 'é\n"quoted"\t\\', "😀", "", "\u0000x"]),
            "ok": rng.choice([True, False, None]),
            "user": rng.choice([{"id": i, "tags": ["a", None]}, None, {}, {"tags": []}]),
            "scores": rng.choice([[1, 2], [], None, [None]]),
            "floats": rng.choice([[0.5, -2.25], [], None]),
            "weights": rng.choice([[{"w": 0.5}], [], None, [{"w": -2.25}, {"w": 3.0}]]),
            "nothing": None,
        }
        if rng.random() < 0.3:
            del record["ok"]  # absent: null, as a null value
        lines.append(json.dumps(record, ensure_ascii=rng.random() < 0.5).encode())
    return lines


#: Lines the two parsers part on: pyarrow reads NaN, Infinity, two objects on a line,
#: bytes that are no UTF-8, a line of `null` or `[]` (a row of nulls, not a bad line) and
#: `-0` in a float column (-0.0; Polars: 0.0); Polars fails them or reads them otherwise.
#: A blank line, a nulls-only column valued. A tuple is lines from that one on.
ODD_LINES: dict[int, bytes | tuple[bytes, ...]] = {
    300: b'{"id": 300, "amount": NaN}',
    400: b'{"id": 400, "amount": -Infinity}',
    450: b'{"id": 450, "floats": [1.5, NaN]}',
    460: b'{"id": 460, "user": {"id": 1, "tags": []}, "weights": [{"w": Infinity}]}',
    470: b'{"id": 470, "amount": -0}',
    475: b'{"id": 475, "floats": [0.5, -0]}',
    480: b'{"id": 480, "weights": [{"w": -0}]}',
    500: b'{"id": 500}{"id": 501}',
    510: (b'{"id": 510}{"id": 511}', b""),
    520: b"null",
    530: b"[]",
    540: (b'{"id": 540} null', b""),
    550: b'{"id": 550} null',
    560: b'{"id": 560}\r',
    600: b'{"id": 600, "text": "a\xffb"}',
    700: b"   ",
    800: b'{"id": 800, "nothing": 5}',
    900: b'{"id": 900, "amount": "1.5"}',
}


def _read(path: Path, tmp_path: Path, on_bad_rows: str) -> tuple[pl.DataFrame, int]:
    """Every column of `path`, and the count of bad lines skipped."""
    source = replace(resolve_source(str(path), "", [tmp_path]), on_bad_rows=on_bad_rows)
    schema = read_schema(source)
    columns = [name for name in schema if not name.startswith("__sluice")]
    tally = BadRowTally()
    frames = list(read_batches(source, schema, columns, 256, 0, tally, every_column=True))
    return pl.concat(frames), tally.take_rest()


def _polars_read(path: Path, tmp_path: Path, on_bad_rows: str) -> tuple[pl.DataFrame, int]:
    """The same read without the field check: every block read by Polars, as before it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reader, "field_check", lambda *_: None)
        return _read(path, tmp_path, on_bad_rows)


@pytest.mark.parametrize("odd", [None, *ODD_LINES])
def test_every_column_reads_as_polars_does(tmp_path: Path, odd: int | None) -> None:
    lines = _lines(1_000)
    if odd is not None:
        odd_lines = ODD_LINES[odd]
        odd_lines = (odd_lines,) if isinstance(odd_lines, bytes) else odd_lines
        lines[odd : odd + len(odd_lines)] = odd_lines
    blank = 0 if odd is None else sum(not line.strip() for line in lines[odd : odd + 2])
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    for on_bad_rows in ("skip", "fail"):
        try:
            expected = _polars_read(path, tmp_path, on_bad_rows)
        except SourceDataError as failed:
            with pytest.raises(SourceDataError) as raised:
                _read(path, tmp_path, on_bad_rows)
            assert str(raised.value) == str(failed)
            continue
        got = _read(path, tmp_path, on_bad_rows)
        assert_frame_equal(got[0], expected[0], check_exact=True)
        # Byte for byte: the frame equality holds -0.0 and 0.0 equal, the output does not.
        assert got[0].write_ndjson() == expected[0].write_ndjson()
        assert got[1] == expected[1]
        assert expected[0].height + expected[1] >= 1_000 - blank


def test_a_field_new_in_a_list_of_structs_is_named_by_its_path(tmp_path: Path) -> None:
    lines = [{"id": i, "items": [{"sku": f"s{i}"}]} for i in range(300)]
    lines[250]["items"] = [{"sku": "x"}, {"sku": "y", "qty": 2}]
    path = tmp_path / "items.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(SourceDataError) as raised:
        _read(path, tmp_path, "skip")
    message = str(raised.value)
    assert "items.ndjson: line 251 has a field 'items.qty' " in message, message
    assert """as '"items"."qty":int64'""" in message, message


@pytest.mark.parametrize(
    ("late", "named", "remedy"),
    [
        # A new object in a struct: its first field within, dotted, is what to declare.
        (
            {"user": {"id": 1, "address": {"geo": {"lat": 1.5}}}},
            "user.address",
            """as '"user"."address"."geo"."lat":float64'""",
        ),
        # A new top-level object has no struct column a dotted name could type.
        ({"user": {"id": 1}, "extra": {"a": 1}}, "extra", "spec.source.schema cannot type it"),
    ],
)
def test_the_remedy_named_for_a_new_object(
    tmp_path: Path, late: dict[str, object], named: str, remedy: str
) -> None:
    lines: list[dict[str, object]] = [{"id": i, "user": {"id": i}} for i in range(300)]
    lines[200] = {"id": 200, **late}
    path = tmp_path / "objects.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(SourceDataError) as raised:
        _read(path, tmp_path, "fail")
    message = str(raised.value)
    assert f"line 201 has a field {named!r} " in message and remedy in message, message

"""What `pip install sluice` without extras can do: `sluice export read` passes an
export's own JSONL/CSV through without Polars, and the commands that need an extra
(serve, demo, format conversion) say in one line which one."""

from __future__ import annotations

import io
import sys

import polars as pl
import pytest
from click.testing import CliRunner

from sluice.client._reader import ExportReadError, VerifiedChunk
from sluice.client._record_output import RecordWriter, _csv_layout
from sluice.client.cli.main import cli

_TRICKY = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "text": ['a, "quoted"\nline', "", None, "007"],
        'odd, "name"': ["x\r\ny", "é", '""', "\x0c"],
    }
)


def _csv(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def _chunk(index: int, data: bytes, records: int) -> VerifiedChunk:
    return VerifiedChunk(index, f"part-{index:06d}.csv", records, io.BytesIO(data))


def test_csv_layout_counts_records_and_finds_the_header() -> None:
    data = _csv(_TRICKY)
    records, header_end = _csv_layout(data)
    assert records == _TRICKY.height
    assert data[:header_end] == _csv(_TRICKY.head(0))
    assert _csv_layout(b"") == (0, 0)
    assert _csv_layout(b"a,b\n") == (0, 4)
    assert _csv_layout(b"a,b\n1,2") == (1, 4)


def test_csv_chunks_pass_through_under_one_header() -> None:
    parts = [_TRICKY.head(2), _TRICKY.head(0), _TRICKY.tail(2)]
    sink = io.BytesIO()
    writer = RecordWriter("csv", sink)
    # An empty chunk (no bytes at all) between the others changes nothing.
    writer.write(_chunk(0, b"", 0), "csv")
    for index, part in enumerate(parts, start=1):
        writer.write(_chunk(index, _csv(part), part.height), "csv")
    writer.close()
    assert sink.getvalue() == _csv(_TRICKY)


def test_csv_pass_through_checks_the_record_count() -> None:
    writer = RecordWriter("csv", io.BytesIO())
    with pytest.raises(ExportReadError, match="holds 4 records, the manifest says 5"):
        writer.write(_chunk(0, _csv(_TRICKY), 5), "csv")


def test_jsonl_and_csv_read_as_themselves_without_polars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jsonl = b'{"id":1}\n{"id":2}\n'
    csv = _csv(_TRICKY)
    # None in sys.modules makes `import polars` fail as on an install without it.
    monkeypatch.setitem(sys.modules, "polars", None)
    for fmt, data, records in (("jsonl", jsonl, 2), ("csv", csv, 4)):
        sink = io.BytesIO()
        RecordWriter(fmt, sink).write(_chunk(0, data, records), fmt)
        assert sink.getvalue() == data


def test_conversion_without_polars_names_the_read_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ExportReadError) as caught:
        RecordWriter("jsonl", io.BytesIO()).write(_chunk(0, _csv(_TRICKY), 4), "csv")
    assert str(caught.value) == (
        "reading csv chunks as jsonl needs the read extra (polars is not installed): "
        "pip install 'sluice[read]'"
    )


@pytest.mark.parametrize("command", [["serve"], ["demo"]])
def test_daemon_commands_without_the_server_extra_name_it(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sluice.server.main", None)
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"sluice: error: `sluice {command[0]}` needs the server extra "
        "(sluice.server.main is not installed): pip install 'sluice[server]'"
    ]

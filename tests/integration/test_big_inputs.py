"""Inputs that are valid in shape but big or odd (deep nesting, a line without an end,
a huge CSV field, a compressed file under a plain name): each is refused early, with
the caller's status and in our words, or exported; none takes the daemon's memory."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.client import ExportClient, ExportFailedError, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient]]:
    # A small record cap, so a too-long line is cheap to make.
    daemon = Daemon(
        root=tmp_path_factory.mktemp("big-inputs") / "d", settings={"max_record_bytes": 2 * MiB}
    )
    daemon.start()
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client
    finally:
        daemon.stop(timeout=20)


def _spec(daemon: Daemon, source: Path) -> pb.ExportSpec:
    return ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset=source.stem.replace(".", "_")
    )


def _refused(client: ExportClient, spec: pb.ExportSpec) -> str:
    with pytest.raises(InvalidArgumentError) as refused:
        client.create(spec)
    assert [v.field for v in refused.value.violations] == ["spec.source.uri"]
    return refused.value.message


def _failed(client: ExportClient, spec: pb.ExportSpec) -> pb.Export:
    with pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(spec).id, timeout=120)
    return failed.value.export


def _deep(depth: int) -> object:
    value: object = "v"
    for _ in range(depth):
        value = {"a": value, "b": [1]}
    return value


def test_deeply_nested_records_are_refused_at_planning(world) -> None:  # type: ignore[no-untyped-def]
    # 40 levels: tens of KB here, but reading such rows took the daemon's memory by GBs.
    daemon, client = world
    source = daemon.sources / "deep.ndjson"
    source.write_text("".join(json.dumps({"id": i, "d": _deep(40)}) + "\n" for i in range(10)))
    message = _refused(client, _spec(daemon, source))
    assert "'d'" in message and "nests 41 levels" in message and "16" in message, message
    assert daemon.healthy()


def test_nesting_within_the_limit_is_exported(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    source = daemon.sources / "shallow.ndjson"
    source.write_text("".join(json.dumps({"id": i, "d": _deep(15)}) + "\n" for i in range(10)))
    done = client.wait(client.create(_spec(daemon, source)).id, timeout=120)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED and done.progress.records == 10


def test_a_first_line_without_an_end_is_refused_from_a_bounded_sample(world) -> None:  # type: ignore[no-untyped-def]
    # Concatenated objects, no newline: the schema came from "the first 100 lines", the
    # whole file, at ~5x its size in memory.
    daemon, client = world
    source = daemon.sources / "nonl.ndjson"
    record = b'{"id":1,"name":"abcdefghijklmnopqrstuvwxyz"}'
    source.write_bytes(record * (9 * MiB // len(record)))
    message = _refused(client, _spec(daemon, source))
    assert "nonl.ndjson" in message and "line 1" in message, message
    assert "2 MiB" in message and "max_record_bytes" in message, message


def test_first_lines_too_big_to_infer_from_are_refused_not_cut(world) -> None:  # type: ignore[no-untyped-def]
    # The schema comes from the first 100 lines, all of them or none: three lines of
    # 0.9 MiB pass the 2 MiB cap together, and a column of the third would have been lost.
    daemon, client = world
    source = daemon.sources / "wide_head.ndjson"
    value = "x" * (900 * 1024)
    source.write_text("".join(_line(i, value, i >= 2) for i in range(3)))
    message = _refused(client, _spec(daemon, source))
    assert "wide_head.ndjson" in message and "first 3 lines" in message, message
    assert "2 MiB" in message and "max_record_bytes" in message, message


def test_a_column_first_seen_past_8_mib_is_exported(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    # Polars infers from the first 100 lines: a column that first appears in line 11,
    # after 10 MiB, is as much the source's as one in line 1 (it was dropped silently).
    daemon = daemon_factory("wide")
    daemon.start()
    source = daemon.sources / "late_column.ndjson"
    value = "x" * MiB
    source.write_text("".join(_line(i, value, i >= 10) for i in range(12)))
    with ExportClient(daemon.address) as client:
        done = client.wait(client.create(_spec(daemon, source)).id, timeout=120)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED and done.progress.records == 12
    emails = [json.loads(line).get("email") for line in _exported(daemon, "late_column")]
    assert emails == [None] * 10 + ["a10@example.com", "a11@example.com"]


def test_a_first_line_longer_than_8_mib_is_read_within_the_record_cap(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("long")
    daemon.start()
    source = daemon.sources / "long_first.ndjson"
    source.write_text(_line(0, "y" * (9 * MiB), False) + _line(1, "z", True))
    with ExportClient(daemon.address) as client:
        done = client.wait(client.create(_spec(daemon, source)).id, timeout=120)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED and done.progress.records == 2


def _line(i: int, value: str, email: bool) -> str:
    record: dict[str, object] = {"id": i, "t": value}
    if email:
        record["email"] = f"a{i}@example.com"
    return json.dumps(record) + "\n"


def _exported(daemon: Daemon, dataset: str) -> list[bytes]:
    import zstandard

    parts = sorted((daemon.exports / dataset).rglob("part-*.jsonl.zst"))
    assert parts
    return [
        line
        for part in parts
        for line in zstandard.ZstdDecompressor().stream_reader(part.open("rb")).read().splitlines()
    ]


def test_a_line_longer_than_the_record_cap_fails_naming_file_and_line(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    source = daemon.sources / "longline.ndjson"
    # After the 100 lines the schema is inferred from (within them: refused at planning).
    short = "".join(f'{{"id":{i},"t":"a"}}\n' for i in range(1, 102))
    long_value = "x" * (3 * MiB)
    source.write_text(f'{short}{{"id":102,"t":"{long_value}"}}\n{{"id":103,"t":"c"}}\n')
    export = _failed(client, _spec(daemon, source))
    assert export.error.code == "FAILED_PRECONDITION", export.error
    message = export.error.message
    assert "longline.ndjson" in message and "line 102" in message and "2 MiB" in message, message
    assert "xxxx" not in message


def test_a_line_within_the_record_cap_is_exported(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    source = daemon.sources / "bigline.ndjson"
    value = "y" * (MiB + 1000)
    source.write_text(f'{{"id":1,"t":"a"}}\n{{"id":2,"t":"{value}"}}\n{{"id":3,"t":"c"}}\n')
    done = client.wait(client.create(_spec(daemon, source)).id, timeout=120)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED and done.progress.records == 3


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_a_compressed_file_under_a_plain_name_is_refused_at_planning(world, compress) -> None:  # type: ignore[no-untyped-def]
    import zstandard

    daemon, client = world
    for name in ("packed.csv", "packed.ndjson"):
        text = b"id,v\n1,a\n2,b\n" if name.endswith(".csv") else b'{"id":1}\n{"id":2}\n'
        packed = gzip.compress(text) if compress == "gzip" else zstandard.compress(text)
        source = daemon.sources / f"{compress}-{name}"
        source.write_bytes(packed)
        message = _refused(client, _spec(daemon, source))
        assert source.name in message and f"{compress}-compressed" in message, message


def test_a_csv_field_longer_than_the_parser_block_fails_in_our_words(world) -> None:  # type: ignore[no-untyped-def]
    # Arrow's parser fails a field over two of its 8 MiB blocks ("straddles two block
    # boundaries"), as an unclosed quote does: the file fails, never read on with bigger
    # blocks (which merged the rows after a stray quote into one value).
    daemon, client = world
    source = daemon.sources / "bigfield.csv"
    source.write_text('id,text\n1,"a"\n2,"' + "q" * (17 * MiB) + '"\n3,c\n')
    export = _failed(client, _spec(daemon, source))
    assert export.error.code == "FAILED_PRECONDITION", export.error
    message = export.error.message
    assert "bigfield.csv" in message and "after row 1:" in message, message
    assert "longer than 8 MiB, or an unclosed quote" in message, message
    assert "qqqq" not in message and "ArrowInvalid" not in message


def test_deep_nesting_outside_ndjson_is_read_as_on_main(world) -> None:  # type: ignore[no-untyped-def]
    # The depth limit is NDJSON's (Polars' NDJSON reader is where the memory went):
    # Parquet of 20 levels was read cheaply before it and is still.
    import polars as pl

    daemon, client = world
    source = daemon.sources / "deep20.parquet"
    pl.DataFrame({"id": list(range(10)), "d": [_deep(20) for _ in range(10)]}).write_parquet(source)
    done = client.wait(client.create(_spec(daemon, source)).id, timeout=120)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED and done.progress.records == 10


#: The record cap of the memory test: big enough that holding it shows.
_CAP_MIB = 128


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient]]:
    daemon = Daemon(
        root=tmp_path_factory.mktemp("capped") / "d",
        settings={"max_record_bytes": _CAP_MIB * MiB},
    )
    daemon.start()
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client
    finally:
        daemon.stop(timeout=20)


def _peak_mib(pid: int) -> int:
    """The process's peak resident memory since it was last reset (VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM:")).split()[1]) >> 10


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM back to the current RSS


@pytest.mark.parametrize("where", ["first", "second"])
def test_a_file_without_newlines_is_refused_without_holding_the_record_cap(capped, where) -> None:  # type: ignore[no-untyped-def]
    # Before: the line was carried read by read up to max_record_bytes, so the daemon's
    # peak grew by the cap (a 300 MB file, the default 256 MiB cap: 202 -> 458 MB when
    # planned, -> 748 MB as a glob's second file, counting its rows included). Now it is
    # scanned for its end first.
    daemon, client = capped
    folder = daemon.sources / f"oneline-{where}"
    folder.mkdir()
    big = folder / "b.ndjson"
    with big.open("wb") as out:
        out.write(b'{"id":1,"t":"')
        for _ in range(_CAP_MIB + 16):
            out.write(b"x" * MiB)
        out.write(b'"}')
    if where == "second":  # read by the export's reader, planning has the first file
        (folder / "a.ndjson").write_text("".join(f'{{"id":{i},"t":"a"}}\n' for i in range(200)))
    spec = ExportClient.build_spec(
        source=str(folder / "*.ndjson"), to=str(daemon.exports), dataset=f"oneline_{where}"
    )
    assert daemon.process is not None
    pid = daemon.process.pid
    _reset_peak(pid)
    before = _peak_mib(pid)
    if where == "first":
        message = _refused(client, spec)
    else:
        export = _failed(client, spec)
        assert export.error.code == "FAILED_PRECONDITION", export.error
        message = export.error.message
        assert "line 1 (from byte 0)" in message, message
    assert "b.ndjson" in message and "line 1" in message and f"{_CAP_MIB} MiB" in message
    assert "max_record_bytes" in message and "xxxx" not in message
    grown = _peak_mib(pid) - before
    # Reads of 16 MiB (the reader's block) and 8 MiB (the row count) are held a while,
    # beside the first file's rows and the allocator's arenas: 35 MiB idle, 47 MiB on a
    # CI runner (which a bound of a third failed). Holding the line grows it by the cap.
    assert grown < _CAP_MIB // 2, f"the daemon's peak grew by {grown} MiB"
    assert daemon.healthy()

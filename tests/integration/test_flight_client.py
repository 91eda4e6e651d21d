"""The Python client's side of Arrow Flight against a real daemon: ExportClient.put
(resuming on its own across a daemon crash) and ExportClient.read, and the CLI's
`sluice export put` and `sluice export get-records`."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from sluice.client import BatchSchemaError, ExportClient, SluiceError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration import flight_helpers
from tests.integration.flight_helpers import expected
from tests.integration.helpers import read_export

#: The shared fixture, under the name the tests ask for.
flight_daemon = flight_helpers.flight_daemon
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def spec(daemon: Daemon, **options: object) -> pb.ExportSpec:
    built = ExportClient.build_spec(
        source="",
        to=str(daemon.exports),
        dataset="pushed",
        **options,  # type: ignore[arg-type]
    )
    built.ClearField("source")
    return built


def test_put_a_table_and_read_it_back(flight_daemon: Daemon) -> None:
    table = expected(25_000).to_arrow()
    acks: list[dict[str, object]] = []
    with ExportClient(flight_daemon.address) as client:
        final = client.put(
            spec(flight_daemon, format="parquet", chunk_rows=10_000, passphrase_secret="pp"),
            table,
            "client-table",
            on_ack=acks.append,
        )
        assert final["state"] == "succeeded" and final["committed_records"] == 25_000
        assert [a["committed_records"] for a in acks] == [0, 10_000, 20_000, 25_000, 25_000]
        back = pa.Table.from_batches(list(client.read(str(final["export_id"]))))
        assert back.equals(table)
        second = pa.Table.from_batches(list(client.read(str(final["export_id"]), chunk=1)))
        assert second.equals(table.slice(10_000, 10_000))


def test_put_resumes_on_its_own_after_a_daemon_crash_exactly_once(flight_daemon: Daemon) -> None:
    rows, batch_rows = 60_000, 2_000
    table = expected(rows).to_arrow()
    crashed = threading.Event()
    resumed = threading.Event()

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, rows, batch_rows):
            if start == 40_000:
                crashed.set()
                resumed.wait(60)
            yield table.slice(start, batch_rows).to_batches()[0]

    acks: list[dict[str, object]] = []
    outcome: dict[str, object] = {}

    def run() -> None:
        with ExportClient(flight_daemon.address) as client:
            outcome.update(
                client.put(
                    spec(flight_daemon, chunk_rows=8_000),
                    batches(),
                    "client-crash",
                    attempts=20,
                    on_ack=acks.append,
                )
            )

    putter = threading.Thread(target=run)
    putter.start()
    assert crashed.wait(120)
    flight_daemon.kill()
    flight_daemon.start()
    resumed.set()
    putter.join(240)
    assert outcome.get("state") == "succeeded", acks[-3:]
    records = read_export(str(outcome["manifest_uri"]))
    assert records["id"].to_list() == list(range(rows))
    assert records.equals(expected(rows).select(records.columns))


def test_cli_put_from_stdin_and_get_records(flight_daemon: Daemon, tmp_path: Path) -> None:
    frame = expected(5_000)
    ndjson = tmp_path / "in.ndjson"
    ndjson.write_text(frame.write_ndjson())
    result = run_cli(
        flight_daemon,
        *["export", "put", "--from", str(ndjson), "--to", str(flight_daemon.exports)],
        *["--dataset", "cli", "--chunk-rows", "2000", "--request-id", "cli-1", "--json"],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    final = json.loads(result.stdout)
    assert final["state"] == "succeeded" and final["committed_records"] == 5_000
    got = run_cli(flight_daemon, "export", "get-records", final["export_id"])
    assert got.returncode == 0, got.stderr[-2000:]
    assert pl.read_ndjson(io.BytesIO(got.stdout.encode())).equals(frame)
    arrow = tmp_path / "out.arrows"
    got = run_cli(
        flight_daemon,
        *["export", "get-records", final["export_id"], "--format", "arrow", "-o", str(arrow)],
    )
    assert got.returncode == 0, got.stderr[-2000:]
    assert pl.read_ipc_stream(arrow).equals(frame)


def test_cli_put_of_unreadable_input_is_one_line_and_exports_nothing(
    flight_daemon: Daemon, tmp_path: Path
) -> None:
    """Input `export put` cannot read was a pyarrow traceback (ArrowInvalid, ValueError);
    it is one line naming --from, the file and what is wrong in it (the line, for NDJSON),
    exit 1, and no export is created."""
    bad_line = tmp_path / "bad.ndjson"
    bad_line.write_text('{"a": 1}\n\n{"a": 2}\nnot json\n')  # pyarrow skips the blank line
    changed_type = tmp_path / "types.ndjson"
    changed_type.write_text('{"a": 1}\n{"a": "x"}\n')
    parquet = tmp_path / "t.parquet"
    expected(10).write_parquet(parquet)
    fake_arrow = tmp_path / "fake.arrow"
    fake_arrow.write_bytes(b"ARROW1 but not really")
    empty = tmp_path / "empty.ndjson"
    empty.write_text("")
    # The line was wrong when a record spanned lines (pyarrow reads it as one row) ...
    spanning = tmp_path / "spanning.ndjson"
    spanning.write_text('{"a": 1}\n{"a":\n 2}\n{"a": 3}\nnot json\n')
    # ... and past pyarrow's own 1 MiB parse blocks, whose rows it counts from their start.
    far = tmp_path / "far.ndjson"
    far.write_text(
        "".join(
            "{\n" if n == 40_000 else f'{{"a": {n}, "b": "{"x" * 30}"}}\n' for n in range(1, 50_000)
        )
    )
    cases = {
        spanning: "line 5: ",
        far: "line 40000: ",
        bad_line: "line 4",
        changed_type: "line 2",
        parquet: "Parquet",
        fake_arrow: "Arrow IPC",
        empty: "no records",
    }
    with ExportClient(flight_daemon.address) as client:
        before = {e.id for e in client.list()}
    for path, said in cases.items():
        result = run_cli(
            flight_daemon,
            *["export", "put", "--from", str(path), "--to", str(flight_daemon.exports)],
            *["--dataset", "unreadable"],
        )
        assert result.returncode == 1, (path, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sluice: error: --from: "), result.stderr
        assert str(path) in lines[0] and said in lines[0], lines[0]
    with ExportClient(flight_daemon.address) as client:
        assert {e.id for e in client.list()} == before
    assert not (flight_daemon.exports / "unreadable").exists()


def test_cli_put_whose_input_breaks_after_the_first_block_exports_nothing(
    flight_daemon: Daemon, tmp_path: Path
) -> None:
    """NDJSON that turns unreadable after the first 16 MiB block raised inside grpc's
    request thread: grpc cancelled the call, the client put again (CANCELLED is
    retryable), the spent input ended the stream and the daemon committed the rows
    before the bad line as the whole export, succeeded. Now the put stops at once with
    one line naming --from, the file and the line, and the export is cancelled."""
    rows, bad = 450_000, 440_000  # about 23 MB: the bad line is in the second block
    path = tmp_path / "big.ndjson"
    with path.open("w") as out:
        for number in range(1, rows + 1):
            out.write("not json\n" if number == bad else f'{{"a": {number}, "b": "{"x" * 30}"}}\n')
    with ExportClient(flight_daemon.address) as client:
        before = {e.id for e in client.list()}
    line = _one_line_put_refusal(flight_daemon, path, "partial")
    assert line.startswith(f"sluice: error: --from: {path}: line {bad}: "), line
    with ExportClient(flight_daemon.address) as client:
        (made,) = [e for e in client.list() if e.id not in before]
        final = client.get(made.id)
        deadline = time.monotonic() + 30
        while final.state != pb.EXPORT_STATE_CANCELLED and time.monotonic() < deadline:
            time.sleep(0.2)
            final = client.get(made.id)
    assert final.state == pb.EXPORT_STATE_CANCELLED, final
    assert not list((flight_daemon.exports / "partial").rglob("manifest.json"))


def _one_line_put_refusal(daemon: Daemon, path: Path, dataset: str) -> str:
    """`sluice export put --from PATH` that must fail: its one stderr line."""
    result = run_cli(
        daemon,
        *["export", "put", "--from", str(path), "--to", str(daemon.exports)],
        *["--dataset", dataset, "--chunk-rows", "50000"],
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_put_whose_records_raise_is_that_error_and_a_cancelled_export(
    flight_daemon: Daemon,
) -> None:
    """ExportClient.put of an iterator that raises after some batches: the caller's own
    exception, no retry, and the export cancelled with nothing of it succeeded."""
    table = expected(20_000).to_arrow()

    def batches() -> Iterator[pa.RecordBatch]:
        yield from table.to_batches(max_chunksize=2_000)
        raise ValueError("the records ran dry")

    with ExportClient(flight_daemon.address) as client:
        before = {e.id for e in client.list()}
        with pytest.raises(ValueError, match="the records ran dry"):
            client.put(spec(flight_daemon, chunk_rows=2_000), batches())
        (made,) = [e for e in client.list() if e.id not in before]
        assert client.get(made.id).state == pb.EXPORT_STATE_CANCELLED
    assert not [p for p in flight_daemon.exports.rglob("manifest.json") if made.id in str(p)]


@pytest.mark.parametrize(
    ("later", "said"),
    [
        (
            pa.record_batch({"id": [3, 4], "secret": ["s1", "s2"]}),
            "record batch 1 does not have the put's schema: column 'secret' is not in the "
            "schema (id)",
        ),
        (
            pa.record_batch({"id": pa.array([3, 4], pa.int32())}),
            "record batch 1 does not have the put's schema: column 'id' is int32, not int64",
        ),
        (
            pa.record_batch({"other": [3, 4]}),
            "record batch 1 does not have the put's schema: column 'other' is not in the schema",
        ),
    ],
)
def test_put_of_a_batch_with_another_schema_is_a_value_error_naming_the_column(
    flight_daemon: Daemon, later: pa.RecordBatch, said: str
) -> None:
    """Batches "of one schema" was not checked: a later batch's extra column was sent and
    the daemon dropped it, the put succeeded. Now it is the caller's ValueError before the
    batch is sent, and the export is cancelled. It is a public SluiceError too (it was
    importable only from a private module), so one `except SluiceError` covers a put."""
    first = pa.record_batch({"id": [1, 2]})
    with ExportClient(flight_daemon.address) as client:
        before = {e.id for e in client.list()}
        with pytest.raises(BatchSchemaError) as raised:
            client.put(spec(flight_daemon), iter([first, later]))
        assert isinstance(raised.value, ValueError)
        assert isinstance(raised.value, SluiceError) and raised.value.code == "INVALID_ARGUMENT"
        assert raised.value.message.startswith(said), raised.value.message
        (made,) = [e for e in client.list() if e.id not in before]
        assert client.get(made.id).state == pb.EXPORT_STATE_CANCELLED
    assert not [p for p in flight_daemon.exports.rglob("manifest.json") if made.id in str(p)]


def test_put_of_batches_that_differ_only_in_nullability_and_metadata_reads_back(
    flight_daemon: Daemon,
) -> None:
    """The schema check compared whole schemas: a batch declaring its column not-null
    (or with field metadata) was refused, though the daemon reads both alike."""
    first = pa.record_batch({"x": [1, None]})
    not_null = pa.schema([pa.field("x", pa.int64(), nullable=False)])
    second = pa.RecordBatch.from_pylist([{"x": 3}], schema=not_null)
    tagged = pa.schema([pa.field("x", pa.int64(), metadata={"unit": "m"})])
    third = pa.RecordBatch.from_pylist([{"x": 4}], schema=tagged)
    with ExportClient(flight_daemon.address) as client:
        final = client.put(spec(flight_daemon, format="parquet"), iter([first, second, third]))
    assert final["state"] == "succeeded" and final["committed_records"] == 4
    records = read_export(str(final["manifest_uri"]))
    assert records["x"].to_list() == [1, None, 3, 4]


def test_cli_put_of_ndjson_with_a_field_first_seen_after_the_first_block_is_refused(
    flight_daemon: Daemon, tmp_path: Path
) -> None:
    """The first 16 MiB block sets the schema; a field first seen after it was dropped
    (pyarrow's "infer" ignores fields an explicit schema lacks): exit 0, state succeeded,
    the field gone. Now one line naming the line and the field, and no export succeeds."""
    path = tmp_path / "late.ndjson"
    rows = 160_000  # ~17.6 MB: the last records are in the second block
    with path.open("w") as out:
        for number in range(1, rows + 1):
            out.write(f'{{"a": {number}, "pad": "{"x" * 100}"}}\n')
        out.write('{"a": 0, "pad": "y", "email": "late@example.com"}\n')
    assert path.stat().st_size > 16 * 1024 * 1024
    with ExportClient(flight_daemon.address) as client:
        before = {e.id for e in client.list()}
    line = _one_line_put_refusal(flight_daemon, path, "late")
    assert line.startswith(
        f"sluice: error: --from: {path}: line {rows + 1}: field 'email' is not in the schema"
    ), line
    with ExportClient(flight_daemon.address) as client:
        made = [e for e in client.list() if e.id not in before]
        assert all(client.get(e.id).state != pb.EXPORT_STATE_SUCCEEDED for e in made)
    assert not list((flight_daemon.exports / "late").rglob("manifest.json"))


def test_cli_output_files_appear_whole_or_not_at_all(flight_daemon: Daemon, tmp_path: Path) -> None:
    """`get-records -o FILE` left the records read before a missing chunk in FILE, with
    exit 1, as if complete; and `-o` into a missing folder, or naming a folder, was a
    traceback from both `get-records` and `read` (which also left its temporary file
    beside the folder). Now the file appears only when every chunk was read, and a bad
    -o is one line naming it."""
    with ExportClient(flight_daemon.address) as client:
        final = client.put(spec(flight_daemon, chunk_rows=1_000), expected(3_000).to_arrow())
        export_id = str(final["export_id"])
        folder = Path(client.get(export_id).manifest_uri.removeprefix("file://")).parent
    out = tmp_path / "out"
    out.mkdir()
    for command in (["get-records", export_id], ["read", str(folder)]):
        for target, said in ((out / "missing" / "x.jsonl", "cannot write"), (out, "is a folder")):
            result = run_cli(flight_daemon, "export", *command, "-o", str(target))
            assert result.returncode == 1, (command, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("sluice: error: -o: "), result.stderr
            assert str(target) in lines[0] and said in lines[0], lines[0]
        assert list(out.iterdir()) == [] and not list(tmp_path.glob(".sluice-*"))
    (folder / "part-000001.jsonl.zst").unlink()
    for command in (["get-records", export_id], ["read", str(folder)]):
        result = run_cli(flight_daemon, "export", *command, "-o", str(out / "records.jsonl"))
        assert result.returncode == 1 and "part-000001" in result.stderr, result.stderr
        assert list(out.iterdir()) == [], command


def test_cli_output_to_what_is_no_regular_file_is_written_through(
    flight_daemon: Daemon, tmp_path: Path
) -> None:
    """Since -o wrote a temporary file renamed over the target, `-o` naming a FIFO, a
    shell's `>(process)` /dev/fd/N or a symlink replaced it with a regular file (as root,
    `-o /dev/null` would have replaced /dev/null), and every file was mode 0600. Now what
    exists and is no regular file is written through, a symlink's file is replaced and
    the link kept, and the file's mode is the existing one or 0666 less the umask."""
    with ExportClient(flight_daemon.address) as client:
        final = client.put(spec(flight_daemon, chunk_rows=1_000), expected(3_000).to_arrow())
        export_id = str(final["export_id"])
        folder = Path(client.get(export_id).manifest_uri.removeprefix("file://")).parent
    for command in (["get-records", export_id], ["read", str(folder)]):
        whole = run_cli(flight_daemon, "export", *command, "-o", "-").stdout
        assert whole.count("\n") == 3_000
        out = tmp_path / command[0]
        out.mkdir()
        fifo = out / "fifo"
        os.mkfifo(fifo)
        received = _drained(fifo.read_bytes)
        result = run_cli(flight_daemon, "export", *command, "-o", str(fifo))
        assert result.returncode == 0, result.stderr
        assert stat.S_ISFIFO(fifo.lstat().st_mode) and received() == whole.encode()

        read_end, write_end = os.pipe()
        with os.fdopen(read_end, "rb") as pipe:
            received = _drained(pipe.read)
            try:
                result = run_cli(
                    flight_daemon,
                    "export",
                    *command,
                    "-o",
                    f"/dev/fd/{write_end}",
                    pass_fds=(write_end,),
                )
            finally:
                os.close(write_end)
            assert result.returncode == 0, result.stderr
            assert received() == whole.encode()

        real, link = out / "real.jsonl", out / "link.jsonl"
        real.write_text("old\n")
        real.chmod(0o640)
        link.symlink_to(real)
        result = run_cli(flight_daemon, "export", *command, "-o", str(link), umask=0o077)
        assert result.returncode == 0, result.stderr
        assert link.is_symlink() and os.readlink(link) == str(real)
        assert real.read_text() == whole and stat.S_IMODE(real.stat().st_mode) == 0o640

        fresh = out / "fresh.jsonl"
        result = run_cli(flight_daemon, "export", *command, "-o", str(fresh), umask=0o027)
        assert result.returncode == 0, result.stderr
        assert fresh.read_text() == whole and stat.S_IMODE(fresh.stat().st_mode) == 0o640
        assert sorted(p.name for p in out.iterdir()) == [
            "fifo",
            "fresh.jsonl",
            "link.jsonl",
            "real.jsonl",
        ]


def _drained(read: Callable[[], bytes]) -> Callable[[], bytes]:
    """Reads in a thread what the CLI writes (a FIFO or pipe blocks the writer until
    read); the returned call waits for it, a bounded time."""
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(read()), daemon=True)
    reader.start()

    def wait() -> bytes:
        reader.join(timeout=30)
        return received[0] if received else b"<nothing read>"

    return wait

"""`sluice export put` and `sluice export get-records`: records in and out over Arrow
Flight (DoPut, DoGet) rather than files the daemon reads or writes for you. Both need
the `read` extra (pyarrow, polars)."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from sluice.client._client import ExportClient
from sluice.client._errors import BatchSchemaError, SluiceError
from sluice.client._extras import install_hint
from sluice.client.cli.atomic_output import AtomicOutput
from sluice.client.cli.context import cli_state
from sluice.client.cli.output import CliError, print_json
from sluice.client.cli.params import INT64_MAX, SECRET_NAME, FieldInt

#: NDJSON read per block (cut at a newline), so stdin of any size streams through.
_NDJSON_BLOCK = 16 * 1024 * 1024
_ARROW_FILE_MAGIC = b"ARROW1"
_ARROW_STREAM_MAGIC = b"\xff\xff\xff\xff"
_PARQUET_MAGIC = b"PAR1"
#: pyarrow's JSON errors end with the block's 0-based row: "... in row 2".
_JSON_ROW = re.compile(r"\s*in row (\d+)$")
#: What may come between NDJSON records (JSON's whitespace).
_BLANK = re.compile(r"[ \t\r\n]*")


@click.command("put")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="FILE|-",
    help="Records to export: an Arrow IPC file or stream, or NDJSON ('-': stdin).",
)
@click.option(
    "--to", required=True, metavar="DEST", help="Destination folder or URI (s3://, az://)."
)
@click.option("--dataset", required=True, metavar="NAME", help="Dataset name (folder under DEST).")
@click.option("--format", "fmt", default="", metavar="F", help="parquet|jsonl|csv|json|arrow.")
@click.option("--compression", default="", metavar="C", help="zstd|gzip|zip|none.")
@click.option(
    "--chunk-rows",
    type=FieldInt(min=0, max=INT64_MAX),
    default=None,
    metavar="N",
    help="Records per chunk.",
)
@click.option("--encrypt-to", multiple=True, metavar="AGE1...", help="age recipient; repeatable.")
@click.option(
    "--passphrase-secret",
    type=SECRET_NAME,
    default=None,
    metavar="NAME",
    help="Server secret: age passphrase.",
)
@click.option(
    "--request-id",
    default="",
    metavar="ID",
    help="Idempotency key: the same id resumes a broken put from its committed rows.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the final result as JSON.")
def put_records(
    source: str,
    to: str,
    dataset: str,
    fmt: str,
    compression: str,
    chunk_rows: int | None,
    encrypt_to: tuple[str, ...],
    passphrase_secret: str | None,
    request_id: str,
    as_json: bool,
) -> None:
    """Export records pushed from a file or stdin (Arrow Flight DoPut).

    The export resumes on its own when the stream breaks: rows the daemon committed are
    not sent again.
    """
    spec = ExportClient.build_spec(
        source="",
        to=to,
        dataset=dataset,
        format=fmt,
        compression=compression,
        chunk_rows=chunk_rows,
        encrypt_to=encrypt_to,
        passphrase_secret=passphrase_secret,
    )
    spec.ClearField("source")
    handle = sys.stdin.buffer if source == "-" else _open(source)
    try:
        records = _records(handle, "stdin" if source == "-" else source, source != "-")
        with cli_state().client() as sluice:
            final = sluice.put(spec, records, request_id)
    except ImportError as exc:
        raise CliError(install_hint("`sluice export put`", "read", exc)) from None
    except BatchSchemaError as exc:
        raise CliError(f"--from: {source}: {exc.message}") from None
    except SluiceError:
        raise
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    if as_json:
        print_json(final)
    else:
        click.echo(
            f"export {final['export_id']} {final['state']}: {final['committed_records']} "
            f"records, manifest {final['manifest_uri']}"
        )


@click.command("get-records")
@click.argument("export_id", metavar="ID")
@click.option("--chunk", type=int, default=None, metavar="N", help="Only this chunk.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("jsonl", "arrow")),
    default="jsonl",
    help="jsonl, or an Arrow IPC stream [default: jsonl].",
)
@click.option("--output", "-o", default="-", metavar="FILE|-", help="[default: stdout]")
def get_records(export_id: str, chunk: int | None, fmt: str, output: str) -> None:
    """Stream a succeeded export's records from the daemon (Arrow Flight DoGet).

    The daemon verifies every chunk's sha256 and decrypts passphrase exports with its own
    secret; exports encrypted to age recipients are read with `sluice export read`.
    """
    try:
        import polars as pl
        import pyarrow as pa
    except ImportError as exc:
        raise CliError(install_hint("`sluice export get-records`", "read", exc)) from None
    writer: Any = None
    with AtomicOutput(output) as target, cli_state().client() as sluice:
        for batch in sluice.read(export_id, chunk=chunk):
            if fmt == "arrow":
                writer = writer or pa.ipc.new_stream(target, batch.schema)
                writer.write_batch(batch)
            else:
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                target.write(frame.write_ndjson().encode())
        if writer is not None:
            writer.close()


def _open(path: str) -> IO[bytes]:
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise CliError(f"--from: cannot open {path}: {exc.strerror}") from None


def _records(handle: IO[bytes], name: str, is_path: bool) -> Any:
    """A RecordBatchReader (Arrow IPC) or batch iterator (NDJSON) over `handle` (the file
    `name` when `is_path`, else stdin); CliError naming `name` and what is wrong when it
    is neither."""
    import pyarrow as pa

    # Peeking needs a buffered reader; files and stdin's buffer are one already.
    buffered: Any = handle if hasattr(handle, "peek") else io.BufferedReader(handle)
    head = buffered.peek(8)[:8]
    if head.startswith(_PARQUET_MAGIC):
        raise CliError(
            f"--from: {name} is a Parquet file; `export put` reads an Arrow IPC file or "
            "stream, or NDJSON (a Parquet file the daemon may read: `sluice export create "
            "--source`)"
        )
    try:
        if head.startswith(_ARROW_FILE_MAGIC):
            return _arrow_file_batches(buffered, name, is_path)
        if head.startswith(_ARROW_STREAM_MAGIC):
            return pa.ipc.open_stream(buffered)
    except pa.ArrowInvalid as exc:
        raise CliError(
            f"--from: {name} is not a readable Arrow IPC file or stream: {exc}"
        ) from None
    return _ndjson_batches(buffered, name)


def _arrow_file_batches(handle: Any, name: str, is_path: bool) -> Any:
    """An Arrow IPC file as a RecordBatchReader that reads each batch from the file only
    when the put takes it: memory holds the batches in flight and those the daemon has
    not committed yet, never the file (which may be larger than memory). The file is
    read, not memory-mapped, so pages of batches sent do not stay resident. A pipe has
    no footer to seek to: it is read whole first.

    pyarrow reads the file through its own OSFile, never through the Python file object:
    opening a file whose footer is not Arrow's through a Python file object left one of
    pyarrow's I/O threads waiting for the interpreter, and the process aborted at exit
    ("terminate called without an active exception", SIGABRT, ~2% of runs on a loaded
    machine; 0 in 360 through OSFile). OSFile reads by offset (pread), so the bytes
    peeked from the handle do not matter."""
    import pyarrow as pa

    if is_path:
        source = pa.OSFile(name)
    elif handle.seekable():
        source = pa.OSFile(f"/dev/fd/{handle.fileno()}")
    else:
        source = pa.py_buffer(handle.read())
    reader = pa.ipc.open_file(source)

    def batches() -> Iterator[Any]:
        for index in range(reader.num_record_batches):
            try:
                batch = reader.get_batch(index)
            except (pa.ArrowInvalid, OSError) as exc:
                raise CliError(
                    f"--from: {name} is not a readable Arrow IPC file: batch {index}: {exc}"
                ) from None
            yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _ndjson_batches(handle: IO[bytes], name: str) -> Iterator[Any]:
    """NDJSON in blocks of whole lines; later blocks take the first block's schema."""
    import pyarrow as pa
    import pyarrow.json as pa_json

    schema = None
    carry = b""
    lines_before = 0
    while True:
        data = handle.read(_NDJSON_BLOCK)
        block = carry + data
        if data:
            cut = block.rfind(b"\n") + 1
            block, carry = block[:cut], block[cut:]
        if block.strip():
            # A field the first block did not have is an error, not dropped ("infer"
            # ignores a field an explicit schema lacks).
            options = (
                pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
                if schema
                else None
            )
            try:
                table = pa_json.read_json(io.BytesIO(block), parse_options=options)
            except pa.ArrowInvalid:
                raise CliError(
                    f"--from: {name}: {_json_problem(block, lines_before, options)}"
                ) from None
            schema = schema or table.schema
            yield from table.to_batches()
            lines_before += block.count(b"\n")
        if not data:
            if schema is None:
                raise CliError(f"--from: {name} holds no records (NDJSON: one JSON object a line)")
            return


def _json_problem(block: bytes, lines_before: int, options: Any) -> str:
    """pyarrow's message about `block` with the line of the whole input it is about.

    pyarrow numbers rows within its own parse blocks (1 MiB), so the block is parsed
    again as one to have the row counted from its start; and a record may span lines,
    so the row's line is found by walking the records, not by counting lines."""
    import pyarrow as pa
    import pyarrow.json as pa_json

    whole = pa_json.ReadOptions(block_size=len(block) + 1, use_threads=False)
    try:
        pa_json.read_json(io.BytesIO(block), read_options=whole, parse_options=options)
        message = "not readable as NDJSON"
    except pa.ArrowInvalid as exc:
        message = str(exc)
    if message.endswith("unexpected field") and options is not None:
        return _unexpected_field(block, lines_before, options.explicit_schema) or message
    found = _JSON_ROW.search(message)
    if found is None:
        return message
    line = lines_before + _line_of_record(block, int(found.group(1)))
    return f"line {line}: {message[: found.start()]}"


def _unexpected_field(block: bytes, lines_before: int, schema: Any) -> str | None:
    """The first record of `block` with a field `schema` lacks, said with its line
    (pyarrow says only "unexpected field", naming neither)."""
    text = block.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    start = _after_blank(text, 0)
    while start < len(text):
        try:
            record, end = decoder.raw_decode(text, start)
        except ValueError:
            return None
        field = _field_not_in(record, schema)
        if field is not None:
            line = lines_before + text.count("\n", 0, start) + 1
            return (
                f"line {line}: field '{field}' is not in the schema the first "
                f"{_NDJSON_BLOCK // (1024 * 1024)} MiB of records set "
                f"({', '.join(schema.names)}); have it in an early record, or put Arrow IPC"
            )
        start = _after_blank(text, end)
    return None


def _field_not_in(record: Any, fields: Any) -> str | None:
    """The dotted name of the first field of a JSON object that `fields` (a schema or
    a struct type) lacks, looking into nested objects too."""
    import pyarrow as pa

    if not isinstance(record, dict):
        return None
    names = [fields.field(i).name for i in range(len(fields))]
    for key, value in record.items():
        if key not in names:
            return str(key)
        kind = fields.field(names.index(key)).type
        if pa.types.is_struct(kind):
            inner = _field_not_in(value, kind)
            if inner is not None:
                return f"{key}.{inner}"
    return None


def _line_of_record(block: bytes, row: int) -> int:
    """The 1-based line of `block` where its record `row` (0-based) starts, or where
    the records stop being JSON before it."""
    text = block.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    start = _after_blank(text, 0)
    for _ in range(row):
        try:
            _, end = decoder.raw_decode(text, start)
        except ValueError:
            break
        start = _after_blank(text, end)
    return text.count("\n", 0, start) + 1


def _after_blank(text: str, at: int) -> int:
    blank = _BLANK.match(text, at)
    return blank.end() if blank else at

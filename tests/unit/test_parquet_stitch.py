"""Parquet files stitched from standalone one-row-group files: the Thrift footer codec
round-trips pyarrow's footers byte for byte (unknown fields included), the stitched file
is what pyarrow itself writes for the same row groups and reads back equal in pyarrow,
Polars and DuckDB, a moved page index and Bloom filter still point at their bytes, and
files that cannot be stitched are refused with the reason."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.server.pipeline import thrift_compact as tc
from sluice.server.pipeline.parquet_stitch import ParquetStitcher, split_file, take_arrow_schema

# Field ids of parquet-format's parquet.thrift used to look inside footers here.
ROW_GROUPS, COLUMNS, META = 4, 1, 3
OFFSET_INDEX_OFFSET, OFFSET_INDEX_LENGTH = 4, 5
COLUMN_INDEX_OFFSET, COLUMN_INDEX_LENGTH = 6, 7
PAGE_LOCATIONS, PAGE_OFFSET, PAGE_SIZE, PAGE_FIRST_ROW = 1, 1, 2, 3


def stitch(files: Iterable[bytes]) -> Iterator[bytes]:
    """The bytes of one Parquet file holding the row groups of `files`, in order, as the
    Parquet encoder stitches its parts."""
    stitcher = ParquetStitcher()
    for file in files:
        yield stitcher.add(split_file(file))
    yield stitcher.finish()


def frame(rows: int, start: int = 0) -> pl.DataFrame:
    """Rows of every shape the exporter meets: nested struct and list, nulls, time zones,
    empty strings, an all-null column."""
    ids = list(range(start, start + rows))
    base = datetime(2024, 3, 30, 22, 0, tzinfo=UTC)
    return pl.DataFrame(
        {
            "id": ids,
            "country": [["ES", "FR", None, "DE"][i % 4] for i in ids],
            "empty": ["" for _ in ids],
            "nothing": [None for _ in ids],
            "amount": [None if i % 7 == 0 else i * 0.25 for i in ids],
            "flag": [i % 3 == 0 for i in ids],
            "at": [base + timedelta(minutes=17 * i) for i in ids],
            "device": [
                None if i % 11 == 0 else {"os": ["linux", "ios"][i % 2], "tags": ["a"] * (i % 3)}
                for i in ids
            ],
            "scores": [None if i % 5 == 0 else [i, None, -i][: i % 4] for i in ids],
        },
        schema_overrides={
            "nothing": pl.String,
            "at": pl.Datetime("us", "Europe/Madrid"),
            "scores": pl.List(pl.Int64),
        },
    )


def parquet(table: pa.Table | pl.DataFrame, **options: Any) -> bytes:
    if isinstance(table, pl.DataFrame):
        table = table.to_arrow()
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=max(1, table.num_rows), **options)
    return out.getvalue()


def written_by_pyarrow(parts: Sequence[pa.Table], **options: Any) -> bytes:
    """The same row groups written into one file by pyarrow's ParquetWriter."""
    out = io.BytesIO()
    with pq.ParquetWriter(out, parts[0].schema, **options) as writer:
        for part in parts:
            writer.write_table(part, row_group_size=max(1, part.num_rows))
    return out.getvalue()


def footer(data: bytes) -> tuple[bytes, tc.ThriftStruct]:
    length = int.from_bytes(data[-8:-4], "little")
    raw = data[len(data) - 8 - length : -8]
    decoded, used = tc.decode_struct(raw)
    assert used == length
    return raw, decoded


SLICES = [(0, 700), (700, 1), (701, 0), (701, 1299)]
FILE_OPTIONS: list[dict[str, Any]] = [
    {},
    {"compression": "zstd", "compression_level": 3, "use_dictionary": ["country"]},
    {"use_dictionary": False, "write_statistics": False},
    {"write_page_index": True, "data_page_size": 1024},
    {"write_page_index": True, "bloom_filter_options": {"country": {"ndv": 8}}},
    {"sorting_columns": [pq.SortingColumn(0)], "write_page_checksum": True},
]


# --- the Thrift codec --------------------------------------------------------------------


@pytest.mark.parametrize("options", FILE_OPTIONS)
def test_footers_and_page_indexes_written_by_pyarrow_round_trip_byte_for_byte(
    options: dict[str, Any],
) -> None:
    whole = frame(2000)
    parts = [whole.slice(start, 300).to_arrow() for start in range(0, 2000, 300)]
    for data in (parquet(whole, **options), written_by_pyarrow(parts, **options)):
        raw, decoded = footer(data)
        assert tc.encode_struct(decoded) == raw
        for group in decoded.structs(ROW_GROUPS):
            for chunk in group.structs(COLUMNS):
                for offset_field, length_field in (
                    (OFFSET_INDEX_OFFSET, OFFSET_INDEX_LENGTH),
                    (COLUMN_INDEX_OFFSET, COLUMN_INDEX_LENGTH),
                ):
                    offset, length = chunk.integer(offset_field), chunk.integer(length_field)
                    if offset is None or length is None:
                        continue
                    structure = data[offset : offset + length]
                    index, used = tc.decode_struct(structure)
                    assert used == length
                    assert tc.encode_struct(index) == structure


def test_fields_the_codec_does_not_know_survive_and_readers_skip_them() -> None:
    data = parquet(frame(50))
    raw, decoded = footer(data)
    # Fields a newer writer might add: a struct, a list, a map, a set, a uuid, a double,
    # a bool, at ids far past the known ones.
    extra = tc.ThriftStruct([tc.Field(1, tc.BINARY, b"x"), tc.Field(2, tc.TRUE, False)])
    decoded.set(300, tc.STRUCT, extra)
    decoded.set(301, tc.LIST, tc.ThriftList(tc.I64, [-1, 2**40]))
    decoded.set(302, tc.MAP, tc.ThriftMap(tc.BINARY, tc.I32, [(b"k", -7)]))
    decoded.set(303, tc.SET, tc.ThriftList(tc.I16, [3], is_set=True))
    decoded.set(304, tc.UUID, bytes(range(16)))
    decoded.set(305, tc.DOUBLE, -0.5)
    decoded.set(306, tc.TRUE, True)
    chunk = decoded.structs(ROW_GROUPS)[0].structs(COLUMNS)[0]
    chunk.set(40, tc.I8, -3)
    encoded = tc.encode_struct(decoded)
    again, _ = tc.decode_struct(encoded)
    assert again == decoded
    assert tc.encode_struct(again) == encoded
    # pyarrow reads the file with the extended footer, skipping what it does not know.
    # (Polars' own footer reader cannot skip a map field, which no Parquet version has.)
    extended = data[: len(data) - 8 - len(raw)] + encoded + len(encoded).to_bytes(4, "little")
    read = pl.from_arrow(pq.read_table(io.BytesIO(extended + b"PAR1")))
    assert isinstance(read, pl.DataFrame)
    assert read.equals(frame(50))


_ELEMENT_TYPES = [tc.I8, tc.I16, tc.I32, tc.I64, tc.DOUBLE, tc.BINARY, tc.UUID, tc.STRUCT]


def _values(wire_type: int, structs: st.SearchStrategy[tc.ThriftStruct]) -> st.SearchStrategy[Any]:
    integers = {tc.I8: 7, tc.I16: 15, tc.I32: 31, tc.I64: 63}
    if wire_type in integers:
        bits = integers[wire_type]
        return st.integers(-(2**bits), 2**bits - 1)
    if wire_type == tc.DOUBLE:
        return st.floats(allow_nan=False)
    if wire_type == tc.BINARY:
        return st.binary(max_size=20)
    if wire_type == tc.UUID:
        return st.binary(min_size=16, max_size=16)
    return structs


def _structs() -> st.SearchStrategy[tc.ThriftStruct]:
    def extend(children: st.SearchStrategy[tc.ThriftStruct]) -> st.SearchStrategy[Any]:
        def field_value(wire_type: int) -> st.SearchStrategy[tuple[int, Any]]:
            if wire_type == tc.TRUE:
                return st.booleans().map(lambda v: (tc.TRUE, v))
            if wire_type in (tc.LIST, tc.SET):
                return st.sampled_from(_ELEMENT_TYPES).flatmap(
                    lambda e: st.lists(_values(e, children), max_size=20).map(
                        lambda items: (wire_type, tc.ThriftList(e, items, wire_type == tc.SET))
                    )
                )
            if wire_type == tc.MAP:
                return st.tuples(
                    st.sampled_from(_ELEMENT_TYPES), st.sampled_from(_ELEMENT_TYPES)
                ).flatmap(
                    lambda kv: st.lists(
                        st.tuples(_values(kv[0], children), _values(kv[1], children)), max_size=4
                    ).map(
                        lambda items: (
                            tc.MAP,
                            tc.ThriftMap(kv[0] if items else 0, kv[1] if items else 0, items),
                        )
                    )
                )
            return _values(wire_type, children).map(lambda v: (wire_type, v))

        kinds = [tc.TRUE, tc.LIST, tc.SET, tc.MAP, *_ELEMENT_TYPES]
        one = st.tuples(st.integers(-(2**15), 2**15 - 1), st.sampled_from(kinds)).flatmap(
            lambda f: field_value(f[1]).map(lambda tv: tc.Field(f[0], tv[0], tv[1]))
        )
        return st.lists(one, max_size=6, unique_by=lambda f: f.id).map(tc.ThriftStruct)

    return st.recursive(st.just(tc.ThriftStruct()), extend, max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(_structs())
def test_any_struct_decodes_to_what_was_encoded(value: tc.ThriftStruct) -> None:
    encoded = tc.encode_struct(value)
    decoded, used = tc.decode_struct(encoded + b"trailing")
    assert used == len(encoded)
    assert decoded == value
    assert tc.encode_struct(decoded) == encoded


@settings(max_examples=300, deadline=None)
@given(_structs(), st.sampled_from([{}, {1: {}}, {1: {2: {}}, 3: {}}]))
def test_a_partial_decode_keeps_the_unopened_fields_bytes_and_re_encodes_the_same(
    value: tc.ThriftStruct, opened: tc.Opened
) -> None:
    encoded = tc.encode_struct(value)
    decoded, used = tc.decode_struct(encoded + b"trailing", opened)
    assert used == len(encoded)
    assert tc.encode_struct(decoded) == encoded
    for item, original in zip(decoded.fields, value.fields, strict=True):
        if item.id not in opened and item.type in (tc.LIST, tc.SET, tc.MAP, tc.STRUCT):
            # The value's bytes: as field 1 of a struct, behind a one-byte field header.
            alone = tc.ThriftStruct([tc.Field(1, original.type, original.value)])
            assert item.value == tc.Encoded(tc.encode_struct(alone)[1:-1])
        elif item.id not in opened:
            assert item == original


def test_a_partial_decode_refuses_what_a_whole_one_refuses() -> None:
    raw, _ = footer(parquet(frame(10)))
    for opened in ({}, {4: {}}):
        with pytest.raises(ValueError, match="truncated"):
            tc.decode_struct(raw[: len(raw) // 2], opened)
    with pytest.raises(ValueError, match="nested too deeply"):
        tc.decode_struct(b"\x19" * 5000, {})
    with pytest.raises(ValueError, match="nested too deeply"):
        tc.decode_struct(b"\x1c" * 5000, {})
    with pytest.raises(ValueError, match="unknown Thrift wire type 14"):
        tc.decode_struct(b"\x1c\x1e", {})  # a struct whose field 1 is of type 14


def test_deeply_nested_thrift_is_refused_whatever_nests() -> None:
    # A field holding a list of lists of lists...: 0x19 is field 1 of type list, and as a
    # list header one element of type list.
    lists = b"\x19" * 5000
    with pytest.raises(ValueError, match="nested too deeply"):
        tc.decode_struct(lists)
    structs = b"\x1c" * 5000  # field 1, a struct, whose field 1 is a struct...
    with pytest.raises(ValueError, match="nested too deeply"):
        tc.decode_struct(structs)


def test_truncated_or_unknown_thrift_is_refused() -> None:
    raw, _ = footer(parquet(frame(10)))
    with pytest.raises(ValueError, match="truncated"):
        tc.decode_struct(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="unknown Thrift wire type 14"):
        tc.decode_struct(bytes([0x1E]))


# --- stitching ---------------------------------------------------------------------------


def stitched(parts: Sequence[pa.Table], **options: Any) -> bytes:
    return b"".join(stitch(parquet(part, **options) for part in parts))


@pytest.mark.parametrize("options", FILE_OPTIONS)
def test_a_stitched_file_reads_back_equal_in_pyarrow_and_polars(options: dict[str, Any]) -> None:
    whole = frame(2000)
    parts = [whole.slice(start, length).to_arrow() for start, length in SLICES]
    data = stitched(parts, **options)

    by_pyarrow = pl.from_arrow(pq.read_table(io.BytesIO(data)))
    assert isinstance(by_pyarrow, pl.DataFrame)
    assert by_pyarrow.equals(whole)
    assert pl.read_parquet(io.BytesIO(data)).equals(whole)
    assert (
        pl.scan_parquet(io.BytesIO(data))
        .filter(pl.col("id") >= 1500)
        .collect()
        .equals(whole.filter(pl.col("id") >= 1500))
    )
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    assert metadata.num_rows == 2000
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [
        length for _, length in SLICES
    ]


def test_row_group_statistics_describe_each_part() -> None:
    whole = frame(2000)
    data = stitched([whole.slice(start, length).to_arrow() for start, length in SLICES])
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    column = metadata.schema.names.index("id")
    amount = metadata.schema.names.index("amount")
    for group, (start, length) in enumerate(SLICES):
        part = whole.slice(start, length)
        if not length:
            continue
        stats = metadata.row_group(group).column(column).statistics
        assert stats.num_values == length
        assert (stats.min, stats.max) == (start, start + length - 1)
        nulls = metadata.row_group(group).column(amount).statistics.null_count
        assert nulls == part["amount"].null_count()


@pytest.mark.parametrize("options", [o for o in FILE_OPTIONS if "bloom_filter_options" not in o])
def test_the_stitched_file_is_the_one_pyarrow_writes_for_the_same_row_groups(
    options: dict[str, Any],
) -> None:
    whole = frame(2000)
    parts = [whole.slice(start, length).to_arrow() for start, length in SLICES]
    assert stitched(parts, **options) == written_by_pyarrow(parts, **options)


def test_a_moved_page_index_and_bloom_filter_point_at_their_bytes() -> None:
    whole = frame(2000)
    options = {
        "write_page_index": True,
        "data_page_size": 512,
        "bloom_filter_options": {"country": {"ndv": 8}},
    }
    parts = [whole.slice(start, length).to_arrow() for start, length in SLICES]
    files = [parquet(part, **options) for part in parts]
    data = b"".join(stitch(files))
    _, merged = footer(data)
    groups = merged.structs(ROW_GROUPS)
    assert len(groups) == len(files)
    pages_checked = blooms_checked = column_indexes_checked = 0
    for original, group in zip(files, groups, strict=True):
        (source_group,) = footer(original)[1].structs(ROW_GROUPS)
        for before, after in zip(
            source_group.structs(COLUMNS), group.structs(COLUMNS), strict=True
        ):
            # Column indexes hold no offsets: the same bytes, elsewhere. (Columns without
            # min/max statistics, such as the all-null one, have none.)
            assert before.has(COLUMN_INDEX_OFFSET) == after.has(COLUMN_INDEX_OFFSET)
            if before.has(COLUMN_INDEX_OFFSET):
                assert _at(data, after, COLUMN_INDEX_OFFSET, COLUMN_INDEX_LENGTH) == _at(
                    original, before, COLUMN_INDEX_OFFSET, COLUMN_INDEX_LENGTH
                )
                column_indexes_checked += 1
            # Offset indexes list pages by file offset: each must land on the same page.
            # (The empty part has none.)
            assert before.has(OFFSET_INDEX_OFFSET) == after.has(OFFSET_INDEX_OFFSET)
            old_pages = _pages(original, before)
            new_pages = _pages(data, after)
            assert len(new_pages) == len(old_pages)
            for old, new in zip(old_pages, new_pages, strict=True):
                assert new.integer(PAGE_FIRST_ROW) == old.integer(PAGE_FIRST_ROW)
                size = new.integer(PAGE_SIZE) or 0
                old_offset, new_offset = (
                    old.integer(PAGE_OFFSET) or 0,
                    new.integer(PAGE_OFFSET) or 0,
                )
                assert (
                    data[new_offset : new_offset + size] == original[old_offset : old_offset + size]
                )
                pages_checked += 1
            old_meta, new_meta = before.child(META), after.child(META)
            assert old_meta is not None and new_meta is not None
            # The column chunk (dictionary page first, if any) and its Bloom filter moved
            # whole.
            for start_fields, length_field in (((11, 9), 7), ((14,), 15)):
                old_at = next(filter(None, map(old_meta.integer, start_fields)), None)
                new_at = next(filter(None, map(new_meta.integer, start_fields)), None)
                assert (old_at is None) == (new_at is None)
                if old_at is not None and new_at is not None:
                    length = old_meta.integer(length_field) or 0
                    assert length == new_meta.integer(length_field) and length > 0
                    assert data[new_at : new_at + length] == original[old_at : old_at + length]
                    blooms_checked += length_field == 15
    assert pages_checked > 2 * len(files)
    assert blooms_checked == len(SLICES)
    assert column_indexes_checked > len(files)
    assert pl.read_parquet(io.BytesIO(data)).equals(whole)


def _at(data: bytes, chunk: tc.ThriftStruct, offset_field: int, length_field: int) -> bytes:
    offset, length = chunk.integer(offset_field), chunk.integer(length_field)
    assert offset is not None and length is not None
    return data[offset : offset + length]


def _pages(data: bytes, chunk: tc.ThriftStruct) -> list[tc.ThriftStruct]:
    if not chunk.has(OFFSET_INDEX_OFFSET):
        return []
    index, _ = tc.decode_struct(_at(data, chunk, OFFSET_INDEX_OFFSET, OFFSET_INDEX_LENGTH))
    return index.structs(PAGE_LOCATIONS)


def test_duckdb_reads_a_stitched_file_equal_to_its_parts(tmp_path: Any) -> None:
    duckdb = pytest.importorskip("duckdb")
    whole = frame(2000)
    path = tmp_path / "stitched.parquet"
    path.write_bytes(
        stitched([whole.slice(s, n).to_arrow() for s, n in SLICES], compression="zstd")
    )
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        read = connection.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY id").to_arrow_table()
        groups = connection.execute(
            f"SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{path}')"
        ).fetchone()
    got = pl.from_arrow(read)
    assert isinstance(got, pl.DataFrame)
    expected = whole.with_columns(pl.col("at").dt.convert_time_zone("UTC"))
    assert got.equals(expected)
    assert groups == (len(SLICES),)


def test_the_stitcher_streams_the_file_part_by_part() -> None:
    whole = frame(900)
    parts = [split_file(parquet(whole.slice(i, 300))) for i in range(0, 900, 300)]
    stitcher = ParquetStitcher()
    pieces = [stitcher.start()] + [stitcher.add(part) for part in parts] + [stitcher.finish()]
    assert pieces[0] == b"PAR1"
    assert [len(p) for p in pieces[1:-1]] == [len(part.data) for part in parts]
    assert pl.read_parquet(io.BytesIO(b"".join(pieces))).equals(whole)


# --- refusals ----------------------------------------------------------------------------


def test_parts_with_other_schemas_are_refused_naming_the_difference() -> None:
    first = parquet(frame(10))
    other_column = parquet(frame(10).rename({"amount": "total"}))
    with pytest.raises(ValueError, match="differ in their FileMetaData schema"):
        list(stitch([first, other_column]))

    tagged = frame(10).to_arrow()
    tagged = tagged.replace_schema_metadata({"origin": "elsewhere"})
    with pytest.raises(ValueError, match="key_value_metadata"):
        list(stitch([first, parquet(tagged)]))


def test_a_part_takes_the_references_arrow_schema_only_if_the_rest_is_the_same() -> None:
    """String views and large strings are the same Parquet column: with the reference's
    Arrow schema (written from large strings) a part of views becomes the file written
    from large strings; a part of another Parquet schema is refused, not relabelled."""
    rows = pl.DataFrame({"s": ["a", None, "bc"] * 100, "b": [b"x", b"", None] * 100})
    large = rows.to_arrow()
    views = large.cast(pa.schema([("s", pa.string_view()), ("b", pa.binary_view())]))
    reference = split_file(parquet(large.slice(0, 0))).metadata
    part = split_file(parquet(views))
    assert part.metadata != split_file(parquet(large)).metadata  # its ARROW:schema
    take_arrow_schema(part, reference)
    assert b"".join(stitch_parts([part])) == parquet(large)

    numbers = split_file(parquet(large.set_column(1, "b", pa.array([1, 2, 3] * 100))))
    with pytest.raises(ValueError, match="differ in their FileMetaData schema"):
        take_arrow_schema(numbers, reference)


def stitch_parts(parts: Iterable[Any]) -> Iterator[bytes]:
    stitcher = ParquetStitcher()
    for part in parts:
        yield stitcher.add(part)
    yield stitcher.finish()


def test_a_file_of_several_row_groups_is_refused() -> None:
    parts = [frame(10).to_arrow(), frame(10, start=10).to_arrow()]
    with pytest.raises(ValueError, match="one row group, not 2"):
        split_file(written_by_pyarrow(parts))


def test_encrypted_files_and_other_bytes_are_refused() -> None:
    data = parquet(frame(10))
    with pytest.raises(ValueError, match="encrypted Parquet files \\(PARE\\)"):
        split_file(b"PARE" + data[4:-4] + b"PARE")
    raw, decoded = footer(data)
    # A plaintext-footer encrypted file names its algorithm in FileMetaData field 8.
    decoded.set(8, tc.STRUCT, tc.ThriftStruct([tc.Field(1, tc.STRUCT, tc.ThriftStruct())]))
    encoded = tc.encode_struct(decoded)
    signed = data[: len(data) - 8 - len(raw)] + encoded + len(encoded).to_bytes(4, "little")
    with pytest.raises(ValueError, match="plaintext footer"):
        split_file(signed + b"PAR1")
    with pytest.raises(ValueError, match="not a Parquet file"):
        split_file(b"PAR1" + b"\0" * 20)
    with pytest.raises(ValueError, match="not a Parquet file"):
        split_file(b'{"a": 1}\n' * 3)
    with pytest.raises(ValueError, match="no Parquet files"):
        ParquetStitcher().finish()

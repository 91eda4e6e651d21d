"""Join standalone one-row-group Parquet files into one Parquet file, as it streams.

pyarrow writes the row groups of one file one after another on one thread, and offers no
way to write them concurrently. But a Parquet file is its column chunks followed by a
footer that points into them by absolute offsets, so row groups encoded as separate
files (on several threads) can be joined afterwards: "PAR1", each file's column data as
it is, then one footer holding every file's row group with its offsets moved by where
that data now starts.

The footer (FileMetaData) is rewritten through a generic Thrift tree, so fields this
module does not know survive untouched. Only the structs that hold offsets are decoded
(_OPENED); the rest (schema, Arrow schema, statistics, encodings) stays the bytes it was,
compared and written back as such. Field ids are those of parquet-format's
parquet.thrift. A page index (write_page_index) is moved too: pyarrow writes it after the
column data, so it is carried to the end of the joined file, its offset indexes
re-encoded with the moved page offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sluice.server.pipeline.thrift_compact import (
    I16,
    I32,
    I64,
    LIST,
    STRUCT,
    Field,
    Opened,
    ThriftList,
    ThriftStruct,
    decode_struct,
    encode_struct,
)

MAGIC: Final = b"PAR1"
#: Files with an encrypted footer end (and begin) with this instead.
ENCRYPTED_MAGIC: Final = b"PARE"

# FileMetaData
_FILE_NUM_ROWS: Final = 3
_FILE_ROW_GROUPS: Final = 4
_FILE_KEY_VALUE_METADATA: Final = 5
_FILE_ENCRYPTION_ALGORITHM: Final = 8
_FILE_FOOTER_SIGNING_KEY: Final = 9
_FILE_FIELD_NAMES: Final = {
    1: "version",
    2: "schema",
    5: "key_value_metadata (the Arrow schema)",
    6: "created_by",
    7: "column_orders",
}
# RowGroup
_GROUP_COLUMNS: Final = 1
_GROUP_NUM_ROWS: Final = 3
_GROUP_FILE_OFFSET: Final = 5
_GROUP_ORDINAL: Final = 7
# ColumnChunk
_CHUNK_FILE_OFFSET: Final = 2
_CHUNK_META: Final = 3
_CHUNK_OFFSET_INDEX_OFFSET: Final = 4
_CHUNK_OFFSET_INDEX_LENGTH: Final = 5
_CHUNK_COLUMN_INDEX_OFFSET: Final = 6
_CHUNK_COLUMN_INDEX_LENGTH: Final = 7
_CHUNK_CRYPTO: Final = 8
_CHUNK_ENCRYPTED_META: Final = 9
# ColumnMetaData: data_page_offset, index_page_offset, dictionary_page_offset,
# bloom_filter_offset
_META_OFFSETS: Final = (9, 10, 11, 14)
# OffsetIndex.page_locations, PageLocation.offset
_OFFSET_INDEX_PAGES: Final = 1
_PAGE_OFFSET: Final = 1

#: What split_file decodes of a footer: the row groups, their column chunks and each
#: chunk's ColumnMetaData, where the offsets are. Decoding whole footers and encoding
#: them back cost twice the CPU: stitching a 1M-row events export (16 row groups of 18
#: columns) took ~17 CPU ms, ~8.5 ms this way.
_OPENED: Final[Opened] = {_FILE_ROW_GROUPS: {_GROUP_COLUMNS: {_CHUNK_META: {}}}}
_OFFSET_INDEX_OPENED: Final[Opened] = {_OFFSET_INDEX_PAGES: {}}


@dataclass(frozen=True)
class ParquetPart:
    """A standalone Parquet file of at most one row group, taken apart."""

    metadata: ThriftStruct
    #: The bytes after the leading magic up to the page index (or the footer): column
    #: chunks and any Bloom filters.
    data: memoryview
    #: Page index structures per column of the row group: (column index, offset index),
    #: each None when absent.
    page_index: list[tuple[bytes | None, ThriftStruct | None]] = field(default_factory=list)

    @property
    def row_group(self) -> ThriftStruct | None:
        groups = self.metadata.structs(_FILE_ROW_GROUPS)
        return groups[0] if groups else None


def split_file(file: bytes | memoryview) -> ParquetPart:
    """Take a standalone Parquet file of at most one row group apart, or raise
    ValueError saying why it cannot be stitched."""
    view = memoryview(file).cast("B")
    if len(view) < 12:
        raise ValueError("not a Parquet file: shorter than its magic and footer length")
    head, tail = bytes(view[:4]), bytes(view[-4:])
    if ENCRYPTED_MAGIC in (head, tail):
        raise ValueError("encrypted Parquet files (PARE) cannot be stitched")
    if head != MAGIC or tail != MAGIC:
        raise ValueError("not a Parquet file: no PAR1 magic at its start and end")
    footer_length = int.from_bytes(view[-8:-4], "little")
    footer_start = len(view) - 8 - footer_length
    if footer_start < 4:
        raise ValueError("not a Parquet file: its footer length exceeds the file")
    metadata, used = decode_struct(view[footer_start:-8], _OPENED)
    if used != footer_length:
        raise ValueError("Parquet footer has bytes after its FileMetaData")
    if metadata.has(_FILE_ENCRYPTION_ALGORITHM) or metadata.has(_FILE_FOOTER_SIGNING_KEY):
        raise ValueError("encrypted Parquet files (plaintext footer) cannot be stitched")
    groups = metadata.structs(_FILE_ROW_GROUPS)
    if len(groups) > 1:
        raise ValueError(f"a Parquet file to stitch must hold one row group, not {len(groups)}")
    chunks = groups[0].structs(_GROUP_COLUMNS) if groups else []
    if any(c.has(_CHUNK_CRYPTO) or c.has(_CHUNK_ENCRYPTED_META) for c in chunks):
        raise ValueError("Parquet files with encrypted columns cannot be stitched")
    data_end, page_index = _page_index(view, chunks, footer_start)
    return ParquetPart(metadata, view[4:data_end], page_index)


def take_arrow_schema(part: ParquetPart, reference: ThriftStruct) -> None:
    """Give `part` the key_value_metadata (pyarrow's ARROW:schema) of `reference`, the
    FileMetaData of a file written from the Arrow types readers should get, and check
    that every other field of the file but its rows is the reference's.

    The Parquet encoder writes string columns from Polars' string views as they are,
    where the Arrow types it exports are large strings: a view and a large string are
    the same Parquet column (BYTE_ARRAY, STRING), and only the Arrow schema pyarrow
    stores beside them says which one was written. Taking the reference's makes the file
    the one written from large strings, byte for byte; the check refuses a part whose
    Parquet schema the views did change."""
    arrow_schema = reference.get(_FILE_KEY_VALUE_METADATA)
    if arrow_schema is None:
        part.metadata.fields = [f for f in part.metadata.fields if f.id != _FILE_KEY_VALUE_METADATA]
    else:
        part.metadata.set(_FILE_KEY_VALUE_METADATA, LIST, arrow_schema)
    _check_same_file_fields(reference, part.metadata)


def _page_index(
    file: memoryview, chunks: list[ThriftStruct], footer_start: int
) -> tuple[int, list[tuple[bytes | None, ThriftStruct | None]]]:
    """Where the column data ends, and the page index read from after it. The page index
    must fill the space between the column data and the footer exactly: anything else
    there would be left pointing at the wrong place once moved."""
    regions: list[tuple[int, int]] = []
    page_index: list[tuple[bytes | None, ThriftStruct | None]] = []
    for chunk in chunks:
        column_index = offset_index = None
        region = _region(chunk, _CHUNK_COLUMN_INDEX_OFFSET, _CHUNK_COLUMN_INDEX_LENGTH)
        if region:
            regions.append(region)
            column_index = bytes(file[region[0] : region[0] + region[1]])
        region = _region(chunk, _CHUNK_OFFSET_INDEX_OFFSET, _CHUNK_OFFSET_INDEX_LENGTH)
        if region:
            regions.append(region)
            offset_index, used = decode_struct(
                file[region[0] : region[0] + region[1]], _OFFSET_INDEX_OPENED
            )
            if used != region[1]:
                raise ValueError("a Parquet offset index is not the length its footer says")
        page_index.append((column_index, offset_index))
    if not regions:
        return footer_start, []
    regions.sort()
    data_end = position = regions[0][0]
    for start, length in regions:
        if start != position:
            raise ValueError("the Parquet page index is not one block before the footer")
        position = start + length
    if position != footer_start or data_end < 4:
        raise ValueError("the Parquet page index is not one block before the footer")
    return data_end, page_index


def _region(chunk: ThriftStruct, offset_field: int, length_field: int) -> tuple[int, int] | None:
    offset = chunk.integer(offset_field)
    length = chunk.integer(length_field)
    if offset is None:
        return None
    if length is None:
        raise ValueError("a Parquet page index offset comes without its length")
    return offset, length


class ParquetStitcher:
    """Joins parts into one Parquet file: `add` returns each part's bytes as they take
    their place in the file, `finish` the page index and footer after them."""

    def __init__(self) -> None:
        self._first: ThriftStruct | None = None
        #: Bytes handed out so far: the position the next part's data starts at.
        self._position = 0
        self._groups: list[ThriftStruct] = []
        #: Moved page index entries: (column chunk to point at it, bytes or offset index).
        self._column_indexes: list[tuple[ThriftStruct, bytes]] = []
        self._offset_indexes: list[tuple[ThriftStruct, ThriftStruct]] = []
        self._rows = 0

    def start(self) -> bytes:
        """The file's leading magic (`add` returns it with the first part otherwise)."""
        if self._position:
            return b""
        self._position = len(MAGIC)
        return MAGIC

    def add(self, part: ParquetPart) -> bytes:
        """The part's data as it goes into the file. The stitcher takes the part over: its
        metadata is rewritten in place."""
        return b"".join(self.add_pieces(part))

    def add_pieces(self, part: ParquetPart) -> tuple[bytes | memoryview, ...]:
        """`add`'s bytes, uncopied: the leading magic if the file starts here, then the
        part's data as the view it is (joined, a row group's megabytes were copied once
        more, into freshly mapped memory: ~0.03 CPU s per 1M rows of page faults and
        copying, benchmarks/postgres_daemon_cpu.py)."""
        header = self.start()
        if self._first is None:
            self._first = part.metadata
        else:
            _check_same_file_fields(self._first, part.metadata)
        group = part.row_group
        if group is not None:
            # The part's data started at 4 (after its magic); it now starts here.
            shift = self._position - len(MAGIC)
            self._place(group, part, shift)
        self._position += len(part.data)
        return (header, part.data) if header else (part.data,)

    def finish(self) -> bytes:
        if self._first is None:
            raise ValueError("no Parquet files to stitch")
        out = bytearray()
        for chunk, column_index in self._column_indexes:
            chunk.set(_CHUNK_COLUMN_INDEX_OFFSET, I64, self._position + len(out))
            chunk.set(_CHUNK_COLUMN_INDEX_LENGTH, I32, len(column_index))
            out += column_index
        for chunk, offset_index in self._offset_indexes:
            encoded = encode_struct(offset_index)
            chunk.set(_CHUNK_OFFSET_INDEX_OFFSET, I64, self._position + len(out))
            chunk.set(_CHUNK_OFFSET_INDEX_LENGTH, I32, len(encoded))
            out += encoded
        footer = ThriftStruct([Field(f.id, f.type, f.value) for f in self._first.fields])
        footer.set(_FILE_NUM_ROWS, I64, self._rows)
        footer.set(_FILE_ROW_GROUPS, LIST, ThriftList(STRUCT, list(self._groups)))
        encoded_footer = encode_struct(footer)
        out += encoded_footer + len(encoded_footer).to_bytes(4, "little") + MAGIC
        return bytes(out)

    def _place(self, group: ThriftStruct, part: ParquetPart, shift: int) -> None:
        _shift(group, _GROUP_FILE_OFFSET, shift)
        if group.has(_GROUP_ORDINAL):
            group.set(_GROUP_ORDINAL, I16, len(self._groups))
        chunks = group.structs(_GROUP_COLUMNS)
        for position, chunk in enumerate(chunks):
            _shift(chunk, _CHUNK_FILE_OFFSET, shift)
            meta = chunk.child(_CHUNK_META)
            if meta is not None:
                for offset_field in _META_OFFSETS:
                    _shift(meta, offset_field, shift)
            if position < len(part.page_index):
                column_index, offset_index = part.page_index[position]
                if column_index is not None:
                    self._column_indexes.append((chunk, column_index))
                if offset_index is not None:
                    for page in offset_index.structs(_OFFSET_INDEX_PAGES):
                        _shift(page, _PAGE_OFFSET, shift)
                    self._offset_indexes.append((chunk, offset_index))
        self._groups.append(group)
        self._rows += group.integer(_GROUP_NUM_ROWS) or 0


def _shift(struct: ThriftStruct, field_id: int, shift: int) -> None:
    """Move an absolute file offset. Zero is left alone: it is what writers put in
    offsets they do not use (ColumnChunk.file_offset is deprecated and written as 0)."""
    value = struct.integer(field_id)
    if value:
        struct.set(field_id, I64, value + shift)


def _check_same_file_fields(first: ThriftStruct, other: ThriftStruct) -> None:
    """Every part must describe the same file apart from its rows: same schema, same
    Arrow schema, same writer."""
    ids = {f.id for f in first.fields} | {f.id for f in other.fields}
    for field_id in sorted(ids - {_FILE_NUM_ROWS, _FILE_ROW_GROUPS}):
        if first.get(field_id) != other.get(field_id):
            name = _FILE_FIELD_NAMES.get(field_id, f"field {field_id}")
            raise ValueError(f"Parquet files to stitch differ in their FileMetaData {name}")

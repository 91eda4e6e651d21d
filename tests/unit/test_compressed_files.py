"""Compressed files are told by their first bytes, and a text file is never taken for one."""

from __future__ import annotations

import bz2
import gzip
import lzma

import zstandard

from sluice.server.pipeline.compressed_files import MAGIC_BYTES, compression_of

TEXT = b"id,v\n1,a\n2,b\n"


def test_each_compressed_format_is_told_by_its_first_bytes() -> None:
    packed = {
        "gzip": gzip.compress(TEXT),
        "zstd": zstandard.compress(TEXT),
        "bzip2": bz2.compress(TEXT),
        "xz": lzma.compress(TEXT),
    }
    assert {name: compression_of(data[:MAGIC_BYTES]) for name, data in packed.items()} == {
        name: name for name in packed
    }


def test_text_that_starts_like_a_magic_is_text() -> None:
    # "BZh" alone is bzip2's signature, and a fine CSV header ("BZhours": a column name).
    for head in (b"BZhours,total\n1,2\n", b"BZh9 is a heading\n", b'{"id": 1}\n', TEXT):
        assert compression_of(head[:MAGIC_BYTES]) is None, head

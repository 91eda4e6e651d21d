"""A table of no rows of an Arrow schema, for asking Polars which types it would read.

Made of empty chunked arrays: `Schema.empty_table` builds arrays, which pyarrow cannot
for some types Polars reads (a list of dictionaries of string views: "DictionaryArray
converter … not implemented"), so such columns were refused as unreadable.
"""

from __future__ import annotations

import pyarrow as pa


def empty_table(schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([pa.chunked_array([], type=f.type) for f in schema], schema=schema)

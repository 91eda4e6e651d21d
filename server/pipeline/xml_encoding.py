"""XML chunks and the XSD that describes them, both derived from the export's schema.

A chunk is one document, written batch by batch as text (never built as a tree):

    <?xml version="1.0" encoding="UTF-8"?>
    <records xmlns:xsi="..." xsi:noNamespaceSchemaLocation="records.xsd"
             export="..." dataset="..." chunk="0">
    <record><id>1</id><name>Ada</name><tags><item>a</item></tags><note xsi:nil="true"/></record>
    </records>

- One child element per column, in schema order; structs hold one element per field,
  lists and arrays one `<item>` per element. A null (a column, a field, a list element)
  is the empty element with `xsi:nil="true"`; an empty string or list is an empty element.
- Names that are not XML names ("first name", "1st", "xmlns") are encoded the way .NET's
  XmlConvert.EncodeName does: each offending character as `_xHHHH_` (and a `_x` that
  would read as such an escape has its `_` encoded), so the original name is recoverable.
- Text is escaped (`&`, `<`, `>`, and a carriage return as `&#13;` so parsers do not turn
  it into a newline). Characters XML 1.0 cannot hold at all (C0 controls other than tab,
  newline and carriage return; U+FFFE and U+FFFF) cannot even be written as character
  references, so a string holding one is written with the attribute `escaped="true"`, in
  which `\\uHHHH` stands for such a character and `\\\\` for a backslash. Strings without
  one are written literally, without the attribute.
- Values in the XSD types' lexical forms: dates and times as in every text format
  (sluice.format.temporal_text, which are valid xs:dateTime/date/time/duration), floats
  with `NaN`, `INF`, `-INF`, booleans `true`/`false`, decimals in plain notation, bytes
  in base64 (xs:base64Binary).

Every value is turned into text by column-wise Polars expressions, so the bytes depend
only on the values and the schema: a resumed export writes byte-identical chunks.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import quoteattr

import polars as pl

from sluice.format.layout import XML_SCHEMA_NAME
from sluice.format.temporal_text import temporal_as_text
from sluice.server.pipeline.data_types import AnyType, instance
from sluice.server.pipeline.encoder_contract import ChunkContext, Encoder

_XSI = "http://www.w3.org/2001/XMLSchema-instance"
#: Characters XML 1.0 does not allow, in any form.
_FORBIDDEN = [chr(c) for c in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20))] + [
    "\ufffe",
    "\uffff",
]
_FORBIDDEN_PATTERN = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _FORBIDDEN) + "]"
_NAME_START = re.compile(
    r"[A-Za-z_\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D"
    r"\u037F-\u1FFF\u200C\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF"
    r"\uF900-\uFDCF\uFDF0-\uFFFD\U00010000-\U000EFFFF]"
)
_NAME_CHAR = re.compile(r"[-.0-9\u00B7\u0300-\u036F\u203F-\u2040]")
ITEM = "item"


def xml_name(name: str) -> str:
    """`name` as an XML element name (NCName), reversibly (XmlConvert.EncodeName)."""
    out: list[str] = []
    for position, char in enumerate(name):
        allowed = _NAME_START.fullmatch(char) is not None or (
            position > 0 and _NAME_CHAR.fullmatch(char) is not None
        )
        # "_x" followed by four hex digits and "_" would decode as an escape.
        looks_escaped = char == "_" and re.match(r"_x[0-9A-Fa-f]{4}_", name[position:])
        if allowed and not looks_escaped:
            out.append(char)
        elif ord(char) > 0xFFFF:
            out.append(f"_x{ord(char):08X}_")
        else:
            out.append(f"_x{ord(char):04X}_")
    encoded = "".join(out) or "_x0000_"
    if encoded[:3].lower() == "xml":  # names starting with "xml" are reserved
        encoded = f"_x{ord(encoded[0]):04X}_" + encoded[1:]
    return encoded


def _escaped_text(expression: pl.Expr) -> pl.Expr:
    return expression.str.replace_many(["&", "<", ">", "\r"], ["&amp;", "&lt;", "&gt;", "&#13;"])


def _string_element(tag: str, expression: pl.Expr) -> pl.Expr:
    forbidden = expression.str.contains(_FORBIDDEN_PATTERN)
    spelled = expression.str.replace_many(
        ["\\", *_FORBIDDEN], ["\\\\", *(f"\\u{ord(c):04X}" for c in _FORBIDDEN)]
    )
    return pl.when(forbidden).then(
        pl.concat_str(pl.lit(f'<{tag} escaped="true">'), _escaped_text(spelled))
    ).otherwise(pl.concat_str(pl.lit(f"<{tag}>"), _escaped_text(expression))) + pl.lit(f"</{tag}>")


def _value_text(expression: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A scalar value in its XSD type's lexical form."""
    if isinstance(dtype, pl.Boolean):
        return pl.when(expression).then(pl.lit("true")).otherwise(pl.lit("false"))
    if dtype.is_float():
        return (
            pl.when(expression.is_nan())
            .then(pl.lit("NaN"))
            .when(expression == float("inf"))
            .then(pl.lit("INF"))
            .when(expression == float("-inf"))
            .then(pl.lit("-INF"))
            .otherwise(expression.cast(pl.String))
        )
    if isinstance(dtype, pl.Binary):
        # Bytes are no text: a strict UTF-8 cast fails on b"\xff" (and bytes that are
        # UTF-8 may hold characters XML cannot); xs:base64Binary in the XSD.
        return expression.bin.encode("base64")
    if isinstance(dtype, (pl.Date, pl.Datetime)):
        # Already text (temporal_text); a year over 9999 comes as "+10000-..." (ISO 8601's
        # expanded form), which xs:date and xs:dateTime refuse: they take "10000-...".
        return expression.str.strip_prefix("+")
    return expression.cast(pl.String)


def _element(tag: str, expression: pl.Expr, dtype: AnyType) -> pl.Expr:
    """Text of the element `tag` holding this value (xsi:nil when null)."""
    dtype = instance(dtype)
    if isinstance(dtype, pl.Struct):
        inner = [
            _element(xml_name(f.name), expression.struct.field(f.name), f.dtype)
            for f in dtype.fields
        ]
        body = pl.concat_str(pl.lit(f"<{tag}>"), *inner, pl.lit(f"</{tag}>"))
    elif isinstance(dtype, (pl.List, pl.Array)):
        listed = expression.arr.to_list() if isinstance(dtype, pl.Array) else expression
        items = listed.list.eval(_element(ITEM, pl.element(), dtype.inner)).list.join("")
        body = pl.concat_str(pl.lit(f"<{tag}>"), items, pl.lit(f"</{tag}>"))
    elif isinstance(dtype, (pl.String, pl.Categorical, pl.Enum)):
        body = _string_element(tag, expression.cast(pl.String))
    elif isinstance(dtype, pl.Null):
        body = pl.lit(None, pl.String)
    else:
        body = pl.concat_str(
            pl.lit(f"<{tag}>"), _value_text(expression, dtype), pl.lit(f"</{tag}>")
        )
    return pl.when(expression.is_null()).then(pl.lit(f'<{tag} xsi:nil="true"/>')).otherwise(body)


class XmlEncoder(Encoder):
    """One `<records>` document per chunk, one `<record>` line per row."""

    def __init__(self, context: ChunkContext) -> None:
        attributes = " ".join(
            f"{name}={quoteattr(value)}"
            for name, value in (
                ("xmlns:xsi", _XSI),
                ("xsi:noNamespaceSchemaLocation", XML_SCHEMA_NAME),
                ("export", context.export_id),
                ("dataset", context.dataset),
                ("chunk", str(context.index)),
            )
        )
        self._header = f'<?xml version="1.0" encoding="UTF-8"?>\n<records {attributes}>\n'.encode()
        self._started = False

    def encode(self, batch: pl.DataFrame) -> bytes:
        header = b"" if self._started else self._header
        self._started = True
        if batch.height == 0:
            return header
        # The original types decide the elements; the values' text comes from the frame
        # with its dates and times already written as RFC 3339 (valid XSD lexical forms).
        as_text = temporal_as_text(batch)
        record = pl.concat_str(
            pl.lit("<record>"),
            *(
                _element(xml_name(name), pl.col(name), dtype)
                for name, dtype in batch.schema.items()
            ),
            pl.lit("</record>\n"),
        )
        lines = as_text.select(record.alias("r")).to_series()
        return header + "".join(lines.to_list()).encode()

    def finish(self) -> bytes:
        return (b"" if self._started else self._header) + b"</records>\n"

    def close(self) -> None:
        pass


# --- the XSD ------------------------------------------------------------------------

_XSD_TYPES: dict[type[pl.DataType], str] = {
    pl.Int8: "xs:byte",
    pl.Int16: "xs:short",
    pl.Int32: "xs:int",
    pl.Int64: "xs:long",
    pl.Int128: "xs:integer",
    pl.UInt8: "xs:unsignedByte",
    pl.UInt16: "xs:unsignedShort",
    pl.UInt32: "xs:unsignedInt",
    pl.UInt64: "xs:unsignedLong",
    pl.Float32: "xs:float",
    pl.Float64: "xs:double",
    pl.Decimal: "xs:decimal",
    pl.Boolean: "xs:boolean",
    pl.Date: "xs:date",
    pl.Datetime: "xs:dateTime",
    pl.Time: "xs:time",
    pl.Duration: "xs:duration",
    pl.Binary: "xs:base64Binary",
}
_TEXT_TYPE = "text"


def xml_schema_document(schema: pl.Schema) -> bytes:
    """The XSD every XML chunk of an export with this schema validates against."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">',
        f'  <xs:complexType name="{_TEXT_TYPE}">',
        '    <xs:annotation><xs:documentation>A string; with escaped="true", \\uHHHH stands'
        " for a character XML 1.0 cannot hold and \\\\ for a backslash.</xs:documentation>"
        "</xs:annotation>",
        "    <xs:simpleContent>",
        '      <xs:extension base="xs:string">',
        '        <xs:attribute name="escaped" type="xs:boolean" use="optional"/>',
        "      </xs:extension>",
        "    </xs:simpleContent>",
        "  </xs:complexType>",
        '  <xs:element name="records">',
        "    <xs:complexType>",
        "      <xs:sequence>",
        '        <xs:element name="record" minOccurs="0" maxOccurs="unbounded">',
        "          <xs:complexType>",
        "            <xs:sequence>",
    ]
    for name, dtype in schema.items():
        lines.extend(_declaration(xml_name(name), dtype, 14, ""))
    lines += [
        "            </xs:sequence>",
        "          </xs:complexType>",
        "        </xs:element>",
        "      </xs:sequence>",
        '      <xs:attribute name="export" type="xs:string"/>',
        '      <xs:attribute name="dataset" type="xs:string"/>',
        '      <xs:attribute name="chunk" type="xs:integer"/>',
        "    </xs:complexType>",
        "  </xs:element>",
        "</xs:schema>",
    ]
    return ("\n".join(lines) + "\n").encode()


def _declaration(tag: str, dtype: AnyType, indent: int, occurs: str) -> list[str]:
    pad = " " * indent
    dtype = instance(dtype)
    opening = f'{pad}<xs:element name="{tag}" nillable="true"{occurs}'
    if isinstance(dtype, pl.Struct):
        inner = [
            line
            for f in dtype.fields
            for line in _declaration(xml_name(f.name), f.dtype, indent + 6, "")
        ]
    elif isinstance(dtype, (pl.List, pl.Array)):
        inner = _declaration(ITEM, dtype.inner, indent + 6, ' minOccurs="0" maxOccurs="unbounded"')
    else:
        simple = _XSD_TYPES.get(type(dtype), _TEXT_TYPE)
        return [f'{opening} type="{simple}"/>']
    return [
        opening + ">",
        f"{pad}  <xs:complexType>",
        f"{pad}    <xs:sequence>",
        *inner,
        f"{pad}    </xs:sequence>",
        f"{pad}  </xs:complexType>",
        f"{pad}</xs:element>",
    ]

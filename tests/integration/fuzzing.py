"""Seeded request fuzzing for sluice.v1: random values by field type, drawn from pools of
what breaks servers (NUL bytes, huge and odd Unicode strings, extreme integers, out-of-range
timestamps, page tokens that decode to odd JSON, URIs of every scheme, parser bombs), set
into valid requests (mutation) or into empty ones (random requests). Driven by the proto
descriptors, so a field added to the API is fuzzed without touching this file."""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Sequence

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_UNICODE = (
    "é",
    "ß",
    "İ",
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\u0301",  # combining accent
    "\ufeff",
    "\uffff",
    "😀",
    "\U0010ffff",
    "中",
    "\x7f",
    "\n",
    "\r",
    "\t",
    "\x1b[31m",
)
_SCHEMES = (
    "file://{path}",
    "{path}",
    "local://{path}",
    "memory://fuzz/{name}",
    "ftp://127.0.0.1:1/{name}",
    "sftp://127.0.0.1:1/{name}",
    "http://127.0.0.1:1/{name}.csv",
    "zip://{name}::file://{path}",
    "simplecache::file://{path}",
    "bogus://{name}",
    "s3://{name}/x",
    "s3://",
    "az://{name}/x",
    "abfs://c@a.dfs.core.windows.net/{name}",
    "gs://{name}/x",
    "file://otherhost/{name}",
    "file:///",
    "data:text/plain,{name}",
    "/etc/passwd",
    "../../../../etc/passwd",
    "~root/{name}",
    "{path}/../../..",
)
_ODD_JSON = (
    "[" * 100_000 + "]" * 100_000,
    '{"c":' * 5_000 + "1" + "}" * 5_000,
    '{"c": "9999-12-31T23:59:59-23:59", "i": "x"}',
    '{"c": "0001-01-01T00:00:00+23:59", "i": "x"}',
    '{"c": 1e999, "i": "x"}',
    '{"c": 123456789012345678901234567890, "i": []}',
    '{"c": "2025-01-01T00:00:00+00:00", "i": "' + "x" * 50_000 + '"}',
    '{"c": "2025-01-01T00:00:00+00:00", "i": "\\u0000"}',
    '{"c": "2025-01-01T00:00:00+00:00"}',
    '{"c": null, "i": null}',
    "NaN",
    "[]",
    '"string"',
    "\ud800",
)


class RequestFuzzer:
    def __init__(self, rng: random.Random, paths: Sequence[str], names: Sequence[str]) -> None:
        self.rng = rng
        self.paths = list(paths)
        self.names = list(names)

    # -- values ------------------------------------------------------------------------

    def text(self, field: str) -> str:
        """A string for `field`: sometimes one shaped for it, else anything."""
        rng = self.rng
        shaped = self._shaped(field)
        if shaped and rng.random() < 0.4:
            return rng.choice(shaped)
        choice = rng.randrange(12)
        if choice == 0:
            return ""
        if choice == 1:
            return "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 40)))
        if choice == 2:
            return "".join(rng.choice(_UNICODE) for _ in range(rng.randint(1, 20)))
        if choice == 3:
            base = self._plain()
            cut = rng.randint(0, len(base))
            return base[:cut] + "\x00" + base[cut:]
        if choice == 4:
            return rng.choice(("x", "é", "😀", "/a", "(")) * rng.choice((300, 5_000, 100_000))
        if choice == 5:
            return self.uri()
        if choice == 6:
            return rng.choice(("..", ".", "/", "*", "**", "**/**/**", "~", "$HOME", "%s%n", "{0}"))
        if choice == 7:
            return self.where()
        if choice == 8:
            return self.regex()
        if choice == 9:
            return self.page_token()
        if choice == 10:
            return "".join(chr(rng.randrange(1, 0x20)) for _ in range(rng.randint(1, 10)))
        return self._plain()

    def _plain(self) -> str:
        return self.rng.choice((*self.names, *self.paths, "id", "email", "jsonl", "zstd"))

    def _shaped(self, field: str) -> tuple[str, ...]:
        if field in {"uri", "destination", "export", "base", "other", "manifest_uri"}:
            return (self.uri(), *self.paths)
        if field == "where":
            return (self.where(),)
        if field == "pattern":
            return (self.regex(),)
        if field == "page_token":
            return (self.page_token(),)
        if field in {"format", "compression"}:
            return ("parquet", "csv", "jsonl", "json", "arrow", "zip", "zstd", "gzip", "none")
        if field in {"level"}:
            return ("none", "basic", "moderate", "strict", "custom")
        if field in {"action"}:
            return ("drop", "null", "redact", "mask", "hash", "generalize", "keep")
        if field in {"granularity"}:
            return ("month", "year", "day", "1e308", "-1", "nan", "inf", "0")
        if field in {"age_recipients"}:
            return ("age1" + "q" * 58, "age1zzz", "AGE-SECRET-KEY-1" + "Q" * 58)
        if field in {"mode"}:
            return ("full", "incremental")
        return ()

    def uri(self) -> str:
        template = self.rng.choice(_SCHEMES)
        return template.format(path=self.rng.choice(self.paths), name=self.rng.choice(self.names))

    def where(self) -> str:
        rng = self.rng
        choice = rng.randrange(8)
        if choice == 0:
            return " AND ".join(["id > 1"] * rng.choice((10, 600, 6_000)))
        if choice == 1:
            depth = rng.choice((10, 60, 5_000))
            return "(" * depth + "id > 1" + ")" * depth
        if choice == 2:
            return "id IN (" + ",".join(str(i) for i in range(rng.choice((10, 3_000)))) + ")"
        if choice == 3:
            return "id" + " + id" * rng.choice((10, 6_000)) + " > 1"
        if choice == 4:
            return rng.choice(
                (
                    "1=1; DROP TABLE x",
                    "id IN (SELECT 1)",
                    "read_parquet('/etc/passwd') > 0",
                    "amount > 'abc'",
                    "created_at > '2025-01-01'",
                    "created_at > TIMESTAMP '99999-01-01'",
                    "id > 99999999999999999999999999999",
                    "'",
                    '"',
                    "id > 1 --",
                    "/*",
                )
            )
        if choice == 5:
            return "NOT " * rng.choice((5, 3_000)) + "id > 1"
        if choice == 6:
            return "CASE " + " ".join(f"WHEN id = {i} THEN true" for i in range(3_000)) + " END"
        return rng.choice(("id > 10", "amount > 5 AND country = 'ES'", "email LIKE '%@x'"))

    def regex(self) -> str:
        return self.rng.choice(
            (
                "(" * 5_000 + "a" + ")" * 5_000,
                "(" * 300 + "a" + ")" * 300,
                "a{1000}{1000}",
                "\\w{5000}",
                "(a+)+$",
                "[",
                "\\",
                "(?P<sl_x>a)",
                "(?<=a)b",
                "(a)\\1",
                "a*",
                "x" * 100_000,
                "[0-9]{16}",
                "EMAIL",
                "NOT_AN_ENTITY",
            )
        )

    def page_token(self) -> str:
        rng = self.rng
        choice = rng.randrange(4)
        if choice == 0:
            raw = rng.randbytes(rng.choice((1, 16, 300, 20_000)))
        elif choice == 1:
            raw = rng.choice(_ODD_JSON).encode("utf-8", "surrogatepass")
        elif choice == 2:
            return "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 60)))
        else:
            return rng.choice(("=", "====", "-_-_", "\x00", "é", "A" * 100_000))
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def integer(self, field_type: int) -> int:
        low, high = _INT_RANGES[field_type]
        rng = self.rng
        return max(
            low,
            min(
                high,
                rng.choice(
                    (
                        0,
                        1,
                        -1,
                        low,
                        high,
                        low + 1,
                        high - 1,
                        2**31,
                        -(2**31) - 1,
                        2**62,
                        -(2**62),
                        86_400 * 10**6,
                        rng.randint(-1_000, 1_000),
                        rng.randint(low, high),
                    )
                ),
            ),
        )

    def timestamp(self, message: Message) -> None:
        rng = self.rng
        message.seconds = rng.choice(  # type: ignore[attr-defined]
            (0, -1, 2**62, -(2**62), 2**63 - 1, -(2**63), 253402300800, -62135596801, 1_700_000_000)
        )
        message.nanos = rng.choice((0, -1, 999_999_999, 10**9, 2**31 - 1, -(2**31)))  # type: ignore[attr-defined]

    # -- messages ----------------------------------------------------------------------

    def mutate(self, message: Message, changes: int = 2, depth: int = 0) -> None:
        """Set `changes` randomly chosen fields (recursively) of `message` to odd values."""
        fields = message.DESCRIPTOR.fields
        if not fields:
            return
        for _ in range(changes):
            self._set_field(message, self.rng.choice(fields), depth)

    def _set_field(self, message: Message, field: FieldDescriptor, depth: int) -> None:
        rng = self.rng
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target = getattr(message, field.name)
            value_field = field.message_type.fields_by_name["value"]
            for _ in range(rng.choice((1, 2, 100))):
                key = self.text(field.name)
                if value_field.message_type is None:
                    target[key] = self._scalar(value_field)
            return
        if field.is_repeated:
            container = getattr(message, field.name)
            if rng.random() < 0.2:
                del container[:]
            for _ in range(rng.choice((1, 2, 3, 1_000))):
                if field.message_type is not None:
                    self.mutate(container.add(), rng.randint(1, 3), depth + 1)
                else:
                    container.append(self._scalar(field))
            return
        if field.message_type is not None:
            child = getattr(message, field.name)
            if field.message_type.full_name == "google.protobuf.Timestamp":
                self.timestamp(child)
            elif depth < 4:
                self.mutate(child, rng.randint(1, 3), depth + 1)
            else:
                child.SetInParent()
            return
        setattr(message, field.name, self._scalar(field))

    def _scalar(self, field: FieldDescriptor) -> object:
        if field.type == FieldDescriptor.TYPE_STRING:
            return self.text(field.name)
        if field.type == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if field.type == FieldDescriptor.TYPE_ENUM:
            return self.rng.choice((*(v.number for v in field.enum_type.values), 99, -7))
        if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.rng.choice((0.0, -1.0, 1e308, float("inf"), float("nan")))
        if field.type == FieldDescriptor.TYPE_BYTES:
            return self.rng.randbytes(self.rng.randint(0, 64))
        return self.integer(field.type)


def odd_json_token(text: str) -> str:
    """A page token that decodes to `text` (for targeted tests)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def json_token(value: object) -> str:
    return odd_json_token(json.dumps(value))

"""Parsers for option values (sizes, labels, times, lists) and their click types.

The parse_* functions are plain so they can be tested and reused without click.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import click

from sluice.client._address import holds_user_info

if TYPE_CHECKING:
    _ParamBase = click.ParamType[Any]
else:
    # click < 8.4 has no generic ParamType; pyproject allows click >= 8.1.
    _ParamBase = click.ParamType

# Decimal units for "KB"/"MB"/..., binary for "KiB" and the bare letters, following
# dd(1): people who type "64M" nearly always mean 64 * 2**20.
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kib": 2**10,
    "kb": 10**3,
    "m": 2**20,
    "mib": 2**20,
    "mb": 10**6,
    "g": 2**30,
    "gib": 2**30,
    "gb": 10**9,
    "t": 2**40,
    "tib": 2**40,
    "tb": 10**12,
}
#: The largest values of the proto's integer fields: a number past them cannot be sent
#: (protobuf raises ValueError), so the options holding one refuse it as a usage error.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """ "123" -> 123, "64MiB"/"64M" -> 67108864, "1GB" -> 10**9, "1.5KiB" -> 1536."""
    match = _SIZE_RE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (examples: 123, 64MiB, 1GB)")
    number, unit = match.groups()
    factor = _SIZE_UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(
            f"unknown size unit {unit!r} in {text!r} (use B, KiB, MiB, GiB, KB, MB, GB)"
        )
    # Fraction: exact for every digit given (a float loses those past 2**53, a Decimal
    # those past its context's 28 digits).
    return round(Fraction(number) * factor)


#: gRPC's own target forms (a Unix socket, a resolver's URI), passed on as they are.
_GRPC_TARGET_SCHEMES = ("unix:", "unix-abstract:", "dns:", "ipv4:", "ipv6:", "vsock:")
#: A bracketed IPv6 address may end in a zone id (fe80::1%eth0, a link-local address).
_HOST_PORT_RE = re.compile(r"(\[[0-9A-Fa-f:.]+(?:%[^\s\]/%]+)?\]|[^\s:\[\]/]+):(\d+)")


def parse_server(text: str) -> str:
    """ "127.0.0.1:7070", "host:7070", "[::1]:7070", or one of gRPC's target URIs
    ("unix:/run/sluice.sock", "dns:///host:7070", "ipv4:10.0.0.1:7070"): a misspelt
    address is a usage error, not a server that cannot be reached. User-info (`user:pw@`)
    is refused without repeating the address: it may hold a password (a socket path may
    hold an '@': unix: URIs have no user-info)."""
    if holds_user_info(text):
        raise ValueError(
            "the address holds a user name or password (before '@'), which gRPC never "
            "sends: give HOST:PORT, and a token with --token-file"
        )
    if text.startswith(_GRPC_TARGET_SCHEMES) and not any(c.isspace() for c in text):
        _check_target_uri(text)
        return text
    _check_host_port(text, f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:7070, [::1]:7070)")
    return text


def _check_host_port(text: str, wrong: str) -> None:
    match = _HOST_PORT_RE.fullmatch(text)
    if match is None:
        raise ValueError(wrong)
    port = int(match.group(2))
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is out of range 1-65535")


def _check_target_uri(text: str) -> None:
    """What grpc core would refuse (as UNKNOWN, with log lines of its own) or dial at a
    port nobody meant (Sluice has no default port)."""
    scheme, _, rest = text.partition(":")
    if scheme in ("unix", "unix-abstract"):
        if not rest.strip("/"):
            raise ValueError(f"{text!r}: {scheme}: names a socket (unix:/run/sluice.sock)")
    elif scheme == "dns":
        name = rest[2:].partition("/")[2] if rest.startswith("//") else rest
        _check_host_port(name, f"{text!r}: dns: names HOST:PORT (dns:///sluice.example:7070)")
    elif scheme == "vsock":
        if not re.fullmatch(r"\d+:\d+", rest):
            raise ValueError(f"{text!r}: vsock: names CID:PORT (vsock:3:7070)")
    else:
        for address in rest.split(","):
            _check_ip_port(scheme, address, text)


def _check_ip_port(scheme: str, address: str, text: str) -> None:
    form = "IPV4:PORT (ipv4:10.0.0.1:7070)" if scheme == "ipv4" else "[IPV6]:PORT (ipv6:[::1]:7070)"
    wrong = f"{text!r}: {scheme}: names {form}"
    match = _HOST_PORT_RE.fullmatch(address)
    if match is None:
        raise ValueError(wrong)
    host = match.group(1).removeprefix("[").removesuffix("]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(wrong) from None
    if ip.version != (4 if scheme == "ipv4" else 6) or not 1 <= int(match.group(2)) <= 65535:
        raise ValueError(wrong)


def parse_label(text: str) -> tuple[str, str]:
    """ "team=data" -> ("team", "data"); the value may itself contain '='."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"{text!r} is not a label; expected KEY=VALUE")
    return key, value


def parse_time(text: str) -> datetime:
    """ISO-8601 date or date-time; without an offset it is UTC. Always returns aware."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO-8601 time (examples: 2024-05-01, 2024-05-01T12:00:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def split_list(values: str | tuple[str, ...] | list[str]) -> list[str]:
    """ "a,b" or ("a,b", "c") -> ["a", "b", "c"]; blanks dropped."""
    items = [values] if isinstance(values, str) else list(values)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def parse_schema(text: str) -> list[tuple[str, str]]:
    """ "id:int64, card:str" -> [("id", "int64"), ("card", "str")]. The type follows the
    last ':', so a column name may itself hold one; the server checks names and types."""
    pairs = []
    for item in split_list(text):
        name, sep, kind = item.rpartition(":")
        if not sep or not name.strip() or not kind.strip():
            raise ValueError(f"{item!r} is not COLUMN:TYPE (example: id:int64,zip:str)")
        pairs.append((name.strip(), kind.strip()))
    return pairs


class FieldInt(click.IntRange):
    """An integer bounded by the proto field it fills: checked like IntRange, but the
    bound is left out of --help, where it would read as advice (e.g. --level's
    "zstd 1-22" followed by the int32 range)."""

    def _describe_range(self) -> str:
        return ""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.INT.convert(value, param, ctx)
        low, high = self.min, self.max
        if (low is not None and number < low) or (high is not None and number > high):
            if self.clamp:
                return low if low is not None and number < low else high
            shown = f"{'' if low is None else f'{low}<='}x{'' if high is None else f'<={high}'}"
            self.fail(f"{number} is not in the range {shown}.", param, ctx)
        return number


class _Parsed(_ParamBase):
    """A click type around one of the parse_* functions, turning ValueError into a
    usage error (exit 2) that names the option."""

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class SizeType(_Parsed):
    name = "size"

    def parse(self, text: str) -> int:
        size = parse_size(text)
        if size > INT64_MAX:
            raise ValueError(f"{text!r} is more than the largest size, {INT64_MAX} bytes")
        return size


class ServerType(_Parsed):
    name = "host:port"

    def parse(self, text: str) -> str:
        return parse_server(text)


class LabelType(_Parsed):
    name = "key=value"

    def parse(self, text: str) -> tuple[str, str]:
        return parse_label(text)


class TimeType(_Parsed):
    name = "time"

    def parse(self, text: str) -> datetime:
        return parse_time(text)


class ListType(_Parsed):
    name = "a,b,..."

    def parse(self, text: str) -> list[str]:
        return split_list(text)


class SchemaType(_Parsed):
    name = "column:type,..."

    def parse(self, text: str) -> list[tuple[str, str]]:
        return parse_schema(text)


class SecretNameType(_ParamBase):
    """The name of a secret (or of the variable holding one): an empty or blank value is
    refused, never taken as "not given" — `--passphrase-secret "$NAME"` with NAME unset
    must not quietly export in plaintext. The option's default (None) means not given."""

    name = "name"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail(
                "is empty: give a name, or leave the option out (an unset shell "
                "variable in its place?)",
                param,
                ctx,
            )
        return value


SIZE = SizeType()
LABEL = LabelType()
TIME = TimeType()
LIST = ListType()
SCHEMA = SchemaType()
SECRET_NAME = SecretNameType()

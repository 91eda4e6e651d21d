"""Reading typed values out of parsed JSON, naming the place of the first bad one
("chunks[3].sha256"), for the manifest model. Standard library only."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


class ManifestError(ValueError):
    """The bytes are not a readable Sluice manifest; one line saying where and why."""


class UnknownFormatVersion(ManifestError):
    """A manifest of a format version this Sluice does not read (a newer one's?)."""


class Fields:
    """The members of one JSON object at `where` ("" for the document itself)."""

    def __init__(self, raw: Any, where: str = "") -> None:
        if not isinstance(raw, Mapping):
            raise ManifestError(f"{where or 'the manifest'} must be a JSON object")
        self._raw = raw
        self._where = where

    def place(self, name: str) -> str:
        return f"{self._where}.{name}" if self._where else name

    def has(self, name: str) -> bool:
        return self._raw.get(name) is not None

    def raw(self, name: str) -> Any:
        """The member as parsed (None when absent), for parts the model keeps as JSON."""
        return self._raw.get(name)

    def raw_members(self) -> list[tuple[str, Any]]:
        """Every member, in document order, as parsed."""
        return [(str(k), v) for k, v in self._raw.items()]

    def object(self, name: str) -> Fields | None:
        value = self._raw.get(name)
        return None if value is None else Fields(value, self.place(name))

    def text(self, name: str, default: str = "") -> str:
        value = self._raw.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._wrong(name, "text")
        return value

    def required_text(self, name: str) -> str:
        if name not in self._raw:
            raise ManifestError(f"{self.place(name)} is missing")
        value = self.text(name)
        if self._raw[name] is None:
            raise self._wrong(name, "text")
        return value

    def optional_text(self, name: str) -> str | None:
        return None if self._raw.get(name) is None else self.text(name)

    def integer(self, name: str, default: int = 0) -> int:
        value = self._raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(name, "an integer")
        return value

    def required_integer(self, name: str) -> int:
        if self._raw.get(name) is None:
            raise ManifestError(f"{self.place(name)} is missing")
        return self.integer(name)

    def optional_integer(self, name: str) -> int | None:
        return None if self._raw.get(name) is None else self.integer(name)

    def flag(self, name: str) -> bool | None:
        value = self._raw.get(name)
        if value is not None and not isinstance(value, bool):
            raise self._wrong(name, "true or false")
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        value = self._raw.get(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._wrong(name, "a list of texts")
        return tuple(value)

    def objects(self, name: str) -> list[Fields]:
        value = self._raw.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(name, "a list")
        return [Fields(item, f"{self.place(name)}[{i}]") for i, item in enumerate(value)]

    def text_map(self, name: str) -> tuple[tuple[str, str], ...]:
        value = self._raw.get(name)
        if value is None:
            return ()
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise self._wrong(name, "an object of texts")
        return tuple((str(k), v) for k, v in value.items())

    def time(self, name: str) -> datetime | None:
        text = self.optional_text(name)
        if text is None:
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise self._wrong(name, "an ISO 8601 time") from None

    def _wrong(self, name: str, expected: str) -> ManifestError:
        return ManifestError(f"{self.place(name)} must be {expected}")

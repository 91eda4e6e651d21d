"""The one place where a destination URI becomes a stacked Sink (backend + retries)."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import fsspec
import fsspec.core
from fsspec.implementations.local import LocalFileSystem

from sinks.azure import AzureLocation, AzureSink
from sinks.base import Sink
from sinks.fsspec_sink import FsspecSink, translate_fsspec_error
from sinks.local import LocalSink
from sinks.memory import MemorySink
from sinks.profiles import AzureProfile, S3Profile, profile_kind_for
from sinks.retry import RetryingSink, RetryPolicy
from sinks.s3 import S3Location, S3Sink

_MEMORY_SCHEME = "memory://"
_FILE_SCHEME = "file://"

_memory_sinks: dict[str, MemorySink] = {}
_memory_lock = threading.Lock()


def is_local_uri(uri: str) -> bool:
    """True for a plain filesystem path or a file:// URL."""
    return bool(uri) and (uri.startswith(_FILE_SCHEME) or "://" not in uri)


def local_path(uri: str) -> Path:
    """The absolute, symlink-resolved folder a local destination names.

    Resolved so that confinement checks (`path.is_relative_to(allowed_root)`) compare the
    folder that will really be written, not a spelling of it with '..' or links.
    """
    if not is_local_uri(uri):
        raise ValueError(f"{uri!r} is not a local path or file:// URL")
    if uri.startswith(_FILE_SCHEME):
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file:// URL {uri!r} names host {parts.netloc!r}; only local paths")
        if parts.query or parts.fragment:
            raise ValueError(f"file:// URL {uri!r} must not have a query or fragment")
        path = unquote(parts.path)
        if not path:
            raise ValueError(f"file:// URL {uri!r} has no path")
        return Path(path).resolve()
    return Path(uri).resolve()


def memory_sink(name: str) -> MemorySink:
    """The process-wide MemorySink registered under `name`, created on first use."""
    with _memory_lock:
        sink = _memory_sinks.get(name)
        if sink is None:
            sink = _memory_sinks[name] = MemorySink(name)
        return sink


def reset_memory_sinks() -> None:
    """Forget every registered MemorySink (tests start from empty storage)."""
    with _memory_lock:
        _memory_sinks.clear()


def _without_secrets(uri: str) -> str:
    """The URI minus password and query string, which may carry credentials or tokens."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _backend(uri: str) -> Sink:
    if not uri:
        raise ValueError("destination is empty")
    if is_local_uri(uri):
        # Not created here: a destination that is never written leaves no folder behind.
        return LocalSink(local_path(uri))
    if uri.startswith(_MEMORY_SCHEME):
        return memory_sink(uri.removeprefix(_MEMORY_SCHEME))
    if "::" in uri:
        # A chain ("simplecache::file://...", "dir::...") could reach local files while
        # bypassing the allowed-root check that local destinations get.
        raise ValueError("chained fsspec URLs ('a::b://...') are not supported as destinations")
    protocol = uri.partition("://")[0]
    safe_uri = _without_secrets(uri)
    try:
        fs, root = fsspec.core.url_to_fs(uri)
    except ImportError as exc:
        raise ValueError(
            f"unsupported destination protocol {protocol!r} (its fsspec backend is not "
            f"installed: {exc})"
        ) from None
    except ValueError as exc:
        if protocol not in fsspec.available_protocols():
            raise ValueError(f"unsupported destination protocol {protocol!r}") from None
        # The backend's message may quote options that carry credentials.
        raise ValueError(f"invalid destination {safe_uri!r}") from exc
    except OSError as exc:
        # Some backends connect when constructed (sftp, ftp).
        raise translate_fsspec_error(exc, "connect to", safe_uri) from exc
    if isinstance(fs, LocalFileSystem):
        raise ValueError(f"local destination {safe_uri!r} must be a plain path or a file:// URL")
    return FsspecSink(fs, root, safe_uri)


def _cloud_backend(uri: str, profile: S3Profile | AzureProfile | None) -> Sink | None:
    """The dedicated resumable backend for s3:// and az:// / abfs:// URIs, else None."""
    kind = profile_kind_for(uri)
    if not kind:
        if profile is not None:
            raise ValueError(f"storage profiles apply to s3:// and az:// URIs, not {uri!r}")
        return None
    if profile is not None and profile.kind != kind:
        raise ValueError(f"a {profile.kind} storage profile cannot reach {_without_secrets(uri)!r}")
    if kind == "s3":
        s3_profile = profile if isinstance(profile, S3Profile) else S3Profile()
        return S3Sink(S3Location.parse(uri), s3_profile)
    azure_profile = profile if isinstance(profile, AzureProfile) else AzureProfile()
    return AzureSink(AzureLocation.parse(uri), azure_profile)


def open_sink(
    uri: str,
    *,
    retry: RetryPolicy | None = None,
    profile: S3Profile | AzureProfile | None = None,
) -> Sink:
    """The sink for a destination: a local path or file:// URL, memory://NAME, s3://,
    az:// or abfs:// (resumable, reached as `profile` says), or any other fsspec URL,
    wrapped in retries per `retry` (default: RetryPolicy()).

    Raises ValueError for a destination that cannot name a sink (callers answer
    INVALID_ARGUMENT); nothing is written.
    """
    backend = _cloud_backend(uri, profile) or _backend(uri)
    return RetryingSink(backend, retry if retry is not None else RetryPolicy())

"""Whole objects an export stores beside its chunks under fixed names (its documents and
manifest.json.sig), written so that a run which lost its lease cannot replace the new
holder's: exclusively, and over an object already there only once the lease is confirmed.
The sink cannot take part in the job store's transaction, so this is as close to a
fenced write as storage allows."""

from __future__ import annotations

from collections.abc import Callable

from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink
from sluice.sinks.errors import ObjectExists


def store_fenced(sink: Sink, key: str, body: bytes, renew: Callable[[], object]) -> None:
    """Store `body` under `key`. One already there (an earlier attempt's, or the new
    holder's when this run lost its lease) is replaced only after `renew` confirmed the
    lease (it raises LeaseLost otherwise, and nothing is replaced)."""
    if not store_whole(sink, key, body, overwrite=False):
        renew()
        store_whole(sink, key, body, overwrite=True)


def store_whole(sink: Sink, key: str, body: bytes, *, overwrite: bool) -> bool:
    """Write one whole object; False when `overwrite` is off and `key` is taken."""
    with storage_errors():
        writer = sink.create(key, overwrite=overwrite)
        try:
            writer.write(body)
            writer.commit()
        except ObjectExists:
            writer.abort()
            return False
        except BaseException:
            writer.abort()
            raise
    return True

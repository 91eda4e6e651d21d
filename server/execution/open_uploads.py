"""What an export left open in its destination: resumable uploads its journal lists,
stray uploads under its folder, half-written temporary files. Swept by a run before it
continues and after it fails, by a cancel of a queued export, and by `export delete` of
a cancelled or failed export (which can never resume to sweep them itself)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sluice.server.errors import SluiceError
from sluice.server.jobs.model import Lease
from sluice.server.jobs.store import JobStore
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink

_log = logging.getLogger("sluice.export")


def discard_uploads(
    sink: Sink,
    job_id: str,
    store: JobStore,
    prefix: str,
    lease: Lease | None = None,
    *,
    quietly: bool = True,
) -> None:
    """Abort whatever the export still has open in the store, and drop its temporary
    files: the writer aborted its own upload already; this catches one whose abort
    failed, or one left by a previous run (a failed or cancelled export's folder stays).
    `quietly`, a storage error is logged and the rest still tried (an upload whose abort
    failed stays journalled); otherwise it is raised, and a later call does the rest."""
    abort_journalled_uploads(sink, job_id, store, keep="", quietly=quietly, lease=lease)
    abort_stray_uploads(sink, prefix, quietly=quietly)
    remove_stale_temporaries(sink, prefix, quietly=quietly)


def abort_stray_uploads(sink: Sink, prefix: str, *, quietly: bool) -> None:
    _sweep(
        sink.abort_stray_uploads,
        prefix,
        quietly,
        "sweep open uploads",
        "aborted %d upload(s) left open",
    )


def abort_journalled_uploads(
    sink: Sink,
    job_id: str,
    store: JobStore,
    *,
    keep: str,
    quietly: bool = False,
    lease: Lease | None = None,
) -> None:
    """Abort the job's journalled resumable uploads except `keep`'s, and forget them: none
    is continued or completed after. S3 discards their parts; on Azure their staged
    blocks (one chunk's at most per upload) stay uncommitted and invisible until the key's next
    commit or Azure's expiry a week on (see Sink.abort_upload)."""
    for key, state in store.uploads(job_id):
        if key == keep:
            continue
        try:
            with storage_errors():
                sink.abort_upload(key, state)
        except SluiceError as exc:
            if not quietly:
                raise
            _log.warning("export %s: could not abort the upload of %s: %s", job_id, key, exc)
            continue
        store.delete_upload(job_id, key, lease=lease)


def remove_stale_temporaries(sink: Sink, prefix: str, *, quietly: bool = False) -> None:
    """Drop half-written files a crash left in the export's folder (stores that write
    through temporary files; call only while no writer of the export is active)."""
    _sweep(
        sink.remove_stale_temporaries,
        prefix,
        quietly,
        "remove temporary files",
        "removed %d stale temporary file(s)",
    )


def _sweep(sweep: Callable[[str], int], prefix: str, quietly: bool, doing: str, done: str) -> None:
    """Run a storage sweep of the folder `prefix` and log what it found; a storage error
    is logged when `quietly`, raised otherwise."""
    try:
        with storage_errors():
            count = sweep(prefix + "/")
    except SluiceError as exc:
        if not quietly:
            raise
        _log.warning("could not %s under %s: %s", doing, prefix, exc)
        return
    if count:
        _log.info(done + " under %s", count, prefix)

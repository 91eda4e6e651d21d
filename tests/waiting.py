"""Waiting in tests for something a daemon or a server does, and for a cancelled export
to end: one poll loop and one cancel check shared by the cancel, race and lease tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from sluice.client import ExportClient
from sluice.client._errors import SluiceError


def until(condition: Callable[[], bool], what: str, within: float = 30.0) -> float:
    """Seconds until `condition()` held; fails naming `what` after `within` seconds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what} (after {within:g}s)")
        time.sleep(0.05)
    return time.monotonic() - started


def cancelled_within(
    client: ExportClient, export_id: str, limit: float = 10.0, timeout: float = 30.0
) -> float:
    """Cancel the export and wait for it: it must end CANCELLED within `limit` seconds
    of the cancel (a statement still running would hold it longer). Returns them."""
    cancelled_at = time.monotonic()
    client.cancel(export_id)
    with pytest.raises(SluiceError) as caught:
        client.wait(export_id, timeout=timeout)
    took = time.monotonic() - cancelled_at
    assert caught.value.code == "CANCELLED", caught.value
    assert took < limit, f"CANCELLED {took:.1f}s after the cancel"
    return took

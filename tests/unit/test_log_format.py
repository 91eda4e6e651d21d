"""The JSON log format: one object per line with ts, level, logger and msg, plus the
export's id and dataset (and the caller's principal) inside their context only."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from collections.abc import Iterator

import pytest

from sluice.server import log_setup
from sluice.server.log_setup import log_context


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log_setup.json_formatter())
    handler.addFilter(log_setup._ContextFilter())
    logger = logging.getLogger("sluice.test-json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_object_per_line_with_the_fixed_fields(json_lines: io.StringIO) -> None:
    log = logging.getLogger("sluice.test-json")
    log.info("export %s running", "abc")
    log.warning("two\nlines")
    first, second = _lines(json_lines)
    assert first["msg"] == "export abc running"
    assert first["level"] == "INFO" and first["logger"] == "sluice.test-json"
    assert isinstance(first["ts"], str) and first["ts"].endswith("+00:00")
    assert "export_id" not in first
    assert second["msg"] == "two\nlines" and second["level"] == "WARNING"


def test_context_fields_inside_their_context_only(json_lines: io.StringIO) -> None:
    log = logging.getLogger("sluice.test-json")
    with log_context(export_id="e1"):
        log.info("outer")
        with log_context(dataset="events", principal="billing"):
            log.info("inner")
        log.info("outer again")
    log.info("outside")
    outer, inner, again, outside = _lines(json_lines)
    assert outer["export_id"] == "e1" and "dataset" not in outer
    assert (inner["export_id"], inner["dataset"], inner["principal"]) == ("e1", "events", "billing")
    assert "dataset" not in again and again["export_id"] == "e1"
    assert not {"export_id", "dataset", "principal"} & outside.keys()


def test_unknown_context_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="password"), log_context(password="x"):
        pass


def test_a_calls_principal_stays_in_that_calls_context(json_lines: io.StringIO) -> None:
    """The auth interceptor runs each call in a copied context and names its principal
    there: the call's records carry it, nothing else does."""
    log = logging.getLogger("sluice.test-json")
    call = contextvars.copy_context()
    call.run(log_setup.set_log_principal, "billing-nightly")
    call.run(log.info, "inside the call")
    log.info("another call")
    anonymous = contextvars.copy_context()
    anonymous.run(log_setup.set_log_principal, "")
    anonymous.run(log.info, "anonymous call")
    inside, other, nobody = _lines(json_lines)
    assert inside["principal"] == "billing-nightly"
    assert "principal" not in other and "principal" not in nobody

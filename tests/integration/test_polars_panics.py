"""A Polars panic on user data (a BaseException, which `except Exception` misses) fails
its export with INTERNAL naming the stage, never a hang or a dead daemon. The input is
real: a Parquet timestamp[us] of 2**63-1 (an "infinity" some writers store), which
Polars panics on when it writes it as text ("invalid or out-of-range datetime")."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice.client import ExportClient, ExportFailedError, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import read_export

pytestmark = pytest.mark.integration


def _infinite_times(path: Path) -> Path:
    times = pa.array([0, 2**63 - 1], pa.timestamp("us"))
    pq.write_table(pa.table({"id": [1, 2], "ts": times}), path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_a_polars_panic_while_encoding_fails_the_export_naming_the_stage(
    daemon: Daemon, fmt: str
) -> None:
    source = _infinite_times(daemon.sources / f"infinite-{fmt}.parquet")
    spec = ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset=f"panic-{fmt}", format=fmt
    )
    with ExportClient(daemon.address) as client:
        with pytest.raises(ExportFailedError) as failed:
            client.wait(client.create(spec).id, timeout=180)
        error = failed.value.export.error
        assert error.code == "INTERNAL", error
        assert "panicked" in error.message and "encod" in error.message, error.message
        assert "out-of-range" not in error.message, error.message
        # The daemon and its workers go on: the next export runs.
        fine = ExportClient.build_spec(
            source=str(source), to=str(daemon.exports), dataset=f"fine-{fmt}", format="parquet"
        )
        done = client.wait(client.create(fine).id, timeout=180)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    assert read_export(done.manifest_uri)["id"].to_list() == [1, 2]


def test_a_where_polars_panics_on_is_refused_as_the_callers_argument(daemon: Daemon) -> None:
    """Polars panics type-checking a cast to a decimal wider than 38 digits ("index out
    of bounds"): the caller's expression, refused as INVALID_ARGUMENT naming the field,
    not an INTERNAL of the daemon's."""
    source = _infinite_times(daemon.sources / "where.parquet")
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="where",
        where="CAST(id AS DECIMAL(76, 2)) > 1",
    )
    with ExportClient(daemon.address) as client:
        with pytest.raises(InvalidArgumentError) as refused:
            client.create(spec)
        assert "spec.query.where" in str(refused.value), refused.value
        assert "Polars" in str(refused.value), refused.value
        # The daemon goes on.
        fine = ExportClient.build_spec(
            source=str(source), to=str(daemon.exports), dataset="where", format="parquet"
        )
        done = client.wait(client.create(fine).id, timeout=180)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error


def test_a_where_polars_panics_on_for_the_rows_is_invalid_argument_naming_it(
    daemon: Daemon,
) -> None:
    """A where that passes planning's check on no rows, then panics Polars on a real row
    (casting the "infinite" time to text): the caller's expression, so INVALID_ARGUMENT
    naming spec.query.where, not an INTERNAL; never the value."""
    source = _infinite_times(daemon.sources / "where-rows.parquet")
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="where-rows",
        where="CAST(ts AS VARCHAR) = 'x'",
    )
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(spec).id, timeout=180)
    error = failed.value.export.error
    assert error.code == "INVALID_ARGUMENT", error
    assert error.message.startswith("spec.query.where: Polars panicked"), error.message
    assert "out-of-range" not in error.message and "9223372036854775807" not in error.message


def test_a_redaction_polars_panics_on_fails_internal_naming_the_stage(daemon: Daemon) -> None:
    """The query stage's guard also holds the redaction: a rule that panics Polars on a
    row (masking the "infinite" time, as text) fails INTERNAL naming the stage, not the
    caller's where (there is none)."""
    source = _infinite_times(daemon.sources / "mask.parquet")
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="mask",
        format="parquet",
        redaction=pb.Redaction(rules=[pb.RedactionRule(column="ts", action="mask")]),
    )
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(spec).id, timeout=180)
    error = failed.value.export.error
    assert error.code == "INTERNAL", error
    assert "panicked while querying and redacting" in error.message, error.message
    assert "out-of-range" not in error.message, error.message

"""Client calls for committed exports: verify, diff, delete, retention, dataset history.
Mixed into ExportClient; every call translates gRPC failures like the others."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

from sluice.v1 import export_pb2, export_pb2_grpc


class HistoryCalls:
    _stub: export_pb2_grpc.ExportServiceStub
    timeout: float

    def _translated(  # provided by ExportClient
        self, call: str, deadline: float | None
    ) -> AbstractContextManager[None]:
        raise NotImplementedError

    # `storage_profile` names a server storage profile that reaches a manifest URI or a
    # destination on s3:// or az:// (as `build_spec(storage_profile=...)` does for an
    # export); "" for the server's default credentials. An export id is reached as it
    # was written.

    def verify(
        self, export: str, *, storage_profile: str = "", allow_unsigned: bool = False
    ) -> export_pb2.VerifyExportResponse:
        """Re-read every chunk of an export (id or manifest URI) and check its digests.
        `allow_unsigned`: on a daemon that signs manifests, one without manifest.json.sig
        (made before it signed) is reported `unsigned` rather than corrupt."""
        request = export_pb2.VerifyExportRequest(
            export=export, profile=storage_profile, allow_unsigned=allow_unsigned
        )
        with self._translated("VerifyExport", None):
            return self._stub.VerifyExport(request, timeout=None)

    def diff(
        self, base: str, other: str, *, storage_profile: str = ""
    ) -> export_pb2.DiffExportsResponse:
        """Chunk-level differences between two exports of one dataset."""
        request = export_pb2.DiffExportsRequest(base=base, other=other, profile=storage_profile)
        with self._translated("DiffExports", self.timeout):
            return self._stub.DiffExports(request, timeout=self.timeout)

    def diff_records(
        self, base: str, other: str, *, storage_profile: str = ""
    ) -> Iterator[export_pb2.RecordDiffEvent]:
        """Record-level differences of two keyed exports: batches of changes in
        key-digest order, then a summary. Streamed: memory stays flat however many."""
        request = export_pb2.DiffExportsRequest(base=base, other=other, profile=storage_profile)
        with self._translated("DiffExportRecords", None):
            yield from self._stub.DiffExportRecords(request, timeout=None)

    def delete(self, export: str, *, storage_profile: str = "") -> export_pb2.DeleteExportResponse:
        request = export_pb2.DeleteExportRequest(export=export, profile=storage_profile)
        with self._translated("DeleteExport", None):
            return self._stub.DeleteExport(request, timeout=None)

    def retain(
        self,
        destination: str,
        dataset: str,
        *,
        keep_last: int = 0,
        keep_daily: int = 0,
        keep_weekly: int = 0,
        keep_monthly: int = 0,
        keep_within_days: int = 0,
        dry_run: bool = False,
        storage_profile: str = "",
    ) -> export_pb2.ApplyRetentionResponse:
        policy = export_pb2.RetentionPolicy(
            keep_last=keep_last,
            keep_daily=keep_daily,
            keep_weekly=keep_weekly,
            keep_monthly=keep_monthly,
            keep_within_days=keep_within_days,
        )
        request = export_pb2.ApplyRetentionRequest(
            destination=destination,
            dataset=dataset,
            policy=policy,
            dry_run=dry_run,
            profile=storage_profile,
        )
        with self._translated("ApplyRetention", None):
            return self._stub.ApplyRetention(request, timeout=None)

    def dataset_exports(
        self, destination: str, dataset: str, *, storage_profile: str = ""
    ) -> list[export_pb2.DatasetExport]:
        """A dataset's committed exports as found in its destination, oldest first."""
        request = export_pb2.ListDatasetExportsRequest(
            destination=destination, dataset=dataset, profile=storage_profile
        )
        with self._translated("ListDatasetExports", self.timeout):
            return list(self._stub.ListDatasetExports(request, timeout=self.timeout).exports)

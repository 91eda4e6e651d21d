"""sluice.v1.ExportService: request -> domain call -> response, nothing more."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from sluice.server.rpc.admin_convert import (
    dataset_exports_to_proto,
    diff_to_proto,
    policy_from_proto,
    record_diff_to_proto,
    retention_to_proto,
    verify_to_proto,
)
from sluice.server.rpc.convert import (
    event_to_proto,
    job_to_proto,
    server_info_to_proto,
    sources_to_proto,
    spec_from_proto,
    states_from_proto,
    templates_to_proto,
)
from sluice.server.service.export_admin import ExportAdmin
from sluice.server.service.export_service import ExportService
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc


class ExportServicer(export_pb2_grpc.ExportServiceServicer):
    def __init__(self, service: ExportService, admin: ExportAdmin) -> None:
        self._service = service
        self._admin = admin

    def CreateExport(  # noqa: N802 - names fixed by the generated base class
        self, request: pb.CreateExportRequest, context: grpc.ServicerContext
    ) -> pb.Export:
        job = self._service.create(spec_from_proto(request), request.request_id)
        return job_to_proto(job)

    def GetExport(  # noqa: N802
        self, request: pb.GetExportRequest, context: grpc.ServicerContext
    ) -> pb.Export:
        return job_to_proto(self._service.get(request.id))

    def ListExports(  # noqa: N802
        self, request: pb.ListExportsRequest, context: grpc.ServicerContext
    ) -> pb.ListExportsResponse:
        page = self._service.list(
            states=states_from_proto(list(request.states)),
            labels=tuple(sorted(request.labels.items())),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListExportsResponse(
            exports=[job_to_proto(job) for job in page.jobs],
            next_page_token=page.next_page_token,
        )

    def WatchExport(  # noqa: N802
        self, request: pb.WatchExportRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ExportEvent]:
        for event in self._service.watch(request.id, context.is_active):
            yield event_to_proto(event)

    def CancelExport(  # noqa: N802
        self, request: pb.CancelExportRequest, context: grpc.ServicerContext
    ) -> pb.Export:
        return job_to_proto(self._service.cancel(request.id))

    def ResumeExport(  # noqa: N802
        self, request: pb.ResumeExportRequest, context: grpc.ServicerContext
    ) -> pb.Export:
        return job_to_proto(self._service.resume(request.id))

    def GetServerInfo(  # noqa: N802
        self, request: pb.GetServerInfoRequest, context: grpc.ServicerContext
    ) -> pb.ServerInfo:
        return server_info_to_proto(self._service.server_info())

    def VerifyExport(  # noqa: N802
        self, request: pb.VerifyExportRequest, context: grpc.ServicerContext
    ) -> pb.VerifyExportResponse:
        return verify_to_proto(self._admin.verify(request.export))

    def DiffExports(  # noqa: N802
        self, request: pb.DiffExportsRequest, context: grpc.ServicerContext
    ) -> pb.DiffExportsResponse:
        return diff_to_proto(*self._admin.diff(request.base, request.other))

    def DiffExportRecords(  # noqa: N802
        self, request: pb.DiffExportsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.RecordDiffEvent]:
        for item in self._admin.diff_records(request.base, request.other):
            yield record_diff_to_proto(item)

    def DeleteExport(  # noqa: N802
        self, request: pb.DeleteExportRequest, context: grpc.ServicerContext
    ) -> pb.DeleteExportResponse:
        return pb.DeleteExportResponse(objects_removed=self._admin.delete(request.export))

    def ApplyRetention(  # noqa: N802
        self, request: pb.ApplyRetentionRequest, context: grpc.ServicerContext
    ) -> pb.ApplyRetentionResponse:
        plan = self._admin.retain(
            request.destination,
            request.dataset,
            policy_from_proto(request.policy),
            dry_run=request.dry_run,
        )
        return retention_to_proto(plan)

    def ListDatasetExports(  # noqa: N802
        self, request: pb.ListDatasetExportsRequest, context: grpc.ServicerContext
    ) -> pb.ListDatasetExportsResponse:
        return dataset_exports_to_proto(self._admin.chain(request.destination, request.dataset))

    def ListSources(  # noqa: N802
        self, request: pb.ListSourcesRequest, context: grpc.ServicerContext
    ) -> pb.ListSourcesResponse:
        return sources_to_proto(self._service.sources())

    def ListTemplates(  # noqa: N802
        self, request: pb.ListTemplatesRequest, context: grpc.ServicerContext
    ) -> pb.ListTemplatesResponse:
        return templates_to_proto(self._service.templates())

"""sluice.v1.ExportService: request -> domain call -> response, nothing more. Each call
is made as its caller (the principal the AuthInterceptor found), passed as a plain value."""

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
from sluice.server.rpc.auth import caller
from sluice.server.rpc.convert import (
    job_to_proto,
    server_info_to_proto,
    sources_to_proto,
    spec_from_proto,
    states_from_proto,
    templates_to_proto,
    text_plan_to_proto,
)
from sluice.server.rpc.schedule_convert import new_schedule_from_proto, schedule_to_proto
from sluice.server.rpc.shared_events import SharedEventMessages
from sluice.server.service.export_admin import ExportAdmin
from sluice.server.service.export_service import ExportService
from sluice.server.service.schedule_service import ScheduleService
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc


class ExportServicer(export_pb2_grpc.ExportServiceServicer):
    def __init__(
        self, service: ExportService, admin: ExportAdmin, schedules: ScheduleService
    ) -> None:
        self._service = service
        self._admin = admin
        self._schedules = schedules
        self._event_messages = SharedEventMessages()

    def CreateExport(  # noqa: N802 - names fixed by the generated base class
        self, request: pb.CreateExportRequest, context: grpc.ServicerContext
    ) -> pb.Export:
        job = self._service.create(spec_from_proto(request), request.request_id, principal=caller())
        return job_to_proto(job)

    def GetExport(  # noqa: N802
        self, request: pb.GetExportRequest, context: grpc.ServicerContext
    ) -> pb.Export:
        return job_to_proto(self._service.get(request.id, caller()))

    def ListExports(  # noqa: N802
        self, request: pb.ListExportsRequest, context: grpc.ServicerContext
    ) -> pb.ListExportsResponse:
        page = self._service.list(
            states=states_from_proto(list(request.states)),
            labels=tuple(sorted(request.labels.items())),
            page_size=request.page_size,
            page_token=request.page_token,
            principal=caller(),
        )
        return pb.ListExportsResponse(
            exports=[job_to_proto(job) for job in page.jobs],
            next_page_token=page.next_page_token,
        )

    def WatchExport(  # noqa: N802
        self, request: pb.WatchExportRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ExportEvent]:
        for event in self._service.watch(request.id, context.is_active, caller()):
            yield self._event_messages.message(event)

    def CancelExport(  # noqa: N802
        self, request: pb.CancelExportRequest, context: grpc.ServicerContext
    ) -> pb.Export:
        return job_to_proto(self._service.cancel(request.id, caller()))

    def ResumeExport(  # noqa: N802
        self, request: pb.ResumeExportRequest, context: grpc.ServicerContext
    ) -> pb.Export:
        return job_to_proto(self._service.resume(request.id, caller()))

    def GetServerInfo(  # noqa: N802
        self, request: pb.GetServerInfoRequest, context: grpc.ServicerContext
    ) -> pb.ServerInfo:
        return server_info_to_proto(self._service.server_info(caller()))

    def VerifyExport(  # noqa: N802
        self, request: pb.VerifyExportRequest, context: grpc.ServicerContext
    ) -> pb.VerifyExportResponse:
        report = self._admin.verify(
            request.export, caller(), request.profile, allow_unsigned=request.allow_unsigned
        )
        return verify_to_proto(report)

    def DiffExports(  # noqa: N802
        self, request: pb.DiffExportsRequest, context: grpc.ServicerContext
    ) -> pb.DiffExportsResponse:
        return diff_to_proto(
            *self._admin.diff(request.base, request.other, caller(), request.profile)
        )

    def DiffExportRecords(  # noqa: N802
        self, request: pb.DiffExportsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.RecordDiffEvent]:
        changes = self._admin.diff_records(request.base, request.other, caller(), request.profile)
        for item in changes:
            yield record_diff_to_proto(item)

    def DeleteExport(  # noqa: N802
        self, request: pb.DeleteExportRequest, context: grpc.ServicerContext
    ) -> pb.DeleteExportResponse:
        removed = self._admin.delete(request.export, caller(), request.profile)
        return pb.DeleteExportResponse(objects_removed=removed)

    def ApplyRetention(  # noqa: N802
        self, request: pb.ApplyRetentionRequest, context: grpc.ServicerContext
    ) -> pb.ApplyRetentionResponse:
        plan = self._admin.retain(
            request.destination,
            request.dataset,
            policy_from_proto(request.policy),
            dry_run=request.dry_run,
            principal=caller(),
            profile=request.profile,
        )
        return retention_to_proto(plan)

    def ListDatasetExports(  # noqa: N802
        self, request: pb.ListDatasetExportsRequest, context: grpc.ServicerContext
    ) -> pb.ListDatasetExportsResponse:
        return dataset_exports_to_proto(
            self._admin.chain(request.destination, request.dataset, caller(), request.profile)
        )

    def CreateSchedule(  # noqa: N802
        self, request: pb.CreateScheduleRequest, context: grpc.ServicerContext
    ) -> pb.Schedule:
        return schedule_to_proto(self._schedules.create(new_schedule_from_proto(request), caller()))

    def ListSchedules(  # noqa: N802
        self, request: pb.ListSchedulesRequest, context: grpc.ServicerContext
    ) -> pb.ListSchedulesResponse:
        views = self._schedules.list(caller())
        return pb.ListSchedulesResponse(schedules=[schedule_to_proto(view) for view in views])

    def GetSchedule(  # noqa: N802
        self, request: pb.GetScheduleRequest, context: grpc.ServicerContext
    ) -> pb.Schedule:
        return schedule_to_proto(self._schedules.get(request.name, caller()))

    def PauseSchedule(  # noqa: N802
        self, request: pb.PauseScheduleRequest, context: grpc.ServicerContext
    ) -> pb.Schedule:
        return schedule_to_proto(self._schedules.pause(request.name, caller()))

    def ResumeSchedule(  # noqa: N802
        self, request: pb.ResumeScheduleRequest, context: grpc.ServicerContext
    ) -> pb.Schedule:
        return schedule_to_proto(self._schedules.resume(request.name, caller()))

    def DeleteSchedule(  # noqa: N802
        self, request: pb.DeleteScheduleRequest, context: grpc.ServicerContext
    ) -> pb.DeleteScheduleResponse:
        self._schedules.delete(request.name, caller())
        return pb.DeleteScheduleResponse()

    def TriggerSchedule(  # noqa: N802
        self, request: pb.TriggerScheduleRequest, context: grpc.ServicerContext
    ) -> pb.Export:
        return job_to_proto(self._schedules.trigger(request.name, caller()))

    def PlanFromText(  # noqa: N802
        self, request: pb.PlanFromTextRequest, context: grpc.ServicerContext
    ) -> pb.PlanFromTextResponse:
        return text_plan_to_proto(
            self._service.plan_from_text(request.text, request.time_zone, principal=caller())
        )

    def ListSources(  # noqa: N802
        self, request: pb.ListSourcesRequest, context: grpc.ServicerContext
    ) -> pb.ListSourcesResponse:
        return sources_to_proto(self._service.sources(caller()))

    def ListTemplates(  # noqa: N802
        self, request: pb.ListTemplatesRequest, context: grpc.ServicerContext
    ) -> pb.ListTemplatesResponse:
        return templates_to_proto(self._service.templates(caller()))

"""Schedules between proto messages and the schedule service's types."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from sluice.server.rpc.convert import STATE_TO_PROTO, spec_from_proto, spec_to_proto
from sluice.server.service.schedule_service import NewSchedule, ScheduleView
from sluice.v1 import export_pb2 as pb


def new_schedule_from_proto(request: pb.CreateScheduleRequest) -> NewSchedule:
    export_request = pb.CreateExportRequest()
    if request.HasField("spec"):
        export_request.spec.CopyFrom(request.spec)
    return NewSchedule(
        name=request.name,
        spec=spec_from_proto(export_request),
        cron=request.cron,
        timezone=request.timezone,
        concurrency=request.concurrency,
        catch_up=request.catch_up,
        paused=request.paused,
    )


def schedule_to_proto(view: ScheduleView) -> pb.Schedule:
    schedule = view.schedule
    message = pb.Schedule(
        name=schedule.name,
        spec=spec_to_proto(schedule.spec),
        cron=schedule.cron,
        timezone=schedule.timezone,
        concurrency=schedule.concurrency,
        catch_up=schedule.catch_up,
        paused=schedule.paused,
        last_export_id=schedule.last_export_id,
        skipped_ticks=schedule.skipped_ticks,
        last_error=schedule.last_error,
    )
    if view.last_export_state is not None:
        message.last_export_state = STATE_TO_PROTO[view.last_export_state]
    for field, value in (
        ("created_at", schedule.created_at),
        ("next_tick", schedule.next_tick),
        ("last_tick", schedule.last_tick),
        ("last_skipped_tick", schedule.last_skipped_tick),
    ):
        if value is not None:
            getattr(message, field).CopyFrom(_timestamp(value))
    return message


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp

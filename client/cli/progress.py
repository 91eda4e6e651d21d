"""Following an export: a live rich progress bar, or plain lines when not on a terminal.

Rates and the ETA come from the server's Progress messages rather than rich's own
estimates, so every client shows the same numbers the daemon computed.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TaskProgressColumn, TextColumn

from sluice.client._client import ExportClient
from sluice.client._convert import state_name
from sluice.client.cli.output import fmt_bytes, fmt_count, fmt_duration, plural
from sluice.v1 import export_pb2


class ExportProgressBar:
    """Context manager; call it with each watch event (it fits `wait(on_event=...)`)."""

    def __init__(self, console: Console, export_id: str) -> None:
        self._export_id = export_id
        self._state = "queued"
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<9}"),
            # Flexible: the numbers matter more than the bar on a narrow terminal.
            BarColumn(bar_width=None),
            TaskProgressColumn(),
            TextColumn("{task.fields[stats]}"),
            console=console,
            expand=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> ExportProgressBar:
        self._progress.console.print(f"export {self._export_id}")
        self._progress.start()
        self._task = self._progress.add_task(self._description(), total=None, stats="")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def _description(self) -> str:
        return self._state

    def __call__(self, event: export_pb2.ExportEvent) -> None:
        kind = event.WhichOneof("event")
        if kind in ("snapshot", "finished"):
            export = event.snapshot if kind == "snapshot" else event.finished
            note = retry_note(export)
            if kind == "snapshot" and note is not None:
                self._progress.console.print(note)
            self._state = state_name(export.state)
            self._show(export.progress, final=kind == "finished")
        elif kind == "state_changed":
            self._state = state_name(event.state_changed)
            self._update()
        elif kind == "progress":
            self._show(event.progress, final=False)

    def _update(self, **fields: Any) -> None:
        if self._task is not None:
            self._progress.update(self._task, description=self._description(), **fields)

    def _show(self, p: export_pb2.Progress, *, final: bool) -> None:
        total = p.source_rows_total or None
        done = p.source_rows_done
        if final and self._state == "succeeded":
            # Filters may leave done < total; a finished export should read 100%.
            total = total or max(done, 1)
            done = total
        stats = [plural(p.records, "record"), fmt_bytes(p.stored_bytes)]
        if not final:
            if p.records_per_second > 0:
                stats.append(f"{fmt_count(round(p.records_per_second))} rec/s")
            stats.append(f"ETA {fmt_duration(p.eta_seconds)}" if p.eta_seconds >= 0 else "ETA -:--")
        self._update(total=total, completed=done, stats=" • ".join(stats))


def describe_event(event: export_pb2.ExportEvent) -> str | None:
    """A plain line for the events worth a line when no live bar can be drawn."""
    kind = event.WhichOneof("event")
    if kind == "snapshot":
        note = retry_note(event.snapshot)
        if note is not None:
            return f"export {event.export_id}: {note}"
        return f"export {event.export_id}: {state_name(event.snapshot.state)}"
    if kind == "state_changed":
        return f"export {event.export_id}: {state_name(event.state_changed)}"
    if kind == "chunk_committed":
        c = event.chunk_committed
        return (
            f"chunk {c.index} committed: {c.path} "
            f"({fmt_count(c.records)} records, {fmt_bytes(c.stored_bytes)})"
        )
    return None


def wait_with_bar(client: ExportClient, export_id: str, console: Console) -> export_pb2.Export:
    """client.wait() with a live bar on `console`; raises what wait() raises."""
    with ExportProgressBar(console, export_id) as bar:
        return client.wait(export_id, on_event=bar)


def retry_note(export: export_pb2.Export) -> str | None:
    """A line for an export waiting to retry after a failed attempt (a watch snapshot
    with the failed attempt last), else None."""
    if not export.attempts or state_name(export.state) != "queued":
        return None
    last = export.attempts[-1]
    if last.outcome != "retried":
        return None
    line = f"attempt {last.number} failed ({last.error.code}: {last.error.message})"
    if last.HasField("retry_at"):
        line += f"; retrying from {last.retry_at.ToJsonString()}"
    return line

"""A named file source's errors name the source and the file's place, never the file's
path (hidden from callers, as its URI is): in the CLI, GetExport and the webhook body;
the daemon's log has the path. A caller's own URI keeps its paths in errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.servers.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration
HEADER = "event_id,user_id,kind,created_at\n"


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    with receiver.running():
        yield receiver


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, hooks: WebhookReceiver) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("named-file-errors")
    sources = root / "daemon" / "sources"
    for name in ("events", "mixed"):
        (sources / name).mkdir(parents=True)
        (sources / name / "a.csv").write_text(HEADER + "1,42,login,2026-11-03T10:00:00Z\n")
        (sources / name / "b.csv").write_text(HEADER + "2,41,login,2026-11-04T10:00:00Z\n")
    # Past the rows types are inferred from: the export fails at row 301 of file 3.
    late = "".join(f"{100 + i},42,view,2026-11-05T10:00:00Z\n" for i in range(300))
    (sources / "events" / "c.csv").write_text(HEADER + late + "999,42,view,not-a-date\n")
    (sources / "mixed" / "b.csv").write_text("event_id,user_id,kind\n9,42,x\n")
    secret = root / "webhook-secret"
    secret.write_bytes(b"whsec-test-0123456789abcdef")
    secret.chmod(0o600)
    made = Daemon(
        root=root / "daemon",
        settings={
            "webhook_secret_ref": f"file:{secret}",
            "sources": {
                name: {"uri": str(sources / name / "*.csv"), "time_column": "created_at"}
                for name in ("events", "mixed")
            },
        },
    )
    made.start()
    yield made
    made.stop(timeout=20)


def _create(daemon: Daemon, *source: str, notify: str = "") -> tuple[int, str]:
    extra = ["--notify", notify] if notify else []
    result = run_cli(
        daemon,
        "export",
        "create",
        *source,
        "--to",
        str(daemon.exports),
        "--dataset",
        "d",
        *extra,
        "--wait",
    )
    return result.returncode, result.stdout + result.stderr


def test_a_bad_row_names_the_named_source_and_the_file_s_place(
    daemon: Daemon, hooks: WebhookReceiver
) -> None:
    code, said = _create(daemon, "--source-name", "events", notify=hooks.url("/hook"))
    (hook,) = hooks.wait_for(1)
    with ExportClient(daemon.address) as client:
        (failed,) = [e for e in client.list() if e.state == pb.EXPORT_STATE_FAILED]

    expected = "named source 'events', file 3 of 3: row 301, column 'created_at': not a valid"
    assert code != 0
    assert expected in said
    assert failed.error.message.startswith(expected)
    assert json.loads(hook.body)["error"]["message"].startswith(expected)
    for text in (said, failed.error.message, hook.body.decode()):
        assert str(daemon.sources) not in text
    c_csv = daemon.sources / "events" / "c.csv"
    assert f"named source 'events', file 3 of 3 is {c_csv}" in daemon.log_path.read_text()


def test_a_file_with_other_columns_names_both_files_by_place(daemon: Daemon) -> None:
    code, said = _create(daemon, "--source-name", "mixed")

    assert code != 0
    assert (
        "FAILED_PRECONDITION: named source 'mixed', file 2 of 2: its columns differ from the "
        "first file's (named source 'mixed', file 1 of 2): no column 'created_at'"
    ) in said
    assert str(daemon.sources) not in said
    b_csv = daemon.sources / "mixed" / "b.csv"
    assert f"named source 'mixed', file 2 of 2 is {b_csv}" in daemon.log_path.read_text()


def test_a_caller_s_own_uri_keeps_its_paths(daemon: Daemon) -> None:
    folder = daemon.sources / "mixed"
    code, said = _create(daemon, "--source", str(folder / "*.csv"))

    assert code != 0
    assert (
        f"{folder / 'b.csv'}: its columns differ from the first file's ({folder / 'a.csv'})"
    ) in said

"""Export-end notifications through a real daemon: webhooks to a real HTTP receiver on
127.0.0.1, signed (verified with the client helper), retried after 500s and dropped
connections, recorded in GetExport, continued after a SIGKILL, and carrying no secret;
e-mail to a real SMTP server (aiosmtpd) with STARTTLS and a login."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.client import (
    ExportClient,
    ExportFailedError,
    InvalidArgumentError,
    WebhookSignatureError,
    verify_webhook,
)
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration.tls_certs import Authority
from tests.servers.smtp_receiver import SmtpReceiver
from tests.servers.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration]
SECRET = b"whsec-test-0123456789abcdef"
OPS_SECRET = b"ops-secret-fedcba9876543210"
ROWS = 3000


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hooks = WebhookReceiver(script=[500, "drop"])
    with hooks.running():
        yield hooks


@pytest.fixture
def ops() -> Iterator[WebhookReceiver]:
    hooks = WebhookReceiver()
    with hooks.running():
        yield hooks


def _secret_file(folder: Path, name: str, secret: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(secret)
    path.chmod(0o600)
    return f"file:{path}"


def _notifying_daemon(daemon_factory, tmp_path: Path, ops_url: str, **settings: object) -> Daemon:  # type: ignore[no-untyped-def]
    secrets = tmp_path / "secrets"
    values: dict[str, object] = {
        "webhook_secret_ref": _secret_file(secrets, "webhook", SECRET),
        "notifications": {
            "ops": {"url": ops_url, "secret_ref": _secret_file(secrets, "ops", OPS_SECRET)}
        },
        "notification_backoff_seconds": 0.2,
        "notification_max_backoff_seconds": 1.0,
    }
    d: Daemon = daemon_factory("notify", **{**values, **settings})
    d.start()
    generate(d.sources / "events.parquet", ROWS, seed=3)
    return d


def _create(d: Daemon, client: ExportClient, notify: list[str]) -> pb.Export:
    spec = ExportClient.build_spec(
        source=str(d.sources / "events.parquet"),
        to=str(d.exports),
        dataset="events",
        notify=notify,
    )
    return client.create(spec)


def _wait_delivered(client: ExportClient, export_id: str, timeout: float = 30) -> pb.Export:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        export = client.get(export_id)
        if export.notifications and all(n.state != "pending" for n in export.notifications):
            return export
        time.sleep(0.2)
    raise AssertionError(f"notifications still pending: {client.get(export_id).notifications}")


def test_webhooks_are_signed_retried_and_recorded(
    daemon_factory,
    tmp_path: Path,
    receiver: WebhookReceiver,
    ops: WebhookReceiver,  # type: ignore[no-untyped-def]
) -> None:
    d = _notifying_daemon(daemon_factory, tmp_path, ops.url("/ops"))
    url = receiver.url("/hook?token=opaque")
    with ExportClient(d.address) as client:
        export = _create(d, client, [url, "ops"])
        done = client.wait(export.id)
        assert done.state == pb.EXPORT_STATE_SUCCEEDED
        hooks = receiver.wait_for(3)
        shown = _wait_delivered(client, export.id)

    # A 500, a dropped connection, then a 2xx: three attempts, one delivery id.
    assert [hook.answer for hook in hooks] == [500, "drop", 200]
    assert {hook.headers["Sluice-Delivery-Id"] for hook in hooks} == {f"{export.id}.0"}
    for hook in hooks:
        assert hook.path == "/hook?token=opaque"
        verify_webhook(SECRET, hook.body, hook.headers["Sluice-Signature"])
        with pytest.raises(WebhookSignatureError):
            verify_webhook(OPS_SECRET, hook.body, hook.headers["Sluice-Signature"])
        with pytest.raises(WebhookSignatureError):
            verify_webhook(SECRET, hook.body + b" ", hook.headers["Sluice-Signature"])
    body = json.loads(hooks[-1].body)
    assert body["type"] == "export.succeeded"
    assert body["export_id"] == export.id
    assert body["dataset"] == "events"
    assert body["state"] == "succeeded"
    assert body["totals"]["records"] == ROWS
    assert body["manifest_uri"] == done.manifest_uri
    assert body["error"] is None

    # The named target: its own URL and secret.
    (ops_hook,) = ops.wait_for(1)
    assert ops_hook.path == "/ops"
    verify_webhook(OPS_SECRET, ops_hook.body, ops_hook.headers["Sluice-Signature"])
    assert ops_hook.headers["Sluice-Delivery-Id"] == f"{export.id}.1"

    # No secret, and nothing about where the data came from, in any body.
    for hook in [*hooks, ops_hook]:
        for secret in (SECRET, OPS_SECRET, b"whsec", str(d.sources).encode()):
            assert secret not in hook.body

    first, second = shown.notifications
    assert (first.target, first.state, first.attempts, first.last_error) == (
        receiver.url("/…"),
        "delivered",
        3,
        "",
    )
    assert first.delivery_id == f"{export.id}.0"
    assert (second.target, second.state, second.attempts) == ("ops", "delivered", 1)
    listed = run_cli(d, "export", "get", export.id)
    assert listed.returncode == 0, listed.stderr
    assert f"{receiver.url('/…')}: delivered, 3 attempt(s)" in listed.stdout
    assert "opaque" not in listed.stdout.split("notify", 1)[1]


def test_a_pending_delivery_survives_sigkill(
    daemon_factory,
    tmp_path: Path,
    ops: WebhookReceiver,  # type: ignore[no-untyped-def]
) -> None:
    hooks = WebhookReceiver(default=503)
    with hooks.running():
        d = _notifying_daemon(
            daemon_factory,
            tmp_path,
            ops.url(),
            notification_backoff_seconds=4.0,
            notification_max_backoff_seconds=4.0,
        )
        with ExportClient(d.address) as client:
            export = _create(d, client, [hooks.url()])
            client.wait(export.id)
            (first,) = hooks.wait_for(1)
            # Between attempts (the next one is 2-4 s away): the daemon dies.
            deadline = time.monotonic() + 10
            while client.get(export.id).notifications[0].attempts < 1:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        d.kill()
        assert len(hooks.received) == 1
        hooks.default = 200
        d.start()
        with ExportClient(d.address) as client:
            shown = _wait_delivered(client, export.id)
        received = hooks.wait_for(2)

    assert [hook.answer for hook in received] == [503, 200]
    assert received[1].headers["Sluice-Delivery-Id"] == first.headers["Sluice-Delivery-Id"]
    assert received[1].body == first.body
    verify_webhook(SECRET, received[1].body, received[1].headers["Sluice-Signature"])
    (delivery,) = shown.notifications
    assert (delivery.state, delivery.attempts) == ("delivered", 2)


BAD_TARGETS = [
    (["http://example.com/hook"], "must be https://"),
    (["ftp://127.0.0.1/hook"], "must be an https:// URL"),
    (["https://user:pw@example.com/hook"], "must not hold credentials"),
    (["nobody"], "neither a URL nor a configured notification (ops)"),
    (["http://127.0.0.1:9/hook?token=SEKRET one"], "without spaces or control"),
    # Beyond ASCII every delivery would fail; the shown form of a URL is one such.
    (["https://hooks.example/caf\u00e9?token=SEKRET"], "must hold only ASCII"),
    (["https://hooks.example/\u2026"], "must hold only ASCII"),
    (["ops", "ops"], "names a target twice"),
    ([f"https://example.com/{n}" for n in range(11)], "at most 10 targets"),
]


def test_undeliverable_targets_are_refused_before_anything_runs(
    daemon_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    d = _notifying_daemon(daemon_factory, tmp_path, "https://hooks.example/ops")
    with ExportClient(d.address) as client:
        for notify, message in BAD_TARGETS:
            with pytest.raises(InvalidArgumentError) as caught:
                _create(d, client, notify)
            assert [v.field for v in caught.value.violations] == ["spec.notify"], notify
            assert message in caught.value.message
            assert "pw" not in caught.value.message and "SEKRET" not in caught.value.message
        assert list(client.list_page().exports) == []


def _smtp_settings(port: int, ca_file: Path, **login: str) -> dict[str, object]:
    """[smtp] for the SmtpReceiver on `port`: STARTTLS verified against `ca_file`."""
    return {
        "host": "127.0.0.1",
        "port": port,
        "starttls": True,
        "ca_file": str(ca_file),
        "from": "sluice@example.com",
        **login,
    }


def test_email_through_smtp_with_starttls(
    daemon_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    authority = Authority.create()
    issued = authority.issue(certs, "smtp", common_name="127.0.0.1", server=True)
    with SmtpReceiver(issued.cert_file, issued.key_file) as smtp:
        secrets = tmp_path / "secrets"
        d: Daemon = daemon_factory(
            "mail",
            smtp=_smtp_settings(
                smtp.port,
                authority.write_ca(certs / "ca.crt"),
                user="sluice",
                password_ref=_secret_file(secrets, "smtp", b"smtp-password-42"),
            ),
            notifications={"team": {"email": ["team@example.com", "lead@example.com"]}},
            notification_backoff_seconds=0.2,
        )
        d.start()
        generate(d.sources / "events.parquet", ROWS, seed=3)
        with ExportClient(d.address) as client:
            export = _create(d, client, ["team", "mailto:me@example.com"])
            done = client.wait(export.id)
            shown = _wait_delivered(client, export.id)
        mails = smtp.wait_for(2)

    assert [(n.target, n.state, n.attempts) for n in shown.notifications] == [
        ("team", "delivered", 1),
        ("mailto:me@example.com", "delivered", 1),
    ]
    by_recipients = {tuple(sorted(mail.recipients)): mail for mail in mails}
    assert set(by_recipients) == {("lead@example.com", "team@example.com"), ("me@example.com",)}
    for mail in mails:
        assert mail.starttls and mail.login == ("sluice", "smtp-password-42")
        assert mail.sender == "sluice@example.com"
        message = mail.message
        assert f"({export.id})" in message["Subject"]
        plain = message.get_body(("plain",)).get_content()
        html_part = message.get_body(("html",)).get_content()
        assert f"Records: {ROWS}" in plain and done.manifest_uri in plain
        assert "<li>" in html_part
        assert b"smtp-password-42" not in mail.raw


def test_an_smtp_server_whose_certificate_is_not_trusted_is_said_in_last_error(
    daemon_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # The operator's own mail server: its TLS fault is worth naming (it said "connection
    # failed", the same as a server that is down).
    certs = tmp_path / "certs"
    certs.mkdir()
    trusted, stranger = Authority.create("Trusted CA"), Authority.create("Stranger CA")
    issued = stranger.issue(certs, "smtp", common_name="127.0.0.1", server=True)
    with SmtpReceiver(issued.cert_file, issued.key_file) as smtp:
        d: Daemon = daemon_factory(
            "mail",
            smtp=_smtp_settings(smtp.port, trusted.write_ca(certs / "ca.crt")),
            notifications={"team": {"email": ["team@example.com"]}},
            notification_backoff_seconds=0.2,
            notification_retry_seconds=1.0,
        )
        d.start()
        generate(d.sources / "events.parquet", ROWS, seed=3)
        with ExportClient(d.address) as client:
            export = _create(d, client, ["team"])
            client.wait(export.id)
            shown = _wait_delivered(client, export.id)
    (refused,) = shown.notifications
    assert refused.state == "failed"
    assert refused.last_error.startswith("TLS certificate not trusted: "), refused.last_error
    assert "certificate" in refused.last_error.partition(": ")[2], refused.last_error


def test_a_resumed_export_notifies_its_new_end_under_a_new_id(
    daemon_factory,
    tmp_path: Path,
    ops: WebhookReceiver,  # type: ignore[no-untyped-def]
) -> None:
    d = _notifying_daemon(daemon_factory, tmp_path, ops.url(), batch_rows=1024)
    generate(d.sources / "big.parquet", 50_000, seed=4)
    with ExportClient(d.address) as client:
        spec = ExportClient.build_spec(
            source=str(d.sources / "big.parquet"),
            to=str(d.exports),
            dataset="big",
            level=15,
            chunk_rows=2000,
            notify=["ops"],
        )
        export = client.create(spec)
        cancelled = client.cancel(export.id)
        assert cancelled.state == pb.EXPORT_STATE_CANCELLED
        ops.wait_for(1)
        client.resume(export.id)
        done = client.wait(export.id)
        assert done.state == pb.EXPORT_STATE_SUCCEEDED
        hooks = ops.wait_for(2)
        shown = _wait_delivered(client, export.id)

    bodies = [json.loads(hook.body) for hook in hooks]
    assert [body["type"] for body in bodies] == ["export.cancelled", "export.succeeded"]
    assert [hook.headers["Sluice-Delivery-Id"] for hook in hooks] == [
        f"{export.id}.0",
        f"{export.id}.0.1",
    ]
    assert bodies[1]["totals"]["records"] == 50_000
    for hook in hooks:
        verify_webhook(OPS_SECRET, hook.body, hook.headers["Sluice-Signature"])
    (delivery,) = shown.notifications
    assert (delivery.delivery_id, delivery.state, delivery.attempts) == (
        f"{export.id}.0.1",
        "delivered",
        1,
    )


def test_a_failed_export_is_told_with_its_error_and_a_dead_receiver_is_given_up(
    daemon_factory,
    tmp_path: Path,
    ops: WebhookReceiver,  # type: ignore[no-untyped-def]
) -> None:
    dead = WebhookReceiver(default=500)
    with dead.running():
        d = _notifying_daemon(
            daemon_factory,
            tmp_path,
            ops.url(),
            notification_retry_seconds=1.5,
            notification_backoff_seconds=0.2,
            notification_max_backoff_seconds=0.4,
        )
        source = d.sources / "amounts.csv"
        rows = [f"{i},{i * 10}" for i in range(1, 301)]
        rows[249] = "250,not-a-number"  # past the rows Polars infers types from
        source.write_text("id,amount\n" + "\n".join(rows) + "\n")
        with ExportClient(d.address) as client:
            spec = ExportClient.build_spec(
                source=str(source), to=str(d.exports), dataset="amounts", notify=["ops", dead.url()]
            )
            export = client.create(spec)
            with pytest.raises(ExportFailedError):
                client.wait(export.id)
            failed = client.get(export.id)
            assert failed.state == pb.EXPORT_STATE_FAILED
            shown = _wait_delivered(client, export.id)

    (hook,) = ops.wait_for(1)
    body = json.loads(hook.body)
    assert (body["type"], body["state"], body["manifest_uri"]) == ("export.failed", "failed", "")
    assert body["error"] == {"code": failed.error.code, "message": failed.error.message}
    assert body["error"]["code"] == "FAILED_PRECONDITION"
    assert b"not-a-number" not in hook.body

    told, dropped = shown.notifications
    assert (told.state, told.attempts) == ("delivered", 1)
    # The receiver never answered 2xx: retried within the window, then given up.
    assert dropped.state == "failed"
    assert dropped.attempts == len(dead.received) >= 3
    assert dropped.last_error == "HTTP 5xx"


def _tls_context(authority: Authority, folder: Path, stem: str) -> ssl.SSLContext:
    issued = authority.issue(folder, stem, common_name="127.0.0.1", server=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.cert_file, issued.key_file)
    return context


def test_https_receivers_are_verified_against_the_configured_ca(
    daemon_factory,
    tmp_path: Path,
    ops: WebhookReceiver,  # type: ignore[no-untyped-def]
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    trusted, stranger = Authority.create("Trusted CA"), Authority.create("Stranger CA")
    good = WebhookReceiver(tls=_tls_context(trusted, certs, "good"))
    bad = WebhookReceiver(tls=_tls_context(stranger, certs, "bad"))
    with good.running(), bad.running():
        d = _notifying_daemon(
            daemon_factory,
            tmp_path,
            ops.url(),
            webhook_ca_file=str(trusted.write_ca(certs / "ca.crt")),
            notification_retry_seconds=1.0,
        )
        with ExportClient(d.address) as client:
            export = _create(d, client, [good.url(), bad.url()])
            client.wait(export.id)
            shown = _wait_delivered(client, export.id)
        (hook,) = good.wait_for(1)

    verify_webhook(SECRET, hook.body, hook.headers["Sluice-Signature"])
    assert bad.received == []  # the handshake failed: nothing was sent
    delivered, refused = shown.notifications
    assert (delivered.target, delivered.state) == (good.url("/…"), "delivered")
    assert refused.state == "failed"
    assert "CERTIFICATE_VERIFY_FAILED" in refused.last_error


def test_a_webhook_token_is_not_echoed_in_the_spec(
    daemon_factory,
    tmp_path: Path,
    ops: WebhookReceiver,  # type: ignore[no-untyped-def]
) -> None:
    """GetExport, ListExports, `export get` (text and --json) and the daemon's log show a
    webhook URL as scheme://host:port/…: a token in its query (`?token=...`) or its path
    (Slack's /services/T/B/SECRET, Discord's /api/webhooks/ID/TOKEN, shown in full
    before) is the receiver's secret, readable by whoever may read the export or the log
    (an admin included). The receiver still gets the whole URL."""
    d = _notifying_daemon(daemon_factory, tmp_path, ops.url())
    by_query = ops.url("/hook?token=opaque-hook-token")
    by_path = ops.url("/services/T000/B000/path-hook-token")
    with ExportClient(d.address) as client:
        export = _create(d, client, [by_query, by_path, "ops"])
        client.wait(export.id)
        shown = _wait_delivered(client, export.id)
        listed = list(client.list())
    elided = ops.url("/…")
    assert list(shown.spec.notify) == [elided, elided, "ops"]
    assert [list(e.spec.notify) for e in listed] == [[elided, elided, "ops"]]
    assert [n.target for n in shown.notifications] == [elided, elided, "ops"]
    for args in (
        ("export", "get", export.id, "--json"),
        ("export", "get", export.id),
        ("export", "list", "--json"),
    ):
        printed = run_cli(d, *args)
        assert printed.returncode == 0, printed.stderr
        text = printed.stdout
        if "--json" in args:  # "…" is written \u2026 there
            text = json.dumps(json.loads(text), ensure_ascii=False)
        assert elided in text
        assert "hook-token" not in text and "T000" not in text
    # Shown alike, the two webhooks are told apart by their delivery ids.
    text = run_cli(d, "export", "get", export.id).stdout
    for n in (0, 1):
        assert f"{elided}: delivered, 1 attempt(s), delivery {export.id}.{n}" in text
    log = d.log_path.read_text()
    for n in (0, 1):
        assert f"notified {elided} (delivery {export.id}.{n})" in log
    assert "hook-token" not in log and "T000" not in log
    # The receiver itself still gets its token.
    paths = {hook.path for hook in ops.wait_for(3)}
    assert {"/hook?token=opaque-hook-token", "/services/T000/B000/path-hook-token"} <= paths


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"webhook_secret_ref": "env:SLUICE_TEST_SURELY_UNSET_HOOK"}, "webhook_secret_ref"),
        (
            {
                "webhook_secret_ref": "",
                "notifications": {
                    "ops": {"url": "https://127.0.0.1:9/h", "secret_ref": "file:/nonexistent/x"}
                },
            },
            "notifications.ops.secret_ref",
        ),
        (
            {
                "smtp": {
                    "host": "127.0.0.1",
                    "from": "sluice@example.com",
                    "user": "sluice",
                    "password_ref": "file:/nonexistent/smtp",
                }
            },
            "smtp.password_ref",
        ),
    ],
)
def test_an_unreadable_notification_secret_stops_the_start(  # type: ignore[no-untyped-def]
    daemon_factory, settings: dict[str, object], field: str
) -> None:
    """The daemon started, created exports with such targets and, after each export, gave
    the delivery up with a log line only: nothing told the operator or the caller."""
    daemon: Daemon = daemon_factory("unreadable", **settings)
    result = daemon.serve_refused(timeout=30)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"sluice: error: {field}: secret "), last
    assert "Traceback" not in result.stderr

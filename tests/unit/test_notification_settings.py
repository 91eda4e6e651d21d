"""`[notifications.NAME]` and `[smtp]`: what a config may say, and the mistakes refused
at start (naming the key, never echoing a secret)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.server.settings import SettingsError, load_settings

GOOD = """
webhook_secret_ref = "env:HOOK"
[notifications.ops]
url = "https://hooks.example.com/x"
[notifications.local]
url = "http://127.0.0.1:9/x"
secret_ref = "file:hook.key"
[notifications.team]
email = ["team@example.com"]
[smtp]
host = "smtp.example.com"
user = "sluice"
password_ref = "env:SMTP"
from = "sluice@example.com"
ca_file = "ca.pem"
"""


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "sluice.toml"
    path.write_text(text)
    return load_settings(path, environ={})


def test_a_full_notification_config(tmp_path: Path) -> None:
    settings = _load(tmp_path, GOOD)
    assert settings.notifications["ops"].url == "https://hooks.example.com/x"
    assert settings.notifications["team"].email == ("team@example.com",)
    assert settings.smtp is not None
    assert (settings.smtp.port, settings.smtp.starttls, settings.smtp.sender) == (
        587,
        True,
        "sluice@example.com",
    )
    assert settings.smtp.ca_file == tmp_path / "ca.pem"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[notifications.a]\nurl = "http://example.com/x"\nsecret_ref = "env:K"',
            "must be https://",
        ),
        ('[notifications.a]\nurl = "https://example.com/x"', "needs secret_ref"),
        (
            '[notifications.a]\nurl = "https://example.com/x"\nsecret_ref = "hunter2"',
            "secret reference",
        ),
        ('[notifications.a]\nemail = ["a@example.com"]', "configure [smtp]"),
        ('[notifications.a]\nemail = ["nobody"]', "not an e-mail address"),
        ('[notifications.a]\nsecret_ref = "env:K"', "either url"),
        ('[smtp]\nhost = "mail.example.com"\nstarttls = false\nfrom = "s@example.com"', "loopback"),
        ('[smtp]\nhost = "h"\nfrom = "s@example.com"\npassword_ref = "env:P"', "needs user"),
        ('webhook_secret_ref = "plain-secret"', "secret reference"),
        ('backup_recipients = ["age1nope"]', "backup_recipients"),
        ('backup_passphrase_secret = "backup"', "not an entry of secrets"),
    ],
)
def test_mistakes_are_refused_at_start(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, text)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value) and "plain-secret" not in str(caught.value)


def test_insecure_webhooks_may_be_allowed(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        'allow_insecure_webhooks = true\n[notifications.a]\nurl = "http://example.com/x"\n'
        'secret_ref = "env:K"',
    )
    assert settings.notifications["a"].url == "http://example.com/x"

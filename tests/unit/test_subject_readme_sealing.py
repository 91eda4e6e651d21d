"""A subject package's README names the subject, so it is stored through the package's
own cipher: README.html.zip (its own AES zip, the files' password) or README.html.age;
only an unencrypted package stores README.html as it is. (The 7-Zip and age CLIs open
the sealed ones in tests/integration/test_gdpr_package_e2e.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.server.execution.subject_readme import sealed_readme
from sluice.server.planning.spec import EncryptionSpec
from sluice.server.planning.subject_package import build_package_plan
from tests.unit.test_age_format import KNOWN_RECIPIENT
from tests.unit.test_subject_package_plan import _settings, _spec

PAGE = b"<!DOCTYPE html>\n<p>Your personal data, Ana Garcia</p>\n"


@pytest.mark.parametrize(
    ("fields", "name", "media_type", "starts"),
    [
        ({}, "README.html", "text/html", PAGE),
        ({"template": "gdpr"}, "README.html.zip", "application/zip", b"PK\x03\x04"),
        (
            {"encryption": EncryptionSpec(age_recipients=(KNOWN_RECIPIENT,))},
            "README.html.age",
            "application/octet-stream",
            b"age-encryption.org/v1\n",
        ),
    ],
)
def test_the_readme_is_sealed_like_the_files(
    tmp_path: Path, fields: dict[str, object], name: str, media_type: str, starts: bytes
) -> None:
    (tmp_path / "zip-password").write_text("pw\n")
    settings = _settings(tmp_path, secrets={"gdpr": f"file:{tmp_path / 'zip-password'}"})
    package = build_package_plan(_spec(tmp_path, "42", **fields), settings, "x1", owner="")
    stored_name, stored_type, body = sealed_readme(package.first.pipeline, PAGE)
    assert (stored_name, stored_type) == (name, media_type)
    assert body.startswith(starts)
    if name != "README.html":
        assert b"Ana Garcia" not in body
    if name.endswith(".zip"):
        assert body[6] & 1, "the zip entry's encrypted flag is set"

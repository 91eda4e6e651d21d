"""Encryption in the plan: recipients validated, secrets looked up by name in the
server's configuration (never read from wherever a caller points), impossible
combinations refused with the field named, and the manifest description free of keys."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from sluice.format import bech32
from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.server.pipeline.open_chunk import make_compressor
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    DestinationSpec,
    EncryptionSpec,
    ExportSpec,
    OutputSpec,
    SourceSpec,
)
from sluice.server.settings import load_settings

EXPORT_ID = "20250101T000000Z-0123456789ab"
RECIPIENT = bech32.encode("age", b"\x07" * 32)


@pytest.fixture
def world(tmp_path: Path) -> dict[str, object]:
    (tmp_path / "sources").mkdir()
    (tmp_path / "exports").mkdir()
    source = tmp_path / "sources" / "rows.parquet"
    pl.DataFrame({"id": [1, 2], "email": ["a@x", "b@y"]}).write_parquet(source)
    (tmp_path / "pp").write_text("file passphrase\n")
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "allowed_roots": [tmp_path / "exports"],
            "allowed_source_roots": [tmp_path / "sources"],
            "secrets": {
                "pp": f"file:{tmp_path / 'pp'}",
                "zip": f"file:{tmp_path / 'pp'}",
                "unset": "env:SLUICE_TEST_SURELY_UNSET_VARIABLE",
            },
        },
        environ={},
    )
    return {"settings": settings, "source": source, "exports": tmp_path / "exports"}


def plan(
    world: dict[str, object], fmt: str = "jsonl", compression: str = "zstd", **encryption: object
) -> ExportPlan:
    spec = ExportSpec(
        source=SourceSpec(str(world["source"])),
        destination=DestinationSpec(str(world["exports"]), "events"),
        output=OutputSpec(fmt, compression),
        encryption=EncryptionSpec(**encryption),  # type: ignore[arg-type]
    )
    return build_plan(spec, world["settings"], EXPORT_ID, owner="")  # type: ignore[arg-type]


def rejected(world: dict[str, object], **fields: object) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as raised:
        plan(world, **fields)  # type: ignore[arg-type]
    return raised.value


def test_recipients_give_age_chunks_and_fingerprints_only(world: dict[str, object]) -> None:
    built = plan(world, age_recipients=(RECIPIENT,))
    assert built.pipeline.chunk_name(0) == "part-000000.jsonl.zst.age"
    description = built.cipher.description.to_json()
    assert description["scheme"] == "age" and description["passphrase"] is False
    assert description["recipients"][0].startswith("sha256:")
    assert RECIPIENT not in str(description)


def test_invalid_recipient_names_its_position(world: dict[str, object]) -> None:
    error = rejected(world, age_recipients=(RECIPIENT, RECIPIENT[:-1] + "x"))
    assert error.violations[0].field == "spec.encryption.age_recipients[1]"
    assert "checksum" in error.violations[0].description


def test_passphrase_by_secret_name_or_configured_reference(
    world: dict[str, object], tmp_path: Path
) -> None:
    by_name = plan(world, age_passphrase_ref="pp")
    assert by_name.cipher.description.to_json() == {
        "scheme": "age",
        "recipients": [],
        "passphrase": True,
    }
    by_reference = plan(world, age_passphrase_ref=f"file:{tmp_path / 'pp'}")
    assert by_reference.cipher.name == "age"


def test_unconfigured_passphrase_is_refused_without_reading_anything(
    world: dict[str, object],
) -> None:
    os.environ["SLUICE_TEST_CALLER_CHOSEN"] = "x"
    try:
        error = rejected(world, age_passphrase_ref="env:SLUICE_TEST_CALLER_CHOSEN")
    finally:
        del os.environ["SLUICE_TEST_CALLER_CHOSEN"]
    assert error.violations[0].field == "spec.encryption.age_passphrase_ref"
    assert "configured" in error.violations[0].description


def test_a_pasted_secret_is_not_echoed(world: dict[str, object]) -> None:
    error = rejected(world, age_passphrase_ref="correct horse battery staple!")
    assert "horse" not in error.message


def test_configured_but_unset_secret_is_a_failed_precondition(world: dict[str, object]) -> None:
    # Which variable is the operator's to read in the server log, not the caller's.
    with pytest.raises(FailedPrecondition, match="server secret 'unset' cannot be read"):
        plan(world, age_passphrase_ref="unset")


def test_recipients_and_passphrase_together_are_refused(world: dict[str, object]) -> None:
    error = rejected(world, age_recipients=(RECIPIENT,), age_passphrase_ref="pp")
    assert error.violations[0].field == "spec.encryption.age_passphrase_ref"


@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_zip_password_needs_zip_compression(world: dict[str, object], compression: str) -> None:
    error = rejected(world, compression=compression, zip_password_ref="zip")
    assert error.violations[0].field == "spec.encryption.zip_password_ref"


def test_zip_refuses_parquet_and_age_together(world: dict[str, object]) -> None:
    assert rejected(world, fmt="parquet", compression="zip").violations[0].field == (
        "spec.output.compression"
    )
    error = rejected(world, compression="zip", zip_password_ref="zip", age_recipients=(RECIPIENT,))
    assert error.violations[0].field == "spec.encryption.zip_password_ref"


def test_zip_with_password_is_described_in_the_manifest(world: dict[str, object]) -> None:
    built = plan(world, compression="zip", zip_password_ref="zip")
    assert built.pipeline.chunk_name(3) == "part-000003.jsonl.zip"
    assert built.cipher.description.to_json() == {
        "scheme": "zip-aes-256",
        "recipients": [],
        "passphrase": True,
    }
    compressor = make_compressor(built.pipeline, 0, built.pipeline.chunk_stem(3))
    archive = compressor.compress(b"{}\n") + compressor.flush()
    assert b"part-000003.jsonl" in archive and b"AE" in archive
    plain = plan(world, compression="zip")
    assert plain.cipher.description.scheme == "none"

"""Arguments the CLI must refuse itself, as one usage error (exit 2) naming the flag and
never a traceback, before anything reaches a daemon: an empty secret name (which would
otherwise mean "no encryption"), a number past its proto field, bytes that are not UTF-8.

The daemon address is a port nothing listens on: an argument that got through would end
in "cannot reach" (exit 1) instead."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from sluice.client.cli.main import cli


def _unused_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"SLUICE_SERVER": _unused_address()})


@pytest.fixture
def records(tmp_path: Path) -> str:
    path = tmp_path / "ok.jsonl"
    path.write_text('{"a": 1}\n')
    return str(path)


CREATE = ["export", "create", "--source", "x.parquet", "--to", "/tmp/e", "--dataset", "a"]
SCHEDULE = ["schedule", "create", "--name", "n", "--cron", "@daily", *CREATE[2:]]
ZIP = ["--compression", "zip"]
PUT = ["export", "put", "--from", "RECORDS", "--to", "/tmp/e", "--dataset", "a"]

# Every option naming a secret (or the variable holding one), in every command.
SECRET_FLAGS = [
    [*CREATE, "--passphrase-secret"],
    [*CREATE, "--passphrase-env"],
    [*CREATE, *ZIP, "--zip-password-secret"],
    [*CREATE, *ZIP, "--zip-password-env"],
    [*SCHEDULE, "--passphrase-secret"],
    [*SCHEDULE, "--passphrase-env"],
    [*SCHEDULE, *ZIP, "--zip-password-secret"],
    [*SCHEDULE, *ZIP, "--zip-password-env"],
    ["gdpr", "package", "--subject", "7", "--to", "/tmp/e", "--zip-password-secret"],
    [*PUT, "--passphrase-secret"],
    ["export", "read", "exp_1", "--passphrase-env"],
]


@pytest.mark.parametrize("blank", ["", " ", "\t"], ids=["empty", "space", "tab"])
@pytest.mark.parametrize("args", SECRET_FLAGS, ids=lambda a: f"{a[0]} {a[1]} {a[-1]}")
def test_an_empty_secret_name_is_refused_not_taken_as_no_encryption(
    runner: CliRunner, records: str, args: list[str], blank: str
) -> None:
    """`--passphrase-secret "$NAME"` with NAME unset exported in plaintext (exit 0)."""
    argv = [records if a == "RECORDS" else a for a in args]
    result = runner.invoke(cli, [*argv, blank])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{args[-1]}'" in result.stderr
    assert "is empty" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


TOO_BIG = "99999999999999999999"
RETAIN = ["export", "retain", "--to", "/tmp/e", "--dataset", "a"]

OUT_OF_RANGE = [
    [*CREATE, "--chunk-rows", TOO_BIG],
    [*CREATE, "--chunk-rows", str(2**63)],
    [*CREATE, "--chunk-bytes", TOO_BIG],
    [*CREATE, "--chunk-bytes", "1" + "0" * 400],  # more digits than a float holds
    [*CREATE, "--chunk-bytes", str(2**63)],
    [*CREATE, "--chunk-bytes", "9000000TiB"],
    [*CREATE, "--level", TOO_BIG],
    [*CREATE, "--level", str(2**31)],
    [*CREATE, "--level", str(-(2**31) - 1)],
    [*CREATE, "--lookback", f"{TOO_BIG}d"],
    [*SCHEDULE, "--chunk-rows", TOO_BIG],
    [*SCHEDULE, "--chunk-bytes", TOO_BIG],
    [*SCHEDULE, "--level", TOO_BIG],
    [*SCHEDULE, "--lookback", TOO_BIG],
    [*CREATE, "--lookback", "9" * 5000],  # int() refuses past 4300 digits
    [*SCHEDULE, "--lookback", "9" * 5000 + "d"],
    [*PUT, "--chunk-rows", TOO_BIG],
    [*PUT, "--chunk-rows", "-1"],
    *[[*RETAIN, f"--keep-{keep}", TOO_BIG] for keep in ("last", "daily", "weekly", "monthly")],
    [*RETAIN, "--keep-within-days", str(2**31)],
]


@pytest.mark.parametrize("args", OUT_OF_RANGE, ids=lambda a: f"{a[1]} {a[-2]} {a[-1][:24]}")
def test_a_number_past_its_proto_field_is_a_usage_error(
    runner: CliRunner, records: str, args: list[str]
) -> None:
    argv = [records if a == "RECORDS" else a for a in args]
    result = runner.invoke(cli, argv)
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"Invalid value for '{args[-2]}'" in result.stderr


def test_the_largest_numbers_still_fit(runner: CliRunner) -> None:
    """The bounds are the fields' own: the largest value passes the CLI (and then finds
    no daemon), and `export list --limit` takes any number as "all"."""
    for option, value in (
        ("--chunk-rows", str(2**63 - 1)),
        ("--chunk-bytes", str(2**63 - 1)),
        ("--level", str(2**31 - 1)),
        ("--level", str(-(2**31))),
    ):
        result = runner.invoke(cli, [*CREATE, option, value])
        assert result.exit_code == 1, (option, result.output)
        assert "cannot reach" in result.stderr
    listed = runner.invoke(cli, ["export", "list", "--limit", TOO_BIG])
    assert listed.exit_code == 1 and "cannot reach" in listed.stderr, listed.output


# A byte that is not UTF-8 reaches Python as a lone surrogate (surrogateescape).
NOT_UTF8 = "\udcff"


@pytest.mark.parametrize(
    "args",
    [
        ["ask", f"applications {NOT_UTF8}", "--to", "/tmp/e"],
        [*CREATE, "--where", f"msg = '{NOT_UTF8}'"],
        [*CREATE, "--label", f"team={NOT_UTF8}"],
        ["export", "get", f"a{NOT_UTF8}"],
        ["export", "cancel", f"a{NOT_UTF8}"],
        ["schedule", "create", "--name", f"a{NOT_UTF8}", "--cron", "@daily", *CREATE[2:]],
        ["schedule", "get", f"a{NOT_UTF8}"],
        ["gdpr", "package", "--subject", NOT_UTF8, "--to", "/tmp/e"],
    ],
    ids=lambda a: " ".join(a[:2]) + (" " + a[-2] if a[0] == "export" and len(a) > 3 else ""),
)
def test_an_argument_that_is_not_utf8_is_one_line(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert (
        result.stderr == "sluice: error: an argument (or a path made from one) is not valid UTF-8\n"
    )
    assert result.stdout == ""


def test_a_relative_path_in_a_non_utf8_directory_is_one_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--source x.parquet` takes in the working directory, not an argument's bytes."""
    cwd = os.path.join(os.fsencode(tmp_path), b"caf\xff")
    os.mkdir(cwd)
    monkeypatch.chdir(cwd)
    result = runner.invoke(cli, CREATE)
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stderr == (
        "sluice: error: an argument (or a path made from one) is not valid UTF-8\n"
    )


def test_a_passphrase_that_is_not_utf8_is_used_as_its_bytes(
    runner: CliRunner, tmp_path: Path
) -> None:
    """`PW=$'s3cr3t\\xff' sluice export read M --passphrase-env PW` said "argument is not
    valid UTF-8" (exit 2): the passphrase is bytes, and gets as far as the manifest."""
    missing = tmp_path / "missing" / "manifest.json"
    result = runner.invoke(
        cli,
        ["export", "read", str(missing), "--passphrase-env", "PW"],
        env={"PW": "s3cr3t\udcff"},
    )
    assert "UTF-8" not in result.stderr
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stderr.startswith("sluice: error: ")


@pytest.mark.parametrize(
    "args",
    [
        ["export", "create"],
        ["schedule", "create"],
        ["export", "put"],
        ["export", "list"],
        ["export", "retain"],
    ],
)
def test_help_leaves_out_the_proto_field_bounds(runner: CliRunner, args: list[str]) -> None:
    """`--level`'s "zstd 1-22, gzip 1-9" was followed by [-2147483648<=x<=2147483647]."""
    result = runner.invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "2147483647" not in result.stdout and "9223372036854775807" not in result.stdout
    assert "<=x" not in result.stdout


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["export", "manifest", "BINARY"], "manifest"),
        (["export", "manifest", "BINARY", "--json"], "manifest"),
        (["export", "read", "MANIFEST", "-i", "BINARY", "-o", "/dev/null"], "--identity file"),
        (["export", "read", "MANIFEST", "--public-key", "BINARY"], "--public-key file"),
    ],
    ids=["manifest", "manifest --json", "read -i", "read --public-key"],
)
def test_a_file_that_is_not_utf8_text_is_one_line(
    runner: CliRunner, tmp_path: Path, args: list[str], what: str
) -> None:
    """A UnicodeDecodeError traceback before."""
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    manifest = tmp_path / "e" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text('{"format_version": 1, "chunks": []}')
    given = [
        str(binary) if a == "BINARY" else str(manifest) if a == "MANIFEST" else a for a in args
    ]
    result = runner.invoke(cli, given)
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stderr == f"sluice: error: {what} {binary} is not UTF-8 text\n"

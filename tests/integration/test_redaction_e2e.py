"""Redaction end to end through a real daemon: an export at each level, read back with
plain tools and checked against what the test finds in the source itself."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, InvalidArgumentError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, manifest_path, read_export

pytestmark = pytest.mark.integration
ROWS = 4_000
KEY = b"e2e-redaction-key-0123456789abcdef"
SECRETS = re.compile(
    r"sk_live_[A-Za-z0-9]{24}|ghp_[A-Za-z0-9]{36}|password=(?!\[)\S+|Bearer (?!\[)\S+"
    r"|aws_secret_access_key=(?!\[)[A-Za-z0-9]{40}"
)
IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")


@dataclass
class _TableDaemon(Daemon):
    """The test daemon, with TOML tables (hash_keys, redaction_policies) in its config."""

    tables: dict[str, dict[str, str]] = field(default_factory=dict)

    def write_config(self) -> Path:
        path = super().write_config()
        lines = [path.read_text()]
        for table, values in self.tables.items():
            lines.append(f"[{table}]")
            lines.extend(f'{key} = "{value}"' for key, value in values.items())
        path.write_text("\n".join(lines) + "\n")
        return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient, Path]]:
    root = tmp_path_factory.mktemp("redaction")
    key_file = root / "hash.key"
    key_file.write_bytes(KEY)
    daemon = _TableDaemon(
        root=root / "d",
        settings={"batch_rows": 1024},
        tables={"hash_keys": {"default": f"file:{key_file}"}},
    )
    daemon.start()
    source = generate(daemon.sources / "events.parquet", ROWS, seed=5)
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client, source
    finally:
        daemon.stop(timeout=20)


def _export(
    world: tuple[Daemon, ExportClient, Path],
    redaction: pb.Redaction,
    events: list[pb.ExportEvent] | None = None,
) -> pb.Export:
    daemon, client, source = world
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="events",
        chunk_rows=1500,
        redaction=redaction,
    )
    finished = client.wait(
        client.create(spec).id, timeout=120, on_event=None if events is None else events.append
    )
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    return finished


def _counts(manifest: dict[str, object]) -> dict[str, dict[str, int]]:
    """Counts per rule and column, leaving out the (recorded) zeros."""
    redaction = manifest["redaction"]
    assert isinstance(redaction, dict)
    counts = {
        rule: {column: n for column, n in per.items() if n}
        for rule, per in redaction["counts"].items()
    }
    return {rule: per for rule, per in counts.items() if per}


def test_levels_remove_what_they_promise(world) -> None:  # type: ignore[no-untyped-def]
    source = pl.read_parquet(world[2])
    messages = source["message"].to_list()
    with_secret = sum(bool(SECRETS.search(m)) for m in messages)
    assert with_secret > 20

    plain = read_export(_export(world, pb.Redaction(level="none")).manifest_uri)
    assert plain["message"].to_list() == messages

    basic = _export(world, pb.Redaction(level="basic"))
    out = read_export(basic.manifest_uri)
    assert not any(SECRETS.search(m) for m in out["message"].to_list())
    assert out["email"].to_list() == source["email"].to_list()
    secret_counts = _counts(load_manifest(basic.manifest_uri))
    assert sum(per["message"] for per in secret_counts.values()) == with_secret

    events: list[pb.ExportEvent] = []
    moderate = _export(world, pb.Redaction(level="moderate"), events)
    out = read_export(moderate.manifest_uri)
    rows = list(zip(source.iter_rows(named=True), out.iter_rows(named=True), strict=True))
    assert all(o["email"] == "[EMAIL]" and o["phone"] == "[PHONE]" for _, o in rows)
    assert not any(s["email"] in o["message"] or s["phone"] in o["message"] for s, o in rows)
    assert not any(SECRETS.search(o["message"]) for _, o in rows)
    assert out["first_name"].to_list() == source["first_name"].to_list()
    counts = _counts(load_manifest(moderate.manifest_uri))
    assert counts["EMAIL"] == {
        "email": ROWS,
        "message": sum(s["email"] in s["message"] for s, _ in rows),
    }
    assert counts["PHONE"] == {
        "phone": ROWS,
        "message": sum(s["phone"] in s["message"] for s, _ in rows),
    }
    assert counts["EMAIL"]["message"] > 50 and counts["PHONE"]["message"] > 50
    # WatchExport progress carries the running counts; the last one is the total.
    running = [e.progress.counters for e in events if e.HasField("progress")]
    assert len(running) > 1 and running[-1]["EMAIL/email"] == ROWS
    totals = {f"{rule}/{column}": n for rule, per in counts.items() for column, n in per.items()}
    assert {k: n for k, n in running[-1].items() if n} == totals
    # ...and the export keeps them once it ended: in its final event and in GetExport.
    assert {k: n for k, n in moderate.progress.counters.items() if n} == totals
    _, client, _ = world
    assert {k: n for k, n in client.get(moderate.id).progress.counters.items() if n} == totals

    strict = _export(world, pb.Redaction(level="strict"))
    out = read_export(strict.manifest_uri)
    assert set(out["first_name"].to_list()) == set(out["last_name"].to_list()) == {"[NAME]"}
    assert set(out["ip"].to_list()) == {"[IP]"}
    assert not any(IPV4.search(m) for m in out["message"].to_list())
    assert out["device"].to_list() == source["device"].to_list()


def test_include_pii_false_is_at_least_moderate(world) -> None:  # type: ignore[no-untyped-def]
    redaction = pb.Redaction(level="basic")
    redaction.include_pii = False
    manifest = load_manifest(_export(world, redaction).manifest_uri)
    assert manifest["redaction"]["level"] == "moderate"
    assert _counts(manifest)["EMAIL"]["email"] == ROWS


def test_custom_rules_hash_drop_and_record_no_key(world) -> None:  # type: ignore[no-untyped-def]
    redaction = pb.Redaction(
        level="custom",
        rules=[
            pb.RedactionRule(column="email", action="hash"),
            pb.RedactionRule(column="ip", action="drop"),
            pb.RedactionRule(column="phone", action="mask", keep_last=3),
            pb.RedactionRule(column="created_at", action="generalize", granularity="month"),
        ],
    )
    finished = _export(world, redaction)
    manifest = load_manifest(finished.manifest_uri)
    out = read_export(finished.manifest_uri)
    source = pl.read_parquet(world[2])
    assert "ip" not in out.columns
    assert [f["name"] for f in manifest["schema"]] == out.columns
    types = {f["name"]: f["type"] for f in manifest["schema"]}
    assert types["email"] == types["created_at"] == "large_string"
    expected = [hmac.new(KEY, e.encode(), hashlib.sha256).hexdigest() for e in source["email"]]
    assert out["email"].to_list() == expected
    assert all(
        p.endswith(s[-3:]) and set(p[:-3]) == {"*"}
        for p, s in zip(out["phone"], source["phone"], strict=True)
    )
    assert out["created_at"][0] == source["created_at"][0].strftime("%Y-%m")
    text = manifest_path(finished.manifest_uri).read_text()
    assert KEY.decode() not in text and KEY.hex() not in text and "hash.key" not in text
    assert manifest["redaction"]["rules"][0] == {"action": "hash", "column": "email"}
    assert _counts(manifest) == {
        "hash": {"email": ROWS}, "drop": {"ip": ROWS}, "mask": {"phone": ROWS},
        "generalize": {"created_at": ROWS},
    }  # fmt: skip
    # Same key, same pseudonyms: a second export joins with the first.
    again = read_export(_export(world, redaction).manifest_uri)
    assert again["email"].to_list() == expected


@pytest.mark.parametrize(
    ("redaction", "field"),
    [
        (pb.Redaction(level="paranoid"), "spec.redaction.level"),
        (
            pb.Redaction(rules=[pb.RedactionRule(column="nope", action="drop")]),
            "spec.redaction.rules[0]",
        ),
        (
            pb.Redaction(rules=[pb.RedactionRule(column="email", action="shred")]),
            "spec.redaction.rules[0]",
        ),
        (
            pb.Redaction(rules=[pb.RedactionRule(pattern="a(?=b)", action="redact")]),
            "spec.redaction.rules[0]",
        ),
        (
            pb.Redaction(rules=[pb.RedactionRule(pattern="([a-z]", action="redact")]),
            "spec.redaction.rules[0]",
        ),
        (pb.Redaction(policy="nope"), "spec.redaction.policy"),
    ],
)
def test_bad_redaction_is_invalid_argument_naming_the_rule(world, redaction, field) -> None:  # type: ignore[no-untyped-def]
    daemon, client, source = world
    spec = ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset="bad", redaction=redaction
    )
    with pytest.raises(InvalidArgumentError) as caught:
        client.create(spec)
    assert [v.field for v in caught.value.violations] == [field]
    assert not (daemon.exports / "bad").exists()


def test_hash_with_an_unknown_key_is_the_callers_invalid_argument(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client, source = world
    redaction = pb.Redaction(rules=[pb.RedactionRule(column="email", action="hash", key="crm")])
    spec = ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset="bad", redaction=redaction
    )
    # The caller named it: its mistake, answered without quoting the name (a secret may
    # have been pasted there), listing the names configured instead.
    with pytest.raises(InvalidArgumentError, match=r"rules\[0\]: no hash key of that name") as e:
        client.create(spec)
    assert "crm" not in str(e.value)
    assert json.dumps(str(KEY)) not in daemon.log_tail(200)


def test_text_stored_as_a_dictionary_is_redacted(world) -> None:  # type: ignore[no-untyped-def]
    """A Parquet column of dictionary-encoded strings (as pandas' category dtype writes
    it) reads as Categorical: moderate redaction must still read its values."""
    daemon, client, source = world
    messages = pl.read_parquet(source)["message"]
    path = daemon.sources / "categorical.parquet"
    pl.DataFrame({"message": messages.cast(pl.Categorical)}).write_parquet(path)
    assert pl.read_parquet_schema(path)["message"] == pl.Categorical
    spec = ExportClient.build_spec(
        source=str(path),
        to=str(daemon.exports),
        dataset="categorical",
        redaction=pb.Redaction(level="moderate"),
    )
    finished = client.wait(client.create(spec).id, timeout=120)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    out = read_export(finished.manifest_uri)["message"].to_list()
    plain = pl.read_parquet(source, columns=["email", "phone"]).to_dicts()
    assert len(out) == len(plain)
    assert not any(
        row["email"] in o or row["phone"] in o for row, o in zip(plain, out, strict=True)
    )
    assert any("[PHONE]" in o for o in out) and any("[EMAIL]" in o for o in out)

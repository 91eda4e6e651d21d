"""An incremental export of a signed chain checks its parent's signature before it uses
the parent's manifest (its watermark and key index decide what the night sends): someone
who may write to the bucket and edits, replaces or unsigns the parent, or edits the key
index its signed manifest lists, makes the next increment fail with DATA_LOSS naming the
parent, and nothing is written. Real daemon, on
a local folder and on S3 (moto); the chain continues once the parent is restored."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as pa_ipc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.client import ExportClient, ExportFailedError, SluiceError
from sluice.format.signatures import key_id, signature_document
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration import keyed_sync as scenario
from tests.servers.cloud import ProfileDaemon, S3Store
from tests.servers.processes import ServerProcess

pytestmark = pytest.mark.integration


@dataclass
class Bucket:
    """The destination as someone with write access to it sees it (keys relative to the
    export root)."""

    daemon: Daemon
    destination: str
    profile: str
    objects: Callable[[], dict[str, bytes]]
    put: Callable[[str, bytes], None]
    remove: Callable[[str], None]


def _signing_settings(tmp_path: Path) -> dict[str, object]:
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    (tmp_path / "sign.key").write_bytes(base64.b64encode(seed) + b"\n")
    (tmp_path / "digest.key").write_bytes(scenario.DIGEST_KEY)
    return {
        "manifest_signing_key": f"file:{tmp_path / 'sign.key'}",
        "content_digest_key": f"file:{tmp_path / 'digest.key'}",
        "batch_rows": 256,
    }


def _local(tmp_path: Path, settings: dict[str, object]) -> Iterator[Bucket]:
    daemon = Daemon(root=tmp_path / "d", settings=settings)
    daemon.start(timeout=180)
    root = daemon.exports

    def objects() -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }

    yield Bucket(
        daemon,
        str(root),
        "",
        objects,
        lambda key, body: (root / key).write_bytes(body),
        lambda key: (root / key).unlink(),
    )
    daemon.stop()


def _s3(tmp_path: Path, settings: dict[str, object], moto: ServerProcess) -> Iterator[Bucket]:
    store = S3Store(moto.endpoint, moto.endpoint)
    daemon = ProfileDaemon(
        root=tmp_path / "d",
        settings=settings,
        profiles={"lake": store.profile},
        environment=store.environment,
    )
    daemon.start(timeout=180)

    def put(key: str, body: bytes) -> None:
        store.client.put_object(Bucket=store.bucket, Key=f"exports/{key}", Body=body)

    def remove(key: str) -> None:
        store.client.delete_object(Bucket=store.bucket, Key=f"exports/{key}")

    yield Bucket(
        daemon,
        store.root_uri,
        "lake",
        lambda: {key: store.read(key) for key in sorted(store.keys())},
        put,
        remove,
    )
    daemon.stop()


@pytest.fixture(params=["local", "s3"])
def bucket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bucket]:
    settings = _signing_settings(tmp_path)
    if request.param == "local":
        yield from _local(tmp_path, settings)
    else:
        yield from _s3(tmp_path, settings, request.getfixturevalue("moto_server"))


def _spec(bucket: Bucket, mode: str) -> pb.ExportSpec:
    return ExportClient.build_spec(
        source=str(bucket.daemon.sources / "items.parquet"),
        to=bucket.destination,
        dataset="items",
        format="jsonl",
        compression="none",
        chunk_rows=100,
        storage_profile=bucket.profile,
        incremental=pb.Incremental(mode=mode, key=["id"]),
    )


def _sync(bucket: Bucket, mode: str) -> pb.Export:
    with ExportClient(bucket.daemon.address) as client:
        export = client.wait(client.create(_spec(bucket, mode)).id, timeout=300)
    assert export.state == pb.EXPORT_STATE_SUCCEEDED, export.error.message
    return export


def _refused(bucket: Bucket) -> SluiceError:
    """The error of an increment that must be refused; asserts it wrote nothing."""
    before = bucket.objects()
    with ExportClient(bucket.daemon.address) as client, pytest.raises(SluiceError) as caught:
        client.create(_spec(bucket, "incremental"))
    assert bucket.objects() == before
    return caught.value


def _without_last_rows(index: bytes, rows: int) -> bytes:
    """A stored key index (an Arrow IPC stream) without its last `rows` rows."""
    table = pa_ipc.open_stream(index).read_all()
    out = io.BytesIO()
    with pa_ipc.new_stream(out, table.schema) as writer:
        writer.write_table(table.slice(0, table.num_rows - rows))
    return out.getvalue()


def test_a_tampered_parent_stops_the_next_increment(bucket: Bucket) -> None:
    source = bucket.daemon.sources / "items.parquet"
    scenario.day1().write_parquet(source)
    day1 = _sync(bucket, "full")
    scenario.day2().write_parquet(source)
    manifest_key = f"items/{day1.id}/manifest.json"
    signed = bucket.objects()[manifest_key]

    # Edited: the key index claims two rows fewer (the night would send them again).
    edited = json.loads(signed)
    edited["key_index"]["rows"] -= 2
    bucket.put(manifest_key, json.dumps(edited, indent=2).encode())
    error = _refused(bucket)
    assert error.code == "DATA_LOSS", error
    assert f"the parent export {day1.id} ({manifest_key}) fails its signature check" in str(error)
    assert "manifest edited?" in str(error)

    # The manifest restored, its key index edited (two keys gone: rows sent again,
    # their deletions never found): the signed manifest's sha256 of it no longer holds.
    # Planning does not read the index: the run fails, before it commits anything.
    bucket.put(manifest_key, signed)
    index_key = f"items/{day1.id}/index.arrows"
    index = bucket.objects()[index_key]
    bucket.put(index_key, _without_last_rows(index, 2))
    before = bucket.objects()
    with ExportClient(bucket.daemon.address) as client:
        export_id = client.create(_spec(bucket, "incremental")).id
        with pytest.raises(ExportFailedError) as ended:
            client.wait(export_id, timeout=300)
    failed = ended.value.export
    assert failed.state == pb.EXPORT_STATE_FAILED, failed
    assert failed.error.code == "DATA_LOSS", failed.error
    assert f"the key index of the parent export {day1.id} (index.arrows) is not the one its " in (
        failed.error.message
    )
    assert bucket.objects() == before

    # Restored: the chain continues, and the night sends day 2's changes exactly.
    bucket.put(index_key, index)
    day2 = _sync(bucket, "incremental")
    continued = json.loads(bucket.objects()[f"items/{day2.id}/manifest.json"])
    assert continued["parent_export_id"] == day1.id
    assert continued["incremental"]["changes"] == {
        "inserted": 2, "updated": 3, "deleted": 2, "unchanged": 295
    }  # fmt: skip

    # Replaced: day 1's signed manifest (with its signature) copied over day 2's.
    day2_key = f"items/{day2.id}/manifest.json"
    day2_manifest, day2_signature = bucket.objects()[day2_key], bucket.objects()[day2_key + ".sig"]
    bucket.put(day2_key, signed)
    bucket.put(day2_key + ".sig", bucket.objects()[manifest_key + ".sig"])
    error = _refused(bucket)
    assert error.code == "DATA_LOSS", error
    assert f"({day2_key}) holds the signed manifest of export {day1.id}" in str(error)

    # Unsigned: day 2's signature removed (its manifest edited), in a chain day 1 signed.
    edited = json.loads(day2_manifest)
    edited["key_index"]["rows"] -= 2
    bucket.put(day2_key, json.dumps(edited, indent=2).encode())
    bucket.remove(day2_key + ".sig")
    error = _refused(bucket)
    assert error.code == "DATA_LOSS", error
    assert f"the parent export {day2.id} ({day2_key}) has no manifest.json.sig" in str(error)
    assert f"(export {day1.id} is)" in str(error)

    bucket.put(day2_key, day2_manifest)
    bucket.put(day2_key + ".sig", day2_signature)
    day3 = _sync(bucket, "incremental")
    assert day3.state == pb.EXPORT_STATE_SUCCEEDED


def test_export_verify_checks_the_signature_of_a_signing_daemon(bucket: Bucket) -> None:
    """Someone who may write the bucket forges a chunk and edits the manifest's sha256,
    size and records to match: the chunks agree with the manifest, but the manifest no
    longer verifies under the daemon's key, so `export verify` reports it corrupt (and
    so when the signature is removed too). Restored, it verifies again."""
    scenario.day1().write_parquet(bucket.daemon.sources / "items.parquet")
    export = _sync(bucket, "full")
    manifest_key = f"items/{export.id}/manifest.json"
    stored = bucket.objects()
    signed, signature = stored[manifest_key], stored[manifest_key + ".sig"]
    assert _verified(bucket, export.id) == []

    manifest = json.loads(signed)
    chunk = manifest["chunks"][0]
    forged = b"".join(json.dumps({"id": i, "amount": 99999}).encode() + b"\n" for i in range(100))
    original = stored[f"items/{export.id}/{chunk['path']}"]
    bucket.put(f"items/{export.id}/{chunk['path']}", forged)
    chunk.update(sha256=hashlib.sha256(forged).hexdigest(), stored_bytes=len(forged))
    bucket.put(manifest_key, json.dumps(manifest).encode())
    problems = _verified(bucket, export.id)
    assert problems == [
        "manifest.json: fails its signature check: the manifest signature does not verify "
        "(manifest edited?)"
    ], problems
    bucket.remove(manifest_key + ".sig")
    assert _verified(bucket, export.id) == [
        "manifest.json: has no manifest.json.sig, and this server signs manifests"
    ]

    bucket.put(manifest_key, signed)
    bucket.put(f"items/{export.id}/{chunk['path']}", original)
    # Unsigned, as one made before the daemon signed: corrupt unless --allow-unsigned,
    # which says so on its own line and checks the chunks (a forged one still fails).
    assert _verified(bucket, export.id) == [
        "manifest.json: has no manifest.json.sig, and this server signs manifests"
    ]
    unsigned = _verify_cli(bucket, export.id, "--allow-unsigned")
    assert unsigned.returncode == 0, unsigned
    assert unsigned.stdout.splitlines()[0] == (
        "unsigned manifest.json: no manifest.json.sig, although the server signs manifests "
        "(made before it signed?); the chunks are checked against it unproven"
    )
    assert unsigned.stdout.splitlines()[1].startswith(f"export {export.id}: ok, ")
    bucket.put(f"items/{export.id}/{chunk['path']}", forged)
    broken = _verify_cli(bucket, export.id, "--allow-unsigned", "--json")
    assert broken.returncode == 1, broken
    report = json.loads(broken.stdout)
    assert (report["unsigned"], report["ok"]) == (True, False), report
    assert [c["path"] for c in report["corrupt"]] == [chunk["path"]], report
    bucket.put(f"items/{export.id}/{chunk['path']}", original)

    bucket.put(manifest_key + ".sig", signature)
    assert _verified(bucket, export.id) == []
    signed_allowed = _verify_cli(bucket, export.id, "--allow-unsigned", "--json")
    assert signed_allowed.returncode == 0, signed_allowed
    assert json.loads(signed_allowed.stdout)["unsigned"] is False


def test_export_read_refuses_an_unsigned_manifest_from_a_signing_daemon(tmp_path: Path) -> None:
    """The signature removed along with a forged chunk and manifest: `export read` with
    --server names the missing signature (the daemon publishes its key) and writes
    nothing; --allow-unsigned reads it anyway, and so does a read naming no server."""
    buckets = _local(tmp_path, _signing_settings(tmp_path))
    bucket = next(buckets)
    try:
        scenario.day1().write_parquet(bucket.daemon.sources / "items.parquet")
        export = _sync(bucket, "full")
        manifest_key = f"items/{export.id}/manifest.json"
        manifest = json.loads(bucket.objects()[manifest_key])
        chunk = manifest["chunks"][0]
        forged = b"".join(json.dumps({"id": i}).encode() + b"\n" for i in range(chunk["records"]))
        bucket.put(f"items/{export.id}/{chunk['path']}", forged)
        chunk.update(sha256=hashlib.sha256(forged).hexdigest(), stored_bytes=len(forged))
        bucket.put(manifest_key, json.dumps(manifest).encode())
        bucket.remove(manifest_key + ".sig")
        path = str(bucket.daemon.exports / manifest_key)

        out = tmp_path / "out.jsonl"
        for ref in (path, export.id):
            refused = run_cli(bucket.daemon, "export", "read", ref, "-o", str(out), timeout=300)
            assert refused.returncode == 1, refused
            assert refused.stderr.strip() == (
                "sluice: error: the manifest is not signed (no manifest.json.sig), yet the "
                "server signs manifests: its signature was removed (with an edit?), or it was "
                "made before the server signed; pass --allow-unsigned to read it anyway"
            )
            assert not out.exists()
        allowed = run_cli(
            bucket.daemon, "export", "read", path, "-o", str(out), "--allow-unsigned", timeout=300
        )
        assert allowed.returncode == 0, allowed
        assert out.read_bytes().startswith(forged)
        out.unlink()
        serverless = run_cli(None, "export", "read", path, "-o", str(out), timeout=300)
        assert serverless.returncode == 0, serverless
        assert out.read_bytes().startswith(forged)
        out.unlink()
        # An export id with no server named is resolved by the daemon at the default
        # address: that daemon signs, so its key is checked as if it had been named.
        by_id = _run_cli_at_default_address(
            bucket.daemon, "export", "read", export.id, "-o", str(out)
        )
        assert (by_id.returncode, by_id.stderr.strip()) == (1, refused.stderr.strip()), by_id
        assert not out.exists()
    finally:
        next(buckets, None)


def _run_cli_at_default_address(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    """`sluice ARGS...` naming no server (no --server, no $SLUICE_SERVER), with the
    client's default address (127.0.0.1:7070) pointed at `daemon`: a test must not take
    the real default port, which another daemon on the machine may hold."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    program = (
        "import sys, sluice.client._client as c; "
        f"c.DEFAULT_ADDRESS = {daemon.address!r}; "
        "from sluice.client.cli.main import main; sys.argv[0] = 'sluice'; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", program, *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _verify_cli(bucket: Bucket, export_id: str, *options: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        bucket.daemon,
        "export", "verify", export_id, "--storage-profile", bucket.profile, *options,
        timeout=300,
    )  # fmt: skip


def _verified(bucket: Bucket, export_id: str) -> list[str]:
    """What `export verify` finds wrong with the export through the CLI ([]: ok): its
    `corrupt` lines without their prefix and key, or its whole output when it says FAILED
    with none; asserts the exit code follows the verdict."""
    result = _verify_cli(bucket, export_id)
    *problems, verdict = result.stdout.splitlines()
    ok = verdict.startswith(f"export {export_id}: ok, ")
    assert result.returncode == (0 if ok else 1), result
    if not ok and not problems:
        return [result.stdout]
    return [line.removeprefix("corrupt  ").rpartition(" (key ")[0] for line in problems]


def test_a_chain_is_continued_only_by_a_server_that_can_check_it(tmp_path: Path) -> None:
    """A server that signs does not continue an unsigned chain (an unsigned parent cannot
    be told from one whose signature was removed); a server without the key does not
    continue a signed one. Both FAILED_PRECONDITION, nothing written; a full export starts
    a new chain."""
    signing = _signing_settings(tmp_path)
    unsigned = {k: v for k, v in signing.items() if k != "manifest_signing_key"}
    buckets = _local(tmp_path, unsigned)
    bucket = next(buckets)
    try:
        scenario.day1().write_parquet(bucket.daemon.sources / "items.parquet")
        first = _sync(bucket, "full")
        _restart(bucket.daemon, signing)
        error = _refused(bucket)
        assert error.code == "FAILED_PRECONDITION", error
        assert f"the parent export {first.id} (items/{first.id}/manifest.json) is unsigned" in (
            str(error)
        )
        signed = _sync(bucket, "full")

        _restart(bucket.daemon, unsigned)
        error = _refused(bucket)
        assert error.code == "FAILED_PRECONDITION", error
        assert f"the parent export {signed.id} (items/{signed.id}/manifest.json) is signed" in (
            str(error)
        )
        assert "no manifest_signing_key to verify it" in str(error)

        # Signing off for a while: an increment made then is unsigned in a signed chain.
        # This server (no key) cannot tell that from a removed signature: a precondition.
        _restart(bucket.daemon, signing)
        scenario.day2().write_parquet(bucket.daemon.sources / "items.parquet")
        later = _sync(bucket, "incremental")
        bucket.remove(f"items/{later.id}/manifest.json.sig")
        _restart(bucket.daemon, unsigned)
        error = _refused(bucket)
        assert error.code == "FAILED_PRECONDITION", error
        assert f"the parent export {later.id} (items/{later.id}/manifest.json) has no " in str(
            error
        )
        assert "or it was made while this server did not sign; restore it" in str(error)
    finally:
        next(buckets, None)


def _restart(daemon: Daemon, settings: dict[str, object]) -> None:
    daemon.stop()
    daemon.settings = settings
    daemon.start(timeout=180)


def test_a_signing_daemon_serves_records_and_diffs_only_of_a_verified_manifest(
    tmp_path: Path,
) -> None:
    """A forged chunk with its sha256 and size edited into the manifest: Flight DoGet,
    DiffExports and DiffExportRecords check the manifest's signature as `export read`
    does, and serve nothing of it — DATA_LOSS when it fails to verify or its signature
    was removed, FAILED_PRECONDITION when another key signed it. Restored, it is served
    again."""
    buckets = _local(tmp_path, _signing_settings(tmp_path))
    bucket = next(buckets)
    try:
        scenario.day1().write_parquet(bucket.daemon.sources / "items.parquet")
        export = _sync(bucket, "full")
        other = _sync(bucket, "full")
        manifest_key = f"items/{export.id}/manifest.json"
        stored = bucket.objects()
        signed, signature = stored[manifest_key], stored[manifest_key + ".sig"]
        manifest = json.loads(signed)
        chunk = manifest["chunks"][0]
        chunk_key = f"items/{export.id}/{chunk['path']}"
        # The same rows and columns, every amount raised: only the manifest tells.
        forged = b"".join(
            json.dumps({**json.loads(line), "amount": 99999}).encode() + b"\n"
            for line in stored[chunk_key].splitlines()
        )
        bucket.put(chunk_key, forged)
        chunk.update(sha256=hashlib.sha256(forged).hexdigest(), stored_bytes=len(forged))
        edited = json.dumps(manifest).encode()
        bucket.put(manifest_key, edited)
        where = f"the manifest {manifest_key}"

        assert _served_errors(bucket, export.id, other.id) == 3 * [
            (
                "DATA_LOSS",
                f"{where} fails its signature check: the manifest signature does not "
                "verify (manifest edited?)",
            )
        ]
        bucket.remove(manifest_key + ".sig")
        assert _served_errors(bucket, export.id, other.id) == 3 * [
            (
                "DATA_LOSS",
                f"{where} has no manifest.json.sig, and this server signs manifests; one "
                "made before this server signed can be read from storage with `sluice "
                "export read --allow-unsigned`",
            )
        ]
        stranger = Ed25519PrivateKey.generate()
        bucket.put(
            manifest_key + ".sig",
            signature_document(stranger.public_key(), stranger.sign(edited)),
        )
        errors = _served_errors(bucket, export.id, other.id)
        assert {code for code, _ in errors} == {"FAILED_PRECONDITION"}, errors
        assert all(
            message.startswith(f"{where}: ")
            and message.endswith(
                "; configure the key that signed it (after a rotation: its public key in "
                "manifest_verification_keys) to serve its records"
            )
            for _, message in errors
        ), errors

        bucket.put(manifest_key, signed)
        bucket.put(manifest_key + ".sig", signature)
        bucket.put(chunk_key, stored[chunk_key])
        assert _served_errors(bucket, export.id, other.id) == []
        with ExportClient(bucket.daemon.address) as client:
            served = pa.Table.from_batches(list(client.read(export.id)))
        assert served.num_rows == sum(c["records"] for c in json.loads(signed)["chunks"])
        assert 99999 not in served.column("amount").to_pylist()
    finally:
        next(buckets, None)


def _new_seed_file(path: Path) -> Ed25519PrivateKey:
    """A fresh signing key, written to `path` as manifest_signing_key reads it."""
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    path.write_bytes(base64.b64encode(seed) + b"\n")
    return key


def _public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_a_rotated_key_keeps_verifying_what_it_signed(tmp_path: Path) -> None:
    """Key rotation: the daemon signs with a new key and keeps the old key's PUBLIC half
    in manifest_verification_keys. The chain the old key signed continues (its parent
    verifies under the old key), the new increment is signed with the new key only, and
    `export verify` and `export read --server` accept the old export. Without the old key
    listed, the chain is refused as before (FAILED_PRECONDITION, nothing written), and so
    are Flight DoGet and the diffs of the old export; listed, they serve it."""
    settings = _signing_settings(tmp_path)
    old = Ed25519PrivateKey.from_private_bytes(
        base64.b64decode((tmp_path / "sign.key").read_bytes())
    )
    (tmp_path / "old.pub.pem").write_bytes(_public_pem(old))
    new = _new_seed_file(tmp_path / "new.key")
    rotated = {**settings, "manifest_signing_key": f"file:{tmp_path / 'new.key'}"}
    buckets = _local(tmp_path, settings)
    bucket = next(buckets)
    try:
        source = bucket.daemon.sources / "items.parquet"
        scenario.day1().write_parquet(source)
        day1 = _sync(bucket, "full")
        scenario.day2().write_parquet(source)

        _restart(bucket.daemon, rotated)
        error = _refused(bucket)
        assert error.code == "FAILED_PRECONDITION", error
        assert "after a rotation: its public key in manifest_verification_keys" in str(error)
        served = _served_errors(bucket, day1.id, day1.id)
        assert {code for code, _ in served} == {"FAILED_PRECONDITION"}, served

        _restart(
            bucket.daemon,
            {**rotated, "manifest_verification_keys": [f"file:{tmp_path / 'old.pub.pem'}"]},
        )
        with ExportClient(bucket.daemon.address) as client:
            info = client.server_info()
        assert info.manifest_signing_public_key.encode() == _public_pem(new)
        assert [k.encode() for k in info.manifest_verification_public_keys] == [_public_pem(old)]
        # Read at start, and only then: the key file gone afterwards changes nothing
        # (GetServerInfo, verify, reads and the increment's parent check below).
        (tmp_path / "old.pub.pem").unlink()
        with ExportClient(bucket.daemon.address) as client:
            again = client.server_info()
        assert list(again.manifest_verification_public_keys) == list(
            info.manifest_verification_public_keys
        )

        assert _verified(bucket, day1.id) == []
        out = tmp_path / "day1.jsonl"
        read = run_cli(bucket.daemon, "export", "read", day1.id, "-o", str(out), timeout=300)
        assert read.returncode == 0, read
        assert len(out.read_text().splitlines()) == 300

        day2 = _sync(bucket, "incremental")
        stored = bucket.objects()
        continued = json.loads(stored[f"items/{day2.id}/manifest.json"])
        assert continued["parent_export_id"] == day1.id
        assert continued["incremental"]["changes"] == {
            "inserted": 2, "updated": 3, "deleted": 2, "unchanged": 295
        }  # fmt: skip
        signature = json.loads(stored[f"items/{day2.id}/manifest.json.sig"])
        assert signature["key_id"] == key_id(new.public_key())
        new.public_key().verify(
            base64.b64decode(signature["signature"]), stored[f"items/{day2.id}/manifest.json"]
        )
        assert _verified(bucket, day2.id) == []
        # Flight DoGet and the diffs serve the old key's export beside the new key's.
        assert _served_errors(bucket, day1.id, day2.id) == []
        with ExportClient(bucket.daemon.address) as client:
            assert pa.Table.from_batches(list(client.read(day1.id))).num_rows == 300
            assert client.diff(day1.id, day2.id).base_export_id == day1.id
    finally:
        next(buckets, None)


def _served_errors(bucket: Bucket, export_id: str, other_id: str) -> list[tuple[str, str]]:
    """The (code, message) of each of DoGet, DiffExports and DiffExportRecords of
    `export_id` (against `other_id`) that fails ([]: all three served it)."""
    calls: list[Callable[[ExportClient], object]] = [
        lambda client: list(client.read(export_id)),
        lambda client: client.diff(export_id, other_id),
        lambda client: list(client.diff_records(other_id, export_id)),
    ]
    errors = []
    with ExportClient(bucket.daemon.address) as client:
        for call in calls:
            try:
                call(client)
            except SluiceError as exc:
                errors.append((exc.code, exc.message))
    return errors


def test_a_verification_key_must_be_a_readable_public_key(tmp_path: Path) -> None:
    """The daemon refuses to start with a verification key it cannot use, naming the
    setting and the entry, never the key: a private key (a key kept to verify must not
    be able to sign), a signing key's base64 seed file (never taken for a raw public
    key, which would publish it), one that cannot be read, one without
    manifest_signing_key."""
    settings = _signing_settings(tmp_path)
    old = _new_seed_file(tmp_path / "old.key")
    private_pem = old.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "old.pem").write_bytes(private_pem)
    (tmp_path / "old.pub.pem").write_bytes(_public_pem(old))
    (tmp_path / "garbled.pem").write_bytes(_public_pem(old)[:60] + b"\n")
    daemon = Daemon(root=tmp_path / "d", settings=settings)
    cases = {
        f"file:{tmp_path / 'old.pem'}": "manifest_verification_keys[1] is a private key",
        # The retired signing key's own file (base64 of its 32-byte seed): taken for a raw
        # public key, GetServerInfo would publish the private key.
        f"file:{tmp_path / 'old.key'}": "manifest_verification_keys[1] is no PEM public key "
        "(-----BEGIN PUBLIC KEY-----): a 32-byte base64 value cannot be told from a "
        "private seed; give the PEM public key",
        f"file:{tmp_path / 'missing.pem'}": "manifest_verification_keys[1] is unusable: ",
        f"file:{tmp_path / 'garbled.pem'}": "manifest_verification_keys[1] is unusable: not "
        "an Ed25519 public key",
    }
    for reference, expected in cases.items():
        daemon.settings = {
            **settings,
            "manifest_verification_keys": [f"file:{tmp_path / 'old.pub.pem'}", reference],
        }
        refused = daemon.serve_refused(timeout=180)
        assert refused.returncode != 0, refused
        assert expected in refused.stderr, refused.stderr
        for secret in (private_pem.decode().splitlines()[1], (tmp_path / "old.key").read_text()):
            assert secret.strip() not in refused.stderr + refused.stdout
    unsigned = {k: v for k, v in settings.items() if k != "manifest_signing_key"}
    daemon.settings = {
        **unsigned,
        "manifest_verification_keys": [f"file:{tmp_path / 'old.pub.pem'}"],
    }
    refused = daemon.serve_refused(timeout=180)
    assert refused.returncode != 0, refused
    assert "manifest_verification_keys needs manifest_signing_key" in refused.stderr, refused

"""Azure's own containers through a real daemon and Azurite: `$web` (a static website's
container, where sites are exported to) is a destination and a source like any other
container, named `az://$web/...` or `abfs://$web@ACCOUNT/...`; the CLI takes its manifest
URI too. `$logs` and `$root` are names as well, but sources only; `$web2` is none."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from azure.core.exceptions import ResourceExistsError

from sluice.client import ExportClient, InvalidArgumentError
from tests.integration.test_cli_e2e import ok_json, sluice
from tests.servers.cloud import ProfileDaemon
from tests.servers.fixtures import blob_service
from tests.servers.processes import AZURITE_ACCOUNT, AZURITE_KEY, ServerProcess

pytestmark = pytest.mark.integration
ROWS = 3_000


@pytest.fixture
def daemon(tmp_path: Path, azurite_server: ServerProcess) -> Iterator[ProfileDaemon]:
    variable = f"TEST_AZURE_KEY_{uuid.uuid4().hex[:8]}"
    daemon = ProfileDaemon(
        root=tmp_path / "d",
        profiles={
            "blob": {
                "kind": "azure",
                "account_name": AZURITE_ACCOUNT,
                "account_url": f"{azurite_server.endpoint}/{AZURITE_ACCOUNT}",
                "account_key_ref": f"env:{variable}",
            }
        },
        environment={variable: AZURITE_KEY},
    )
    daemon.start()
    yield daemon
    daemon.stop(timeout=20)


def _special(endpoint: str, name: str) -> None:
    """Azure makes $web when a static website is switched on; Azurite lets a test."""
    # Another test of this worker's Azurite may have made it.
    with contextlib.suppress(ResourceExistsError):
        blob_service(endpoint).create_container(name)


def test_an_export_to_and_from_the_web_container(
    daemon: ProfileDaemon, azurite_server: ServerProcess
) -> None:
    _special(azurite_server.endpoint, "$web")
    web = blob_service(azurite_server.endpoint).get_container_client("$web")
    run = uuid.uuid4().hex[:12]
    frame = pl.DataFrame({"id": range(ROWS), "page": [f"/p/{i}.html" for i in range(ROWS)]})
    source = io.BytesIO()
    frame.write_parquet(source)
    web.upload_blob(f"{run}/in/pages.parquet", source.getvalue())

    made = {}
    for name, source_uri, to in (
        ("az", f"az://$web/{run}/in/*.parquet", f"az://$web/{run}/site"),
        (
            "abfs",
            f"abfs://$web@{AZURITE_ACCOUNT}/{run}/in/pages.parquet",
            f"abfs://$web@{AZURITE_ACCOUNT}/{run}/site",
        ),
    ):
        created = ok_json(
            sluice(
                daemon,
                "export",
                "create",
                "--source",
                source_uri,
                "--source-profile",
                "blob",
                "--to",
                to,
                "--storage-profile",
                "blob",
                "--dataset",
                name,
                "--format",
                "jsonl",
                "--compression",
                "none",
                "--wait",
                "--json",
                timeout=120,
            )
        )
        assert created["state"] == "succeeded", created["error"]
        # An abfs:// destination is recorded as az://CONTAINER/..., as for any container.
        assert created["manifest_uri"].startswith(f"az://$web/{run}/site/{name}/"), created
        made[name] = created

    for name, created in made.items():
        verified = ok_json(sluice(daemon, "export", "verify", created["id"], "--json"))
        assert verified["ok"] and verified["chunks_checked"] >= 1, verified
        # The CLI checks a manifest URI itself: $web passes, and is named as it is.
        shown = sluice(daemon, "export", "manifest", created["manifest_uri"])
        assert shown.stderr.strip() == (
            f"sluice: error: manifest {created['manifest_uri']} is not on local storage; "
            "download it and pass the file path"
        ), shown.stderr
        folder = f"{run}/site/{name}/{created['id']}"
        manifest = json.loads(web.download_blob(f"{folder}/manifest.json").readall())
        records = [
            json.loads(line)
            for chunk in manifest["chunks"]
            for line in web.download_blob(f"{folder}/{chunk['path']}").readall().splitlines()
        ]
        assert records == frame.to_dicts(), name
        assert manifest["source"]["uri"].startswith(("az://$web/", "abfs://$web@")), manifest


@pytest.mark.parametrize(
    ("container", "why"),
    [("$logs", "Storage Analytics writes it"), ("$root", "allows no '/' in the names")],
)
def test_the_logs_and_root_containers_are_sources_not_destinations(
    daemon: ProfileDaemon, azurite_server: ServerProcess, container: str, why: str
) -> None:
    # Azurite enforces neither rule (it stores a/b blobs in $root and lets anyone write
    # $logs), so the refusal is planning's: InvalidArgument before any request.
    _special(azurite_server.endpoint, container)
    run = uuid.uuid4().hex[:12]
    stored = blob_service(azurite_server.endpoint).get_container_client(container)
    # A flat name, as $root holds them; $logs is read the same way.
    stored.upload_blob(f"rows-{run}.csv", b"id,name\n1,a\n2,b\n")
    local = daemon.sources / "rows.csv"
    local.write_text("id,name\n1,a\n2,b\n")
    with ExportClient(daemon.address) as client:
        for to in (f"az://{container}/{run}", f"abfs://{container}@{AZURITE_ACCOUNT}/{run}"):
            spec = ExportClient.build_spec(
                source=str(local), to=to, storage_profile="blob", dataset="x"
            )
            with pytest.raises(InvalidArgumentError, match="no destination") as refused:
                client.create(spec)
            assert why in str(refused.value), refused.value
        assert not any(b.name.startswith(f"{run}/") for b in stored.list_blobs())
        spec = ExportClient.build_spec(
            source=f"az://{container}/rows-{run}.csv",
            source_profile="blob",
            to=str(daemon.exports),
            dataset="x",
            format="jsonl",
            compression="none",
        )
        export = client.wait(client.create(spec).id, timeout=60)
    manifest = json.loads(Path(export.manifest_uri.removeprefix("file:")).read_text())
    assert sum(chunk["records"] for chunk in manifest["chunks"]) == 2, manifest


def test_no_other_container_name_holds_a_dollar(daemon: ProfileDaemon) -> None:
    source = daemon.sources / "rows.csv"
    source.write_text("id\n1\n")
    with ExportClient(daemon.address) as client:
        for to in ("az://$web2/x", "az://$WEB/x", "abfs://$weblogs@acct/x"):
            spec = ExportClient.build_spec(
                source=str(source), to=to, storage_profile="blob", dataset="x"
            )
            with pytest.raises(InvalidArgumentError, match="invalid Azure container") as e:
                client.create(spec)
            message = str(e.value)
            assert "(not repeated)" in message and "weblogs" not in message, message
            assert "$" not in message.partition("(")[0], message

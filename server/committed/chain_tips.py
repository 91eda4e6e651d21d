"""The newest export of a chain must still be in the destination when the chain goes on.

Storage is the source of truth for a chain's parent (catalog.latest_export): the newest
committed manifest there. When the newest export's manifest is removed outside Sluice (a
bucket lifecycle rule, a hand-run `rm`), the older export becomes the newest without a
trace in storage, and the next increment would continue it: a cursor increment reads
again what the removed export held (sent twice), a key-only one compares with the older
key index (changes re-sent, deletions tombstoned twice or never). The job store still
knows which export of the chain last SUCCEEDED (a `sluice export delete` makes it
DELETED), so an increment planned while that export's manifest is gone is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sluice.cloud_uris import without_secrets
from sluice.format.layout import SIGNATURE_NAME
from sluice.server.committed.catalog import CommittedExport
from sluice.server.errors import DataLoss


@dataclass(frozen=True)
class ChainTip:
    """The chain's newest SUCCEEDED export, as the job store knows it."""

    export_id: str
    manifest_uri: str


def check_chain_tip(tip: ChainTip | None, exports: Sequence[CommittedExport]) -> None:
    """DataLoss when `tip` (None: the store knows no export of the chain) is not among
    the chain's committed `exports` (its creator's in the dataset, as listed in the
    destination): its manifest was removed, and the newest one left is not the parent
    the chain had."""
    # By the folder a manifest is stored in, not the id it claims: a manifest copied
    # over another is the signature check's to name (chain_signatures).
    if tip is None or any(_folder(e) == tip.export_id for e in exports):
        return
    older = exports[-1].export_id if exports else ""
    instead = f"the older export {older}" if older else "no parent (all rows again)"
    raise DataLoss(
        f"the chain's newest export {tip.export_id} has no manifest at "
        f"{without_secrets(tip.manifest_uri)}: it was removed outside Sluice (`sluice export "
        f"delete` records a deletion), and an increment would continue {instead}, sending "
        f"again or never sending what {tip.export_id} held; restore its manifest.json "
        f"(and {SIGNATURE_NAME}), or start a new chain with --mode full; or, if `sluice "
        f"export delete {tip.export_id}` was cut short, run it again"
    )


def _folder(export: CommittedExport) -> str:
    """The export folder its manifest is stored in (DATASET/EXPORT_ID/manifest.json)."""
    return export.manifest_key.rsplit("/", 2)[-2]

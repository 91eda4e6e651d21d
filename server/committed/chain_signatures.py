"""The signature check of the parent an incremental export continues.

An increment trusts its parent's manifest: the watermark says which rows it reads, the
key index entry which rows it sends and which become tombstones. Anyone who may write to
the destination could edit that manifest so that the next night skips rows or sends
them again. So when the chain is signed, the parent is used only once its manifest
verifies under this server's signing key (or an older one it accepts for verification,
manifest_verification_keys), and as read from the very bytes that verified
(an edit between the listing and the check changes nothing).

The chain is signed when this server signs manifests (an export it continues is one it
signs: an unsigned parent cannot be told from one whose signature was removed), or when
the parent or one of its ancestors carries a signature. Statuses (ARCHITECTURE.md
"Interfaces"): DATA_LOSS when the stored data contradicts itself (a manifest that does
not verify, a malformed signature, a signature missing in a signed chain, a manifest
stored under another export's folder); FAILED_PRECONDITION when this server cannot
check it (no key, another key, a chain started before it signed).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.format.layout import SIGNATURE_NAME
from sluice.format.signatures import SignedByAnotherKey
from sluice.server.committed.catalog import CommittedExport, describe, exports_by
from sluice.server.committed.chain_tips import ChainTip, check_chain_tip
from sluice.server.committed.manifest_signatures import folder_mismatch, signature_problem
from sluice.server.committed.manifests import parse_manifest, read_manifest_bytes
from sluice.server.errors import DataLoss, FailedPrecondition
from sluice.sinks.base import Sink

_NEW_CHAIN = "start a new chain with a full export"


def verified_latest_export(
    sink: Sink,
    dataset: str,
    created_by: str,
    verifying_keys: Sequence[Ed25519PublicKey],
    chain_tip: ChainTip | None = None,
    export_id: str = "",
) -> CommittedExport | None:
    """The parent the increment `export_id` of `created_by` continues (catalog.
    latest_export, never the increment's own manifest: a run that crashed after
    committing it, before the job store heard, is run again), checked by
    `verified_parent`, once the chain's newest export as the job store knows it
    (`chain_tip`) is found among them (chain_tips.check_chain_tip)."""
    exports = [e for e in exports_by(sink, dataset, created_by) if e.export_id != export_id]
    check_chain_tip(chain_tip, exports)
    return verified_parent(sink, exports[-1], exports, verifying_keys) if exports else None


def verified_parent(
    sink: Sink,
    parent: CommittedExport,
    exports: Sequence[CommittedExport],
    verifying_keys: Sequence[Ed25519PublicKey],
) -> CommittedExport:
    """`parent` (one of the dataset's `exports`) as its verified manifest describes it;
    unchecked when neither its chain nor this server (`verifying_keys`: the public half
    of its manifest_signing_key, then the older keys it accepts; none when it signs
    nothing) signs. Raises DataLoss or
    FailedPrecondition naming the parent and what failed."""
    name = f"the parent export {parent.export_id} ({parent.manifest_key})"
    if not parent.signed:
        signed_ancestor = _signed_ancestor(parent, exports)
        if signed_ancestor:
            # DATA_LOSS when this server signs (it would have signed the parent, had it
            # made it then); without a key it cannot tell, so it is a precondition.
            raise (DataLoss if verifying_keys else FailedPrecondition)(
                f"{name} has no {SIGNATURE_NAME}, yet its chain is signed (export "
                f"{signed_ancestor} is): its signature was removed, its manifest replaced, "
                f"or it was made while this server did not sign; restore it, or {_NEW_CHAIN}"
            )
        if not verifying_keys:
            return parent  # an unsigned chain continued by a server that signs nothing
        raise FailedPrecondition(
            f"{name} is unsigned, and this server signs manifests: an unsigned parent "
            f"cannot be told from an edited one; {_NEW_CHAIN}"
        )
    if not verifying_keys:
        raise FailedPrecondition(
            f"{name} is signed, and this server has no manifest_signing_key to verify it "
            f"with; configure the key that signed the chain, or {_NEW_CHAIN}"
        )
    raw = read_manifest_bytes(sink, parent.manifest_key)
    try:
        problem = signature_problem(sink, parent.manifest_key, raw, verifying_keys)
    except SignedByAnotherKey as exc:
        raise FailedPrecondition(
            f"{name}: {exc}; configure the key that signed the chain (after a rotation: its "
            f"public key in manifest_verification_keys), or {_NEW_CHAIN}"
        ) from None
    if problem:
        raise DataLoss(f"{name} {problem}")
    verified = describe(parent.manifest_key, parse_manifest(raw, parent.manifest_key), signed=True)
    # A signed manifest copied from another export (an older night's, with its
    # signature) verifies too: it must be the one of the folder it is stored in.
    mismatch = folder_mismatch(parent.manifest_key, verified.export_id, verified.dataset)
    if not mismatch and verified.created_by != parent.created_by:
        mismatch = (
            f"holds a signed manifest created by {verified.created_by!r}, not by "
            f"{parent.created_by!r}"
        )
    if mismatch:
        raise DataLoss(f"{name} {mismatch}")
    return verified


def _signed_ancestor(parent: CommittedExport, exports: Sequence[CommittedExport]) -> str:
    """The id of the nearest ancestor of `parent` that carries a signature ("": none)."""
    by_id = {e.export_id: e for e in exports}
    seen = {parent.export_id}
    ancestor = parent.parent_export_id
    while ancestor and ancestor not in seen and ancestor in by_id:
        seen.add(ancestor)
        if by_id[ancestor].signed:
            return ancestor
        ancestor = by_id[ancestor].parent_export_id
    return ""

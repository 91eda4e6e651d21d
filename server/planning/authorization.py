"""What a principal may do: scopes per operation, and the sources, destinations, storage
profiles, secrets, hash keys and notifications a request names checked against the
principal's lists. Every check runs before any I/O and answers PERMISSION_DENIED naming
the field; a message never says whether a file or object exists. Local paths are
normalised as the allowed roots are (symlinks resolved, `..` resolved away); cloud URIs
with `.` or `..` segments are refused outright, since stores take keys literally but
people read them as paths."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sluice.server.allowed_roots import within_roots
from sluice.server.errors import InvalidArgument, PermissionDenied, quoted
from sluice.server.jobs.model import Job
from sluice.server.notifications.local_hosts import is_local_webhook
from sluice.server.notifications.targets import MAILTO, is_url
from sluice.server.pipeline.source import ResolvedSource, shown
from sluice.server.pipeline.stream_source import is_stream_uri
from sluice.server.planning.spec import ExportSpec, RedactionRuleSpec
from sluice.server.principals import AuthSettings, Principal, Scope
from sluice.server.redaction_policy_config import DEFAULT_HASH_KEY
from sluice.sinks import LocationRefused, classify
from sluice.sinks.locations import SERVER_SCHEMES, classify_source

#: What each scope lets a principal do, for messages.
_DOING = {
    Scope.CREATE: "create or resume exports",
    Scope.READ: "read exports",
    Scope.CANCEL: "cancel exports",
    Scope.DELETE: "delete exports",
    Scope.ADMIN: "administer the server",
}


def require_scope(principal: Principal, scope: Scope) -> None:
    if not principal.may(scope):
        raise PermissionDenied(
            f"principal {principal.name!r} may not {_DOING[scope]} (needs scope {scope.value})"
        )


def may_see(principal: Principal, job: Job) -> bool:
    """Exports belong to their creator; admin sees all. Anyone else is told NOT_FOUND,
    so an export id never reveals that an export exists."""
    return principal.admin or job.created_by == principal.name


def check_spec_access(spec: ExportSpec, principal: Principal) -> None:
    """The request's source, destination, profiles and secrets are all within the
    principal's lists (raises PermissionDenied naming the first field that is not)."""
    # A named source's location and profile are the server's, not fields the caller set:
    # a denial names the field the caller did set.
    named = bool(spec.source.name)
    check_source(principal, spec.source.uri, "spec.source.name" if named else "spec.source.uri")
    check_destination(principal, spec.destination.uri, "spec.destination.uri")
    # A postgresql:// source names a source profile; any other source a storage profile.
    server = spec.source.uri.partition("://")[0].lower() in SERVER_SCHEMES
    check_profile(
        principal,
        spec.source.profile,
        "spec.source.name" if named else "spec.source.profile",
        "source profile" if server else "storage profile",
    )
    check_profile(principal, spec.destination.profile, "spec.destination.profile")
    for field, name in (
        ("spec.encryption.age_passphrase_ref", spec.encryption.age_passphrase_ref),
        ("spec.encryption.zip_password_ref", spec.encryption.zip_password_ref),
    ):
        check_secret(principal, name, field)
    for target in spec.notify:
        check_notification(principal, target, "spec.notify")
    for number, rule in enumerate(spec.redaction.rules):
        check_hash_key(principal, rule, f"spec.redaction.rules[{number}].key")
    for number, rule in enumerate(spec.redaction.template_rules):
        check_hash_key(principal, rule, f"spec.template (its rule {number + 1})")


def may_name_source(principal: Principal, uri: str, profile: str) -> bool:
    """Whether a request naming the named source at `uri` (read with `profile`) passes
    the principal's source and profile checks, as check_spec_access makes them:
    ListSources and PlanFromText show a principal only those."""
    server = uri.partition("://")[0].lower() in SERVER_SCHEMES
    try:
        check_source(principal, uri, "spec.source.name")
        check_profile(
            principal,
            profile,
            "spec.source.name",
            "source profile" if server else "storage profile",
        )
    except (PermissionDenied, InvalidArgument):
        return False
    return True


def check_hash_key(principal: Principal, rule: RedactionRuleSpec, field: str) -> None:
    """The hash key a rule uses is in the principal's `hash_keys`: the key it names, or,
    for a `hash` rule naming none, the server's "default" key (which it hashes under, so
    leaving the key out is no way around a list without "default")."""
    name = rule.key.strip()
    if not name and rule.action.strip().lower() == "hash":
        name = DEFAULT_HASH_KEY
    if name and principal.hash_keys is not None and name not in principal.hash_keys:
        raise PermissionDenied(
            f"{field}: principal {principal.name!r} may not use hash key {quoted(name)}"
        )


def check_source(principal: Principal, uri: str, field: str) -> None:
    if principal.source_roots is None or not uri.strip():
        return  # unrestricted, or missing: the planner names the missing field
    if is_stream_uri(uri):
        return  # records the caller pushes itself (Arrow Flight DoPut): no location
    try:
        location = classify_source(uri)
    except LocationRefused as exc:
        raise InvalidArgument(field, str(exc)) from None
    local = location.kind in {"local", "sqlite", "duckdb"}
    if not _within(uri, location.target, local, principal.source_roots):
        raise _denied(principal, field, "source", "source_roots")


def check_source_files(
    principal: Principal, files: Sequence[str], field: str, source: ResolvedSource | None = None
) -> None:
    """Each file a source's pattern expanded to lies within the principal's source roots
    too: a glob inside them may still reach out through a symlinked folder or file.
    Denied naming the first such file (a name the principal's own listing produced; of a
    named `source`, its name and the file's place, the path going to the log)."""
    if principal.source_roots is None:
        return
    for file in files:
        local = _is_local(file)
        target = file[len("file://") :] if local and "://" in file else file
        if not _within(file, target, local, principal.source_roots):
            if source is not None and source.source_name:
                source.log_file(file)
                named = source.file_shown(file)
            else:
                named = quoted(shown(file), 400)
            raise PermissionDenied(
                f"{field}: {named}, which the pattern matched, is outside the "
                f"sources principal {principal.name!r} may use (its source_roots in the "
                "server's [[auth.principals]]; symlinks are followed)"
            )


def check_run_access(
    auth: AuthSettings, created_by: str, files: Sequence[str], source: ResolvedSource | None = None
) -> None:
    """At each run (first or resumed): the files the source's pattern expands to now are
    within the source roots of the export's owner. A glob is expanded again when the
    export runs, and a symlink made after CreateExport must not carry it out of them.
    An owner no longer configured may run nothing (exports of the server itself, owned
    by "", are not a principal's)."""
    if not auth.principals or not created_by:
        return
    for config in auth.principals:
        if config.name == created_by:
            check_source_files(Principal.from_config(config), files, "spec.source.uri", source)
            return
    raise PermissionDenied(
        f"principal {created_by!r}, which created this export, is no longer configured"
    )


def check_destination(principal: Principal, uri: str, field: str) -> None:
    if principal.destination_roots is None or not uri.strip():
        return
    try:
        location = classify(uri.strip())
    except LocationRefused as exc:
        raise InvalidArgument(field, str(exc)) from None
    if not _within(
        uri.strip(), location.target, location.kind == "local", principal.destination_roots
    ):
        raise _denied(principal, field, "destination", "destination_roots")


def check_profile(
    principal: Principal, name: str, field: str, kind: str = "storage profile"
) -> None:
    """The principal's `profiles` list `name`, a profile of `kind` (what a denial calls
    it: "storage profile", or "source profile" for a database server's)."""
    if name and principal.profiles is not None and name not in principal.profiles:
        raise PermissionDenied(
            f"{field}: principal {principal.name!r} may not use {kind} {quoted(name)}"
        )


def check_notification(principal: Principal, target: str, field: str) -> None:
    """A configured notification the principal's `notifications` list names; an ad-hoc
    webhook URL anywhere but this host or its link (local_hosts.py). Admins: any."""
    if principal.admin or target.startswith(MAILTO):
        return
    if is_url(target):
        if is_local_webhook(target):
            raise PermissionDenied(
                f"{field}: principal {principal.name!r} may not notify a webhook URL on a "
                "loopback or link-local address (only an admin may; or name a configured "
                "[notifications.NAME])"
            )
        return
    # The target is not echoed: one that is no configured name may hold a secret.
    if principal.notifications is not None and target not in principal.notifications:
        raise PermissionDenied(
            f"{field}: principal {principal.name!r} may not notify this target (allowed: "
            f"{', '.join(principal.notifications) or 'none'}; its notifications in the "
            "server's [[auth.principals]])"
        )


def check_secret(principal: Principal, name: str, field: str) -> None:
    # The name is not echoed: callers sometimes paste the secret itself into such fields.
    if name and principal.secrets is not None and name not in principal.secrets:
        raise PermissionDenied(
            f"{field}: principal {principal.name!r} may not use this secret (allowed: "
            f"{', '.join(principal.secrets) or 'none'})"
        )


def _denied(principal: Principal, field: str, what: str, setting: str) -> PermissionDenied:
    # Neither the path nor whether anything lies there: only that it is not allowed.
    return PermissionDenied(
        f"{field}: outside the {what}s principal {principal.name!r} may use "
        f"(its {setting} in the server's [[auth.principals]])"
    )


def _within(uri: str, target: str, local: bool, roots: Sequence[str]) -> bool:
    if local:
        local_roots = [Path(root) for root in roots if _is_local(root)]
        return bool(local_roots) and within_roots(os.path.realpath(target), local_roots)
    normal = _cloud_normal(uri)
    if normal is None:
        return False
    for root in roots:
        if _is_local(root):
            continue
        prefix = _cloud_normal(root)
        if prefix is not None and (normal + "/").startswith(prefix + "/"):
            return True
    return False


def _is_local(root: str) -> bool:
    return "://" not in root or root.lower().startswith("file://")


def _cloud_normal(uri: str) -> str | None:
    """scheme://bucket/key without trailing or doubled slashes; None with `.`/`..`."""
    scheme, _, rest = uri.strip().partition("://")
    parts = [part for part in rest.split("/") if part]
    if any(part in {".", ".."} for part in parts):
        return None
    return f"{scheme.lower()}://{'/'.join(parts)}"

"""Validate an ExportSpec into an ExportPlan. All bad input is rejected here, before any
write: the source is resolved and its schema read, but nothing is created anywhere."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Final, TypeVar

import polars as pl

from sluice.format.layout import manifest_key
from sluice.server.allowed_roots import outside_roots
from sluice.server.committed.catalog import CommittedExport
from sluice.server.committed.chain_tips import ChainTip
from sluice.server.committed.sealed_values import ValueSealer
from sluice.server.errors import InvalidArgument, SluiceError, quoted
from sluice.server.execution.verifying_keys import verifying_keys
from sluice.server.pipeline.ascii_case import ascii_lower
from sluice.server.pipeline.bad_rows import ON_BAD_ROWS
from sluice.server.pipeline.column_types import TYPED_FORMATS, canonical_types
from sluice.server.pipeline.compressors import COMPRESSORS, CompressorKind
from sluice.server.pipeline.config import PipelineConfig
from sluice.server.pipeline.database_keys import resume_columns
from sluice.server.pipeline.database_source import pushable_bounds, pushable_ids
from sluice.server.pipeline.encoders import ENCODERS, REFUSED_FORMATS, EncoderKind
from sluice.server.pipeline.later_file_schemas import (
    differing_csv_header,
    reordered_csv_headers,
)
from sluice.server.pipeline.nesting import MAX_NESTING, too_deep
from sluice.server.pipeline.query import CompiledQuery
from sluice.server.pipeline.source import (
    ROW_INDEX,
    ResolvedSource,
    first_file,
    read_schema,
    resolve_source,
)
from sluice.server.pipeline.stages import NO_CIPHER, CipherKind, NoRedaction, Redactor
from sluice.server.pipeline.stream_source import StreamRead
from sluice.server.pipeline.unreadable_columns import survey_source
from sluice.server.planning.chain_redaction import check_chain_redaction
from sluice.server.planning.column_names import check_column_names
from sluice.server.planning.database_increment import push_down_increment
from sluice.server.planning.encryption import bind_zip_password, build_cipher
from sluice.server.planning.export_folder_rules import check_outside_export_folders
from sluice.server.planning.format_columns import check_columns_fit
from sluice.server.planning.incremental_plan import IncrementPlan, plan_increment
from sluice.server.planning.key_types import check_parent_key_types
from sluice.server.planning.named_source_plan import with_named_source
from sluice.server.planning.offset_zones import former_zones, parent_zones, with_zones
from sluice.server.planning.query_plan import compile_query, ignores_case, time_range_bounds
from sluice.server.planning.redaction_plan import build_redactor
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.planning.stream_keys import check_stream_unkeyed
from sluice.server.planning.template_plan import check_template_fits, with_template
from sluice.server.planning.watermarks import (
    check_cursor_redaction,
    check_recorded_column,
    unsent_cursor,
)
from sluice.server.planning.where_pushdown import pushable_terms
from sluice.server.settings import Settings
from sluice.server.source_profiles import PostgresProfile
from sluice.server.storage_errors import storage_errors
from sluice.sinks import LocationRefused, classify, join_key, open_sink
from sluice.sinks.azure.options import AzureLocation
from sluice.sinks.locations import SERVER_SCHEMES
from sluice.sinks.profiles import AzureProfile, S3Profile, profile_kind_for
from sluice.sinks.s3.options import S3Location

_Kind = TypeVar("_Kind")
_log = logging.getLogger(__name__)

_DATASET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LABEL_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
_MAX_LABELS = 64
_MAX_LABEL_VALUE = 256
MAX_REQUEST_ID = 128
_MAX_CHUNK_ROWS = 100_000_000


@dataclass(frozen=True)
class ExportPlan:
    export_id: str
    spec: ExportSpec
    source: ResolvedSource
    query: CompiledQuery
    #: Schema of the source as validated (the row index first).
    source_schema: pl.Schema
    #: Schema of the exported records (after projection, without the row index).
    schema: pl.Schema
    encoder: EncoderKind
    compressor: CompressorKind
    level: int
    #: Destination root URI, and the object-key prefix of this export under it.
    destination: str
    prefix: str
    chunk_target_bytes: int
    chunk_max_rows: int
    redactor: Redactor = field(default_factory=NoRedaction)
    cipher: CipherKind = NO_CIPHER
    #: Incremental cursor column whose largest exported value becomes the watermark.
    cursor: str = ""
    #: The content rules that read the cursor's values (Redactor.content_checks): an
    #: integer entity ("CARD") is looked for in the watermark before it is recorded.
    cursor_checks: str = ""
    #: For incremental exports: the parent export and the watermark this one continues from.
    increment: IncrementPlan = field(default_factory=lambda: IncrementPlan("full"))
    #: Credentials (secret references) for the destination, from a named storage profile.
    destination_profile: S3Profile | AzureProfile | None = None
    #: A subject package's part: its label in chunk names (PipelineConfig.part_label).
    part_label: str = ""
    #: CSV cells read as formulas by spreadsheets made text (a subject package's files).
    neutralise_formulas: bool = False

    @cached_property
    def pipeline(self) -> PipelineConfig:
        """What the pipeline stages run with (chunk names and keys included)."""
        return PipelineConfig(
            export_id=self.export_id,
            dataset=self.spec.destination.dataset,
            source=self.source,
            source_schema=self.source_schema,
            query=self.query,
            redactor=self.redactor,
            encoder=self.encoder,
            compressor=self.compressor,
            level=self.level,
            cipher=self.cipher,
            prefix=self.prefix,
            chunk_target_bytes=self.chunk_target_bytes,
            chunk_max_rows=self.chunk_max_rows,
            part_label=self.part_label,
            neutralise_formulas=self.neutralise_formulas,
        )

    @property
    def manifest_key(self) -> str:
        return manifest_key(self.prefix)


def resolved_spec(spec: ExportSpec, settings: Settings) -> ExportSpec:
    """The spec as it will run: its template and named source filled in. What a caller
    may reach is checked on this, so neither can carry them past their lists."""
    return with_named_source(with_template(spec, settings), settings)


def build_plan(
    spec: ExportSpec,
    settings: Settings,
    export_id: str,
    check_files: Callable[[ResolvedSource], None] | None = None,
    *,
    owner: str,
    source_name: str = "",
    offsets_as_utc: bool = True,
    chain_tip: ChainTip | None = None,
    sealer: ValueSealer | None = None,
) -> ExportPlan:
    """Check every field of the spec; raise InvalidArgument naming the first bad one.
    `check_files` sees the files the source expands to before any of them is read (the
    caller's own source roots). An incremental export continues the chain of `owner`, the
    export's creator ("": the server's own, or a daemon without principals); required, so
    that no caller continues the server's chain by forgetting it. `source_name`: the
    named source a spec already resolved reads (a subject package's part), whose errors
    name it rather than its location. `offsets_as_utc` False: the run resumes an export
    whose first run read fixed-offset zones the former way (offset_zones.former_zones).
    `chain_tip`: an increment's chain's newest export as the job store knows it
    (increment_chains.chain_tip), whose manifest must still be in the destination."""
    check_template_fits(spec, settings)
    spec = resolved_spec(spec, settings)
    encoder = _pick_format(spec.output.format or "jsonl")
    compressor = _pick(COMPRESSORS, spec.output.compression or "zstd", "spec.output.compression")
    level = _check_level(compressor, spec.output.level)
    target_bytes, max_rows = _check_chunking(spec, settings)
    destination = _check_destination(spec, settings)
    check_outside_export_folders(destination, spec.destination.dataset)
    _check_labels(spec.labels)
    source_profile, database_profile = _source_profiles(spec, settings)
    destination_profile = _profile(
        settings, spec.destination.profile, spec.destination.uri, "spec.destination"
    )
    cipher = build_cipher(spec.encryption, settings)
    compressor, zip_cipher = bind_zip_password(spec.encryption, settings, compressor, encoder)
    on_bad_rows = _check_on_bad_rows(spec.source.on_bad_rows)
    column_types = canonical_types(spec.source.schema)
    source = resolve_source(
        spec.source.uri,
        spec.source.format,
        settings.source_roots,
        source_profile,
        table=spec.source.table,
        query=spec.source.query,
        order_by=spec.source.order_by,
        source_profile=database_profile,
        read_connections=settings.postgres_read_connections,
        source_name=spec.source.name or source_name,
    )
    if check_files is not None:
        check_files(source)
    if column_types and source.format not in TYPED_FORMATS:
        raise InvalidArgument(
            "spec.source.schema",
            f"column types apply to CSV and NDJSON sources, not to {source.format}",
        )
    source = replace(
        source,
        on_bad_rows=on_bad_rows,
        column_types=column_types,
        max_record_bytes=settings.max_record_bytes,
    )
    if source.stream is not None:
        check_stream_unkeyed(spec.incremental.key)
        source = replace(source, stream=stream_read(source.stream, settings, export_id))
    source, offsets = _refuse_unreadable(source, spec.query.columns)
    source_schema = _read_schema(source)
    if not offsets_as_utc:
        source_schema = with_zones(source_schema, former_zones(offsets, source_schema))
    query = compile_query(spec.query, source_schema)
    source = _push_down_ids(source, spec, source_schema)
    if source.database is not None:
        # Each chunk journals its last row's order key: a resumed run reads after it
        # (none when no value compares back exactly: a resumed run then fails).
        database = source.database
        query = replace(
            query, resume_key=resume_columns(database.kind, database.order_by, source_schema)
        )
    increment = _plan_increment(
        spec,
        source_schema,
        destination,
        destination_profile,
        owner,
        settings,
        export_id,
        sealer,
        chain_tip=chain_tip,
    )
    kept = _parent_zones(offsets, source_schema, increment, export_id)
    if kept:
        # Planned again under the parent's types (the cursor's bound and the key checks
        # depend on them), with the parent already found.
        source_schema = with_zones(source_schema, kept)
        query = compile_query(spec.query, source_schema)
        increment = _plan_increment(
            spec,
            source_schema,
            destination,
            destination_profile,
            owner,
            settings,
            export_id,
            sealer,
            parent=increment.parent,
        )
    source, source_schema, increment = push_down_increment(
        source, source_schema, increment, spec.incremental.lookback_seconds
    )
    query = _with_increment(query, increment, source_schema)
    projected = pl.Schema({name: source_schema[name] for name in query.columns})
    redactor = build_redactor(spec.redaction, projected, settings)
    described = redactor.describe()
    check_chain_redaction(increment, described)
    cursor_redaction = _bound_with(
        redactor, increment.cursor, spec, projected, source_schema, settings
    )
    check_cursor_redaction(increment.cursor, cursor_redaction)
    _check_time_range_redaction(redactor, spec, projected, source_schema, settings)
    schema = redactor.output_schema(projected)
    _check_key_exported(increment.key, schema)
    check_parent_key_types(increment, source_schema, encoder.written_schema(schema))
    check_columns_fit(encoder.name, schema)
    return ExportPlan(
        export_id=export_id,
        spec=spec,
        source=source,
        query=query,
        source_schema=source_schema,
        schema=schema,
        encoder=encoder,
        compressor=compressor,
        level=level,
        destination=destination,
        prefix=join_key(spec.destination.dataset, export_id),
        chunk_target_bytes=target_bytes,
        chunk_max_rows=max_rows,
        redactor=redactor,
        cipher=zip_cipher or cipher,
        destination_profile=destination_profile,
        cursor=increment.cursor,
        cursor_checks=cursor_redaction.content_checks(increment.cursor),
        increment=increment,
    )


def named_source_schema(name: str, settings: Settings) -> pl.Schema:
    """The columns of a named source as an export of it would read them (the same
    checks: allowed roots, profile, database table or query), with a quick look at a
    database server (tried once, shortly: see resolve_source). Raises SluiceError."""
    spec = with_named_source(
        ExportSpec(source=SourceSpec(uri="", name=name), destination=DestinationSpec("", "")),
        settings,
    )
    profile, database_profile = _source_profiles(spec, settings)
    source = resolve_source(
        spec.source.uri,
        spec.source.format,
        settings.source_roots,
        profile,
        table=spec.source.table,
        query=spec.source.query,
        source_profile=database_profile,
        quick_look=True,
        source_name=name,
    )
    return pl.Schema({n: t for n, t in _read_schema(source).items() if n != ROW_INDEX})


def stream_read(stream: StreamRead, settings: Settings, export_id: str) -> StreamRead:
    """A stream source as this daemon reads it: the export's inbox, read-ahead and idle
    timeout (settings flight_inflight_batches, flight_put_idle_timeout)."""
    return replace(
        stream,
        key=export_id,
        inflight_batches=settings.flight_inflight_batches,
        idle_seconds=settings.flight_put_idle_timeout,
    )


def plan_destination(
    spec: ExportSpec, settings: Settings
) -> tuple[str, S3Profile | AzureProfile | None]:
    """The destination and its storage profile alone, checked as build_plan checks them
    (no source I/O): enough to reach what an earlier run left in the store."""
    destination = _check_destination(spec, settings)
    return destination, _profile(
        settings, spec.destination.profile, spec.destination.uri, "spec.destination"
    )


def check_request_id(request_id: str) -> None:
    if len(request_id) > MAX_REQUEST_ID or not request_id.isprintable():
        raise InvalidArgument(
            "request_id", f"must be at most {MAX_REQUEST_ID} printable characters"
        )


#: Request ids the scheduler names its exports by: refused to callers, so no request can
#: take the id of a schedule's next export (a "forbid" schedule's would be predictable).
SCHEDULE_REQUEST_PREFIX: Final = "schedule/"


def check_caller_request_id(request_id: str) -> None:
    """check_request_id, and the schedule/ prefix is the server's."""
    check_request_id(request_id)
    if request_id.startswith(SCHEDULE_REQUEST_PREFIX):
        raise InvalidArgument(
            "request_id", f"the {SCHEDULE_REQUEST_PREFIX} prefix is reserved for schedules"
        )


def _pick(registry: dict[str, _Kind], name: str, field: str) -> _Kind:
    kind = registry.get(name.lower())
    if kind is None:
        raise InvalidArgument(
            field, f"unknown value {quoted(name)}; expected one of {', '.join(sorted(registry))}"
        )
    return kind


def _pick_format(name: str) -> EncoderKind:
    refused = REFUSED_FORMATS.get(name.strip().lower())
    if refused is not None:
        raise InvalidArgument("spec.output.format", refused)
    return _pick(ENCODERS, name, "spec.output.format")


def _check_level(compressor: CompressorKind, level: int | None) -> int:
    if level is None:
        return compressor.default_level
    low, high = compressor.levels
    if compressor.name == "none":
        raise InvalidArgument("spec.output.level", "compression none takes no level")
    if not low <= level <= high:
        raise InvalidArgument(
            "spec.output.level", f"{compressor.name} level must be {low}..{high}, got {level}"
        )
    return level


def _check_chunking(spec: ExportSpec, settings: Settings) -> tuple[int, int]:
    target = spec.chunking.target_bytes
    rows = spec.chunking.max_rows
    target = settings.default_chunk_bytes if target is None else target
    rows = settings.default_chunk_rows if rows is None else rows
    if not 1024 <= target <= settings.max_chunk_bytes:
        raise InvalidArgument(
            "spec.chunking.target_bytes",
            f"must be between 1024 and {settings.max_chunk_bytes} bytes, got {target}",
        )
    if not 1 <= rows <= _MAX_CHUNK_ROWS:
        raise InvalidArgument(
            "spec.chunking.max_rows", f"must be between 1 and {_MAX_CHUNK_ROWS}, got {rows}"
        )
    return target, rows


#: What a dataset name (one folder under a destination) may be.
DATASET_RULE = "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"


def is_dataset_name(name: str) -> bool:
    """Whether `name` is one folder's name: never '', '.', '..' or a path."""
    return _DATASET.fullmatch(name) is not None


def check_dataset_name(dataset: str, field: str) -> None:
    """InvalidArgument on `field` for a dataset that is not one folder ('', '..', 'a/b')."""
    if not is_dataset_name(dataset):
        raise InvalidArgument(field, f"must be {DATASET_RULE}")


def _check_destination(spec: ExportSpec, settings: Settings) -> str:
    uri = spec.destination.uri.strip()
    if not uri:
        raise InvalidArgument("spec.destination.uri", "is required")
    check_dataset_name(spec.destination.dataset, "spec.destination.dataset")
    try:
        location = classify(uri)
    except LocationRefused as exc:  # another scheme, a chained URL, a remote file:// host
        raise InvalidArgument("spec.destination.uri", str(exc)) from None
    if location.kind != "local":
        _check_cloud_location(uri)
        return uri
    folder = Path(location.target).resolve()
    problem = outside_export_roots(folder / spec.destination.dataset, settings, sent=uri)
    if problem:
        raise InvalidArgument("spec.destination.uri", problem)
    return str(folder)


def outside_export_roots(path: str | Path, settings: Settings, sent: str | None = None) -> str:
    """ "" when `path` lies within the export roots, else why not (naming the setting and
    `sent`, the path as the caller gave it, never the resolved `path` nor the roots)."""
    return outside_roots(
        path, settings.export_roots, "export", "allowed_roots", "--allow-root", sent
    )


def _plan_increment(
    spec: ExportSpec,
    source_schema: pl.Schema,
    destination: str,
    profile: S3Profile | AzureProfile | None,
    owner: str,
    settings: Settings,
    export_id: str,
    sealer: ValueSealer | None,
    parent: CommittedExport | None = None,
    chain_tip: ChainTip | None = None,
) -> IncrementPlan:
    """The increment of export `export_id`; `parent`, when given, the parent already
    found and verified; `chain_tip` the chain's newest export as the job store knows it."""
    incremental = spec.incremental
    if incremental.mode in {"", "full"} and not incremental.cursor and not incremental.key:
        return IncrementPlan("full")
    # The parent of a chain this server signs is checked with its own key (or an older
    # one it still accepts).
    keys = verifying_keys(settings)
    with storage_errors():
        sink = open_sink(destination, profile=profile)
        return plan_increment(
            spec.incremental,
            source_schema,
            sink,
            spec.destination.dataset,
            owner,
            verifying_keys=keys,
            parent=parent,
            chain_tip=chain_tip,
            export_id=export_id,
            sealer=sealer,
        )


def _parent_zones(
    offsets: tuple[tuple[str, str], ...],
    schema: pl.Schema,
    increment: IncrementPlan,
    export_id: str,
) -> dict[str, pl.Datetime]:
    """The fixed-offset columns whose parent exported them in an Etc/GMT∓N zone, with
    that type (offset_zones.parent_zones), when it is not theirs already."""
    if increment.parent is None or not offsets:
        return {}
    zones = parent_zones(offsets, schema, increment.parent.schema)
    kept = {column: dtype for column, dtype in zones.items() if schema[column] != dtype}
    if kept:
        _log.warning(
            "export %s keeps the type its parent %s exported for the fixed-offset "
            "column(s) %s (%s; the same instants as UTC): a new chain (--mode full) "
            "exports them as UTC",
            export_id,
            increment.parent.export_id,
            ", ".join(quoted(column) for column in kept),
            ", ".join(sorted({str(dtype.time_zone) for dtype in kept.values()})),
        )
    return kept


def _check_time_range_redaction(
    redactor: Redactor,
    spec: ExportSpec,
    projected: pl.Schema,
    source_schema: pl.Schema,
    settings: Settings,
) -> None:
    """The manifest records the time range's bounds as given: refused on a column that
    redaction rewrites (strict reduces a date of birth to its year; the bounds would
    give the day), as a cursor is."""
    time_range = spec.query.time_range
    if time_range is None:
        return
    column = time_range.column
    check_recorded_column(
        column,
        _bound_with(redactor, column, spec, projected, source_schema, settings),
        "spec.query.time_range.column",
        "the time range's bounds",
        "select by a column redaction keeps (such as created_at)",
    )


def _bound_with(
    redactor: Redactor,
    column: str,
    spec: ExportSpec,
    projected: pl.Schema,
    source_schema: pl.Schema,
    settings: Settings,
) -> Redactor:
    """The redaction as it would treat `column` (a cursor or time column, whose values
    the manifest records): the export's own when `column` is exported, else the same
    policy bound to the exported columns plus `column` (a column outside --columns is
    read, and its values recorded, all the same)."""
    if not column or column in projected:
        return redactor
    widened = pl.Schema({**projected, column: source_schema[column]})
    return build_redactor(spec.redaction, widened, settings)


def _with_increment(
    query: CompiledQuery, increment: IncrementPlan, source_schema: pl.Schema
) -> CompiledQuery:
    """Fold the incremental predicate into the query and carry the cursor along. An
    increment past a watermark also counts the rows the rest of the query selects that
    it can never send (rows_without_cursor): those the increment's predicate leaves out
    (a PostgreSQL row that committed late is sent whatever its cursor, see
    database_increment.py: not counted)."""
    if not increment.cursor:
        return query
    predicate = query.predicate
    without_cursor = None
    if increment.predicate is not None:
        without_cursor = pl.all_horizontal(
            unsent_cursor(increment.cursor, source_schema[increment.cursor]),
            ~increment.predicate.fill_null(False),
        )
        if predicate is not None:
            without_cursor = pl.all_horizontal(predicate, without_cursor)
        predicate = (
            increment.predicate
            if predicate is None
            else pl.all_horizontal(predicate, increment.predicate)
        )
    return replace(
        query, predicate=predicate, cursor=increment.cursor, without_cursor=without_cursor
    )


def _check_key_exported(key: tuple[str, ...], schema: pl.Schema) -> None:
    """Tombstones name deleted rows by their exported key, so the key must be exported
    (redaction may pseudonymise it, but not drop it)."""
    missing = [column for column in key if column not in schema]
    if missing:
        raise InvalidArgument(
            "spec.incremental.key",
            f"key column(s) {', '.join(missing)} must be exported (in spec.query.columns "
            "and not dropped by redaction)",
        )


def _profile(
    settings: Settings, name: str, uri: str, field: str
) -> S3Profile | AzureProfile | None:
    return storage_profile(settings, name, uri, f"{field}.profile")


def storage_profile(
    settings: Settings, name: str, uri: str, field: str
) -> S3Profile | AzureProfile | None:
    """The storage profile `name` (None for ""), checked against the kind of store the
    URI names; InvalidArgument on `field` otherwise. CreateExport's check, shared by the
    calls that reach committed exports by URI (verify, diff, delete, retain, history)."""
    if not name:
        return None
    profile = settings.storage_profiles.get(name)
    if profile is None:
        raise InvalidArgument(field, f"unknown storage profile {quoted(name)}")
    kind = profile_kind_for(uri)
    if kind != profile.kind:
        where = f"{kind} URIs" if kind else "this URI"
        raise InvalidArgument(
            field, f"profile {quoted(name)} is for {profile.kind}, not for {where}"
        )
    return profile


def _source_profiles(
    spec: ExportSpec, settings: Settings
) -> tuple[S3Profile | AzureProfile | None, tuple[str, PostgresProfile] | None]:
    """The source's profile: a source profile for a postgresql:// URI, else a storage
    profile (one export and ListSources resolve alike)."""
    database_profile = _database_profile(settings, spec.source.profile, spec.source.uri)
    if database_profile is not None:
        return None, database_profile
    return _profile(settings, spec.source.profile, spec.source.uri, "spec.source"), None


def _database_profile(
    settings: Settings, name: str, uri: str
) -> tuple[str, PostgresProfile] | None:
    """The named source profile of a postgresql:// source (None for other sources)."""
    if uri.partition("://")[0].lower() not in SERVER_SCHEMES:
        return None
    if not name:
        return None  # resolve_source says that one is needed
    profile = settings.source_profiles.get(name)
    if profile is None:
        raise InvalidArgument("spec.source.profile", f"unknown source profile {quoted(name)}")
    return name, profile


def _check_cloud_location(uri: str) -> None:
    """Bucket and container names are checked before any request reaches the store."""
    kind = profile_kind_for(uri)
    try:
        if kind == "s3":
            S3Location.parse(uri)
        elif kind == "azure":
            refusal = _UNWRITABLE_CONTAINERS.get(AzureLocation.parse(uri).container)
            if refusal is not None:
                raise InvalidArgument("spec.destination.uri", refusal)
    except ValueError as exc:
        raise InvalidArgument("spec.destination.uri", str(exc)) from None


#: Azure containers that are sources only, and why: Sluice writes
#: DATASET/EXPORT_ID/... under a destination, which $root cannot hold, and $logs is
#: written by Storage Analytics (no documentation says a client may write there).
_UNWRITABLE_CONTAINERS = {
    "$root": (
        "the $root container is no destination: Azure allows no '/' in the names of its "
        "blobs, and an export writes DATASET/EXPORT_ID/...; name another container"
    ),
    "$logs": (
        "the $logs container is no destination: Azure's Storage Analytics writes it, not "
        "clients; it can be read as a source; name another container"
    ),
}


def _check_labels(labels: tuple[tuple[str, str], ...]) -> None:
    if len(labels) > _MAX_LABELS:
        raise InvalidArgument("spec.labels", f"at most {_MAX_LABELS} labels")
    for key, value in labels:
        if not _LABEL_KEY.fullmatch(key):
            raise InvalidArgument(
                f"spec.labels[{key}]", "keys are 1-63 lowercase letters, digits, '_', '.', '-'"
            )
        if len(value) > _MAX_LABEL_VALUE:
            raise InvalidArgument(f"spec.labels[{key}]", f"value longer than {_MAX_LABEL_VALUE}")


def _check_on_bad_rows(value: str) -> str:
    name = value.strip().lower() or "fail"
    if name not in ON_BAD_ROWS:
        raise InvalidArgument(
            "spec.source.on_bad_rows",
            f"unknown value {value[:40]!r}; expected one of {', '.join(ON_BAD_ROWS)}",
        )
    return name


def _push_down_ids(source: ResolvedSource, spec: ExportSpec, schema: pl.Schema) -> ResolvedSource:
    """A database reads only the rows of the ids asked for and in the time range, and
    those passing the simple AND terms of the where (the query stage still filters, so
    the result is the same whether or not the database could). compile_query checked
    the column and converted the ids already."""
    if source.database is None:
        return source
    database = source.database
    column = spec.query.id_column or "id"
    if spec.query.ids and (
        database.server is not None or pushable_ids(database.kind, schema[column])
    ):
        ids = pl.Series(spec.query.ids, dtype=pl.String).cast(schema[column], strict=True)
        if ignores_case(spec.query, schema[column]):
            lowered = tuple(ascii_lower(i) for i in spec.query.ids)
            database = replace(database, id_column=column, ids=lowered, ids_ignore_case=True)
        else:
            database = replace(database, id_column=column, ids=tuple(ids.to_list()))
    # The database evaluates the time range and the simple AND terms of the where too
    # (an index on the column is used); SQLite and DuckDB only those whose answer never
    # leaves out a row the pipeline keeps (database_source.pushable_bounds).
    text_columns: frozenset[str] = frozenset()
    if database.server is not None:
        text_columns = frozenset(n for n, reading in database.server.columns if reading.as_text)
    bounds = time_range_bounds(spec.query, schema)
    bounds += pushable_terms(spec.query.where, schema, text_columns)
    if database.server is None:
        bounds = pushable_bounds(database.kind, bounds, schema)
    database = replace(database, bounds=bounds)
    return replace(source, database=database)


def _refuse_unreadable(
    source: ResolvedSource, columns: Sequence[str]
) -> tuple[ResolvedSource, tuple[tuple[str, str], ...]]:
    """The source, none of whose `columns` (empty: all) may be of a type Polars cannot
    read (in its first file: the reader checks the others), with what its schema says of
    fixed offsets; and its fixed-offset columns with their offsets."""
    survey = survey_source(source, columns)
    if survey.problem is not None:
        raise InvalidArgument("spec.source.uri", survey.problem)
    return replace(source, fixed_offsets=survey.fixed_offsets), survey.offsets


def _read_schema(source: ResolvedSource) -> pl.Schema:
    """The source's schema."""
    # A stream or a database has no files: an IndexError here was an INTERNAL.
    where = source.file_shown(source.files[0]) if source.files else "the source"
    try:
        schema = read_schema(source)
    except SluiceError:
        raise  # a storage failure keeps its status (permission denied, unavailable, ...)
    except pl.exceptions.PanicException:
        # A BaseException: Polars panics on a type it cannot hold (ListSources' look
        # checks no column first, or one the check does not know of yet).
        _refuse_unreadable(source, ())
        raise InvalidArgument(
            "spec.source.uri",
            f"cannot read {where} as {source.format}: a column's type is one Sluice cannot read",
        ) from None
    except Exception as exc:  # noqa: BLE001 - Polars raises many types for unreadable files
        differing = differing_csv_header(source)
        if differing is not None:
            raise differing from None
        if not reordered_csv_headers(source):
            # Never the library's message: it can quote the file's content (a row, a
            # line of a file that is not what its name says).
            raise InvalidArgument(
                "spec.source.uri",
                f"cannot read {where} as {source.format} ({type(exc).__name__})",
            ) from None
        # A local CSV glob's later header of the same columns in another order, which
        # Polars' scan of every file refuses: the types are the first file's (the scan's
        # come from every file), and the reader reads each file by name, comparing it
        # with them (later_file_schemas).
        schema = _read_schema(first_file(source))
    if len(schema) <= 1:
        raise InvalidArgument("spec.source.uri", "the source has no columns")
    assert next(iter(schema)) == ROW_INDEX
    check_column_names(schema)
    # NDJSON only: Polars' NDJSON reader is where deep nesting cost gigabytes; Parquet,
    # IPC, databases and Flight streams of 20 levels read cheaply (measured) and still do.
    is_ndjson = source.format == "ndjson" and source.stream is None and source.database is None
    deep = too_deep(schema) if is_ndjson else None
    if deep is not None:
        raise InvalidArgument(
            "spec.source.uri",
            f"column {deep[0]!r} nests {deep[1]} levels of structs and lists; an NDJSON "
            f"source may nest at most {MAX_NESTING} (reading deeper NDJSON values takes "
            "memory by the gigabyte)",
        )
    return schema

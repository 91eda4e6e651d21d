"""The run facts of a GDPR subject package: the identity of every source its parts read.

A package reads each named source twice, once per format (JSON, then CSV), one part
after the other, and a resumed package continues its part by row position as an export
does. Without facts, a source changed between two attempts was read by the parts before
the kill as it was and by the parts after it as it is: rows duplicated or lost in the
part that resumed, and the JSON and CSV files of one source telling the person
different things. So a package journals its sources' files (server/execution/run_facts.py)
before its first chunk and a resume compares them; every part of a source reads the same
files (the first part's expansion), CSV and NDJSON files up to the journalled size.

Database sources have no files: each part selects the subject's rows in its own
snapshot (see the README: a package of a table that changes while it runs may hold
newer rows in its CSV files than in its JSON files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sluice.server.execution.run_facts import (
    RunFacts,
    check_same,
    pinned_facts,
    read_as_journalled,
    source_facts,
)
from sluice.server.jobs.model import ChunkRecord
from sluice.server.jobs.store import JobStore
from sluice.server.planning.subject_package import PackagePlan


def journalled_package(
    store: JobStore, job_id: str, chunks: Sequence[ChunkRecord], package: PackagePlan
) -> tuple[PackagePlan, RunFacts]:
    """`package` reading its sources as its first run found them (read_as_journalled_
    package), and the facts to journal when nothing is yet (`chunks` empty). Raises
    FailedPrecondition (check_same) when a source changed since its chunks were written,
    before anything of the package is replaced."""
    pinned = pinned_facts(store, job_id, chunks)
    facts, by_source = package_facts(package)
    check_same(pinned, facts, job_id)
    return read_as_journalled_package(package, pinned, by_source), facts


def package_facts(package: PackagePlan) -> tuple[RunFacts, dict[str, RunFacts]]:
    """The package's facts (its sources' files and versions, in part order, each source
    once), and each source's own, by source name: a database URI does not name the
    table, and two file sources may read one URI with their own options."""
    by_source: dict[str, RunFacts] = {}
    for part in package.parts:
        if part.source_name not in by_source:
            by_source[part.source_name] = source_facts(part.plan.source, "")
    files = tuple(dict.fromkeys(f for facts in by_source.values() for f in facts.files))
    versions = tuple(dict.fromkeys(v for facts in by_source.values() for v in facts.versions))
    return RunFacts(files, versions=versions), by_source


def read_as_journalled_package(
    package: PackagePlan, pinned: RunFacts | None, by_source: dict[str, RunFacts]
) -> PackagePlan:
    """`package` with every part reading its own source (its table, column types, bad
    rows) as the facts found its files (read_as_journalled): only the sizes read are
    copied from the first part of the same source name."""
    sizes: dict[str, tuple[tuple[str, int], ...]] = {}
    parts = []
    for part in package.parts:
        source = part.plan.source
        if source.database is not None or source.stream is not None:
            parts.append(part)
            continue
        if part.source_name not in sizes:
            journalled = read_as_journalled(source, pinned, by_source[part.source_name])
            sizes[part.source_name] = journalled.read_sizes
        source = replace(source, read_sizes=sizes[part.source_name])
        parts.append(replace(part, plan=replace(part.plan, source=source)))
    return replace(package, parts=tuple(parts))

"""The run facts of a GDPR subject package: the identity of every source its parts read,
and the redaction of each part.

A package reads each named source twice, once per format (JSON, then CSV), one part
after the other, and a resumed package continues its part by row position as an export
does. Without facts, a source changed between two attempts was read by the parts before
the kill as it was and by the parts after it as it is: rows duplicated or lost in the
part that resumed, and the JSON and CSV files of one source telling the person
different things. So a package journals its sources' files (server/execution/run_facts.py)
before its first chunk and a resume compares them. Each part reads its own source (its
table, column types and bad-row handling: two sources may share a URI) to its end, as
an export does: a file appended to while the package runs may hold more rows in its CSV
files than in its JSON ones, and a package killed meanwhile is then refused on resume.

Database sources have no files: each part selects the subject's rows in its own
snapshot (see the README: a package of a table that changes while it runs may hold
newer rows in its CSV files than in its JSON files).
"""

from __future__ import annotations

from collections.abc import Sequence

from sluice.server.execution.run_facts import (
    RunFacts,
    check_same,
    merged_redaction_facts,
    pinned_facts,
    redaction_facts,
    source_facts,
)
from sluice.server.jobs.model import ChunkRecord
from sluice.server.jobs.store import JobStore
from sluice.server.planning.subject_package import PackagePlan


def journalled_package(
    store: JobStore, job_id: str, chunks: Sequence[ChunkRecord], package: PackagePlan
) -> RunFacts:
    """The facts of `package`'s sources, to journal when nothing is yet (`chunks`
    empty). Raises FailedPrecondition (check_same) when a source changed since its
    chunks were written, before anything of the package is replaced."""
    pinned = pinned_facts(store, job_id, chunks)
    facts = package_facts(package)
    check_same(pinned, facts, job_id, sources=[part.plan.source for part in package.parts])
    return facts


def package_facts(package: PackagePlan) -> RunFacts:
    """The package's facts: its sources' files and versions, in part order, each named
    source once (by name: a database URI does not name the table, and two file sources
    may read one URI with their own options)."""
    taken: dict[str, RunFacts] = {}
    for part in package.parts:
        if part.source_name not in taken:
            taken[part.source_name] = source_facts(part.plan.source, "")
    files = tuple(dict.fromkeys(f for facts in taken.values() for f in facts.files))
    versions = tuple(dict.fromkeys(v for facts in taken.values() for v in facts.versions))
    # Each part's redaction as its first run applied it: a named server policy is read
    # from the settings of each run (run_facts.RunFacts.redaction).
    redaction = merged_redaction_facts(
        [redaction_facts(part.plan.redactor.describe()) for part in package.parts]
    )
    return RunFacts(files, versions=versions, redaction=redaction)

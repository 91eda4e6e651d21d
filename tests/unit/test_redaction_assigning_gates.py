"""The contract compaction relies on row by row (Entity.gate_assigns): no match of an
assigning entity's pattern, layouts or null-drop pattern lacks a separator
(compaction.SEPARATORS), so its gate is scanned only on the rows holding one. An entity
breaking it would leave its matches in clear on rows without a separator whenever
another keyword holds elsewhere in the batch (review of w21-gates). Checked on matches
hypothesis generates from each pattern, not on a list of examples: a new alternative
without a separator is found whatever it looks like."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sluice.server.pipeline.redaction.compaction import SEPARATORS
from sluice.server.pipeline.redaction.entities import ENTITIES
from sluice.server.pipeline.redaction.entity import ascii_boundaries

_SEPARATOR = re.compile(SEPARATORS)


def _assigning_patterns() -> list[tuple[str, str]]:
    patterns: list[tuple[str, str]] = []
    for entity in ENTITIES:
        if not entity.gate_assigns:
            continue
        patterns.append((entity.name, entity.regex))
        patterns += [
            (f"{entity.name} layout {n}", lay.regex) for n, lay in enumerate(entity.layouts)
        ]
        if entity.null_also:
            patterns.append((f"{entity.name} null_also", ascii_boundaries(entity.null_also)))
    return patterns


def _python(pattern: str) -> re.Pattern[str]:
    """The Rust-regex pattern as Python's `re` reads it: only the ASCII-only groups
    (`(?-u:...)`) are written differently."""
    return re.compile(pattern.replace("(?-u:", "(?a:"))


def test_some_entities_declare_assigning_gates() -> None:
    assert {name.split()[0] for name, _ in _assigning_patterns()} >= {
        "AWS_SECRET_KEY",
        "URL_PASSWORD",
        "SECRET_VALUE",
    }


@pytest.mark.parametrize(("name", "pattern"), _assigning_patterns(), ids=lambda v: str(v)[:40])
def test_every_match_of_an_assigning_entity_holds_a_separator(name: str, pattern: str) -> None:
    @settings(
        max_examples=100,
        derandomize=True,
        database=None,
        deadline=None,
        # The first match without a separator is reported as it was found: shrinking
        # one of these patterns' matches took ~40 s.
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(st.from_regex(_python(pattern), fullmatch=True))
    def holds_a_separator(match: str) -> None:
        assert _SEPARATOR.search(match), f"{name} matches {match!r}, which holds no separator"

    holds_a_separator()


def test_a_pattern_matching_without_a_separator_is_found() -> None:
    """The check itself: AWS_SECRET_KEY's pattern taking a space where it takes ':' or
    '=' (as its gate does) breaks the contract, and hypothesis finds such a match."""
    aws = next(e for e in ENTITIES if e.name == "AWS_SECRET_KEY").regex
    loosened = aws.replace("[:=]", "(?:[:=]|\\s)", 1)
    assert loosened != aws
    with pytest.raises(AssertionError, match="holds no separator"):
        test_every_match_of_an_assigning_entity_holds_a_separator("loosened", loosened)

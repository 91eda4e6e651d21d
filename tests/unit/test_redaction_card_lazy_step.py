"""card_groups.groups_as_context makes the CARD pattern's value lazy by writing a "?"
after it, which only reaches the last alternative's quantifier: the run of digit groups
must stay last (a review found the "?" had made only the dotted layout lazy, after a
new alternative was put last, and 39 tests of cards in runs of groups failed)."""

from __future__ import annotations

import polars as pl

from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME

_RUN = "4111 1111 1111 1111 123 456"


def _first_match(pattern: str) -> str:
    return str(pl.Series([_RUN]).str.extract(f"^({pattern})").item())


def test_the_lazy_card_value_ends_at_the_first_thirteen_digits() -> None:
    value = ENTITY_BY_NAME["CARD"].value
    assert _first_match(value) == _RUN
    assert _first_match(f"{value}?") == "4111 1111 1111 1"


def test_the_check_fails_when_the_run_is_not_last() -> None:
    """The check above tells the orders apart: with the run first, the "?" leaves it
    greedy."""
    first, *others = ENTITY_BY_NAME["CARD"].value.split("|")
    run = "|".join(alternative for alternative in [first, *others] if "{12,}" in alternative)
    rest = "|".join(alternative for alternative in [first, *others] if "{12,}" not in alternative)
    assert _first_match(f"{run}|{rest}?") == _RUN

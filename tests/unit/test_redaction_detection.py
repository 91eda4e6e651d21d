"""Recall and false-positive rate of content detection, per entity and level, on the
labelled corpus: recall >= 0.99 and FPR <= 0.01 for every entity a level covers."""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest

from sluice.server.pipeline.redaction.entities import ENTITIES, LEVEL_RANK, Entity
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_corpus import generate
from tests.unit.redaction_helpers import redactor_for

LEVELS = ("basic", "moderate", "strict")


def _measure(level: str, seed: int) -> tuple[dict[str, float], dict[str, float], list[str]]:
    samples = generate(per_kind=150, seed=seed)
    frame = pl.DataFrame({"text": [s.text for s in samples]})
    redactor = redactor_for(frame, RedactionSpec(level=level))
    out = redactor.apply(frame.with_row_index("__sluice_row").lazy()).collect()
    texts = out["text"].to_list()
    fired = {
        key.split("/")[0]: out[column].to_list()
        for column, key in redactor.counters.items()
        if key.endswith("/text")
    }
    covered = [
        e.name for e in ENTITIES if LEVEL_RANK[e.level] <= LEVEL_RANK[level] and not e.opt_in
    ]
    positives, missed, false_hits = Counter[str](), Counter[str](), Counter[str]()
    negatives, failures = 0, []
    for index, sample in enumerate(samples):
        if sample.entity is None:
            negatives += 1
            for entity in covered:
                if fired[entity][index]:
                    false_hits[entity] += 1
                    failures.append(f"FP {entity}: {sample.text!r} -> {texts[index]!r}")
        elif sample.entity in covered:
            positives[sample.entity] += 1
            if sample.value in texts[index] or not fired[sample.entity][index]:
                missed[sample.entity] += 1
                failures.append(f"MISS {sample.entity}: {sample.text!r} -> {texts[index]!r}")
    recall = {e: 1 - missed[e] / positives[e] for e in covered}
    fpr = {e: false_hits[e] / negatives for e in covered}
    return recall, fpr, failures


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("seed", [5, 23])
def test_recall_and_false_positive_rate_per_entity(level: str, seed: int) -> None:
    recall, fpr, failures = _measure(level, seed)
    assert recall, "the level covers no entity"
    low = {e: r for e, r in recall.items() if r < 0.99}
    noisy = {e: r for e, r in fpr.items() if r > 0.01}
    assert not low and not noisy, "\n".join([str(low), str(noisy), *failures[:20]])


def test_levels_cover_more_and_more() -> None:
    covered = {
        level: {
            e.name for e in ENTITIES if LEVEL_RANK[e.level] <= LEVEL_RANK[level] and not e.opt_in
        }
        for level in LEVELS
    }
    assert {"GITHUB_TOKEN", "JWT", "PRIVATE_KEY", "URL_PASSWORD"} <= covered["basic"]
    assert "EMAIL" not in covered["basic"]
    assert covered["basic"] < covered["moderate"] < covered["strict"]
    assert {"EMAIL", "PHONE"} <= covered["moderate"]
    assert {"CARD", "IBAN", "IPV4", "IPV6", "ES_DNI"} <= covered["strict"] - covered["moderate"]


def test_checksums_decide_not_the_shape() -> None:
    """A card failing Luhn, an IBAN failing mod-97 and a DNI with a wrong letter stay."""
    texts = [
        "card 4111 1111 1111 1111 ok",  # Luhn-valid Visa test number
        "card 4111 1111 1111 1112 no",
        "iban ES91 2100 0418 4502 0005 1332 ok",
        "iban ES92 2100 0418 4502 0005 1332 no",
        "dni 12345678Z ok",
        "dni 12345678A no",
        "nie X1234567L ok",
    ]
    frame = pl.DataFrame({"text": texts})
    out = redactor_for(frame, RedactionSpec(level="strict")).apply(
        frame.with_row_index("__sluice_row").lazy()
    )
    result = out.collect()["text"].to_list()
    assert result == [
        "card ***************1111 ok",
        "card 4111 1111 1111 1112 no",
        "iban " + "*" * 25 + "1332 ok",
        "iban ES92 2100 0418 4502 0005 1332 no",
        "dni [ES_DNI] ok",
        "dni 12345678A no",
        "nie [ES_DNI] ok",
    ]


def test_layouts_are_declared_only_where_they_apply() -> None:
    """A layout runs before its entity with the rule's action on the rows the entity's
    gate picked; a validated entity's rows narrowed by a check of its own candidates
    keep those holding a layout's gate (candidate_checks.may_rewrite, checked in
    test_redaction_phone_other_forms for every action). A layout is of its entity."""
    layout = Entity("CARD", "strict", "", "x", "")
    with pytest.raises(ValueError, match="EMAIL: a layout is of its own entity"):
        Entity("EMAIL", "moderate", "", "@", "", layouts=(layout,))

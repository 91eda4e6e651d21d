"""Properties: no corpus email or card survives moderate/strict whatever surrounds it;
pseudonyms are HMAC-SHA256, stable across runs and different under different keys."""

from __future__ import annotations

import hashlib
import hmac
import random

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.server.pipeline.redaction.actions import HashKey, hmac_sha256_hex
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_corpus import card, email
from tests.unit.redaction_helpers import redactor_for

_FILLER = st.text(alphabet=st.sampled_from(list("abcdefghij XYZ.,;:!?()[]{}\"'-\n")), max_size=30)
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _redact(texts: list[str], level: str) -> list[str]:
    frame = pl.DataFrame({"text": texts})
    redactor = redactor_for(frame, RedactionSpec(level=level))
    out = redactor.apply(frame.with_row_index("__sluice_row").lazy()).collect()
    return out["text"].to_list()


@_SETTINGS
@given(
    seeds=st.lists(st.integers(0, 2**32), min_size=1, max_size=8),
    before=_FILLER,
    after=_FILLER,
    level=st.sampled_from(["moderate", "strict"]),
)
def test_no_corpus_email_survives(seeds: list[int], before: str, after: str, level: str) -> None:
    emails = [email(random.Random(seed)) for seed in seeds]
    texts = [f"{before} {value} {after}" for value in emails]
    texts.append(" ".join(emails))
    for value, text in zip([*emails, *emails], _redact(texts, level), strict=False):
        assert value not in text


@_SETTINGS
@given(
    seeds=st.lists(st.integers(0, 2**32), min_size=1, max_size=8),
    before=_FILLER,
    after=_FILLER,
)
def test_no_corpus_card_survives_strict(seeds: list[int], before: str, after: str) -> None:
    cards = [card(random.Random(seed)) for seed in seeds]
    texts = [f"{before} {value} {after}" for value in cards]
    for value, text in zip(cards, _redact(texts, "strict"), strict=True):
        digits = "".join(c for c in value if c.isdigit())
        assert value not in text
        assert digits not in "".join(c for c in text if c.isdigit() or c == "*")


@_SETTINGS
@given(
    messages=st.lists(st.text(max_size=40), min_size=1, max_size=10),
    key=st.binary(min_size=1, max_size=100),
)
def test_hash_is_hmac_sha256_and_stable(messages: list[str], key: bytes) -> None:
    hash_key = HashKey("default", key)
    frame = pl.DataFrame({"m": messages})
    first = frame.select(hmac_sha256_hex(pl.col("m"), hash_key)).to_series().to_list()
    second = frame.select(hmac_sha256_hex(pl.col("m"), hash_key)).to_series().to_list()
    expected = [hmac.new(key, m.encode(), hashlib.sha256).hexdigest() for m in messages]
    assert first == second == expected


@_SETTINGS
@given(
    message=st.text(min_size=1, max_size=40),
    one=st.binary(min_size=8, max_size=40),
    two=st.binary(min_size=8, max_size=40),
)
def test_different_keys_give_different_pseudonyms(message: str, one: bytes, two: bytes) -> None:
    if one.rstrip(b"\0") == two.rstrip(b"\0"):
        return  # HMAC pads keys with zeros: these are the same key
    frame = pl.DataFrame({"m": [message]})
    a = frame.select(hmac_sha256_hex(pl.col("m"), HashKey("a", one))).item()
    b = frame.select(hmac_sha256_hex(pl.col("m"), HashKey("b", two))).item()
    assert a != b
    assert HashKey("a", one).key_id != HashKey("b", two).key_id

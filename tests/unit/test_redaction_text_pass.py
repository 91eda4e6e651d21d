"""Columns with few distinct values are checked once per distinct value, and validated
entities run only where a candidate passes its check: neither shortcut may change what
is found or what is counted."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from sluice.server.pipeline.redaction.redactor import PolicyRedactor, _run_stages
from sluice.server.pipeline.source import ROW_INDEX
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_corpus import generate
from tests.unit.redaction_helpers import redactor_for, rule, run, settings_with_keys

ROWS = 4_000


def test_categorical_text_with_personal_data_in_one_value_is_redacted_per_row() -> None:
    statuses = ["ok", "pending", "escalated to ops@example.com", "closed"]
    frame = pl.DataFrame(
        {
            "status": [statuses[i % 4] for i in range(ROWS)],
            "tags": [["vip", "b2b"] if i % 3 else ["cc a.b@example.org"] for i in range(ROWS)],
            "request": [{"path": "/cart", "note": None if i % 5 else "x"} for i in range(ROWS)],
        }
    )
    out, counts = run(frame, RedactionSpec(level="moderate"))
    expected = [s.replace("ops@example.com", "[EMAIL]") for s in frame["status"].to_list()]
    assert out["status"].to_list() == expected
    assert out["tags"].to_list() == [
        ["vip", "b2b"] if i % 3 else ["cc [EMAIL]"] for i in range(ROWS)
    ]
    assert out["request"].to_list() == frame["request"].to_list()
    assert counts == {"EMAIL/status": ROWS // 4, "EMAIL/tags": len(range(0, ROWS, 3))}


def test_digit_runs_that_are_not_phones_leave_the_rows_untouched_and_uncounted() -> None:
    texts = [
        "order ORD-2025-001234 shipped",
        "tracking 6651022042597629886930 stuck",
        "call +44 20 7946 0123 tomorrow",
        "date 2025-05-12 and card 4111 1111 1111 1112",
        None,
    ] * 50
    out, counts = run(pl.DataFrame({"text": texts}), RedactionSpec(level="moderate"))
    assert out["text"].to_list() == [
        t.replace("+44 20 7946 0123", "[PHONE]") if t else t for t in texts
    ]
    assert counts == {"PHONE/text": 50}


def test_categorical_values_found_clean_in_one_batch_do_not_hide_new_values_in_the_next() -> None:
    """A categorical leaf's clean values are remembered across batches of one export:
    a later batch with those values and new ones (one holding an e-mail) is still
    redacted per row, and a remembered value is never taken for a candidate."""
    statuses = ["ok", "pending", "closed", "escalated"]
    first = pl.DataFrame(
        {"status": [statuses[i % 4] for i in range(ROWS)], "tags": [["vip"]] * ROWS}
    )
    later = ["ok", "mail ops@example.com", "pending", "reopened"]
    second = pl.DataFrame(
        {
            "status": [later[i % 4] for i in range(ROWS)],
            "tags": [["vip", "cc a.b@example.org"] if i % 8 == 0 else ["vip"] for i in range(ROWS)],
        }
    )
    redactor = redactor_for(first, RedactionSpec(level="moderate"))
    outs = [redactor.apply(f.with_row_index(ROW_INDEX).lazy()).collect() for f in (first, second)]
    assert outs[0]["status"].to_list() == first["status"].to_list()
    assert outs[0]["tags"].to_list() == first["tags"].to_list()
    assert outs[1]["status"].to_list() == [
        s.replace("ops@example.com", "[EMAIL]") for s in second["status"].to_list()
    ]
    assert outs[1]["tags"].to_list() == [
        ["vip", "cc [EMAIL]"] if i % 8 == 0 else ["vip"] for i in range(ROWS)
    ]
    counted = {key: [out[c].sum() for out in outs] for c, key in redactor.counters.items()}
    assert {k: v for k, v in counted.items() if any(v)} == {
        "EMAIL/status": [0, ROWS // 4],
        "EMAIL/tags": [0, ROWS // 8],
    }


def test_a_batch_of_only_remembered_clean_values_passes_unchanged_and_uncounted() -> None:
    """A batch whose every categorical value (a top-level column, a list leaf, a
    list-of-struct leaf) was found clean before is skipped in one check: it passes
    unchanged and counts nothing, while the next batch with one new value holding an
    e-mail in a list-of-struct leaf is still redacted there."""
    kinds = ["click", "view", "buy"]

    def batch(note: str) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "status": [kinds[i % 3] for i in range(ROWS)],
                "tags": [[kinds[i % 3], "vip"] for i in range(ROWS)],
                "events": [[{"kind": kinds[i % 3], "note": note}] for i in range(ROWS)],
            }
        )

    seen, again, fresh = batch("none"), batch("none"), batch("to ops@example.com")
    redactor = redactor_for(seen, RedactionSpec(level="moderate"))
    outs = [
        redactor.apply(f.with_row_index(ROW_INDEX).lazy()).collect() for f in (seen, again, fresh)
    ]
    for column in ("status", "tags", "events"):
        assert outs[1][column].to_list() == again[column].to_list()
    assert outs[2]["events"].to_list() == [
        [{"kind": kinds[i % 3], "note": "to [EMAIL]"}] for i in range(ROWS)
    ]
    counted = {key: [out[c].sum() for out in outs] for c, key in redactor.counters.items()}
    assert {k: v for k, v in counted.items() if any(v)} == {"EMAIL/events.note": [0, 0, ROWS]}


def test_phones_behind_a_lead_or_before_a_trail_still_pass_the_row_check() -> None:
    """The row check reads a phone candidate's value by trimming its match: a "(" or
    stars before it, punctuation or a word after it, an extension, and a look-alike in
    the same text must neither lose the phone nor pick the look-alike."""
    texts = [
        "(555-123-4567) call back",
        "pay **+1 (212) 555-0199** now",
        "desk 555 123 4567 ext. 42, thanks",
        "on 2025-05-12 rang (020) 7946 0123.",
        "invoice 2025-05-12, price 1.234.567, call 06 12 34 56 78",
        "only 2025-05-12 and 1.234.567 here",
    ] * 40
    out, counts = run(pl.DataFrame({"text": texts}), RedactionSpec(level="moderate"))
    assert (
        out["text"].to_list()
        == [
            "([PHONE]) call back",
            "pay **[PHONE]** now",
            "desk [PHONE], thanks",
            "on 2025-05-12 rang [PHONE].",
            "invoice 2025-05-12, price 1.234.567, call [PHONE]",
            "only 2025-05-12 and 1.234.567 here",
        ]
        * 40
    )
    assert counts == {"PHONE/text": 5 * 40}


def test_secrets_in_free_text_are_found_whether_or_not_they_need_a_separator() -> None:
    """The keyword gates needing a separator are checked only on rows holding one: a
    secret of each kind, alone in its batch of free text, is still found."""
    filler = [f"note {i} about order {i * 7}" for i in range(ROWS)]
    secrets = {
        10: ("login with password=hunter2 failed", "login with password=[SECRET_VALUE] failed"),
        20: ("sent Authorization: Bearer abcdefghijklmnop1234", None),
        30: ('{"api_key": "k-123"} in the dump', None),
        40: (
            "db postgres://app:s3cr3t@db.internal/x",
            "db postgres://app:[URL_PASSWORD]@db.internal/x",
        ),
        50: ("token AKIAIOSFODNN7EXAMPLE leaked", "token [AWS_ACCESS_KEY] leaked"),
        60: ("the password is not here", "the password is not here"),
    }
    for row, spec in secrets.items():
        texts = list(filler)
        texts[row] = spec[0]
        out, counts = run(pl.DataFrame({"text": texts}), RedactionSpec(level="basic"))
        got = out["text"].to_list()
        assert got[:row] + got[row + 1 :] == filler[:row] + filler[row + 1 :]
        if spec[1] is not None:
            assert got[row] == spec[1]
        else:
            assert got[row] != spec[0]
        assert sum(counts.values()) == (0 if row == 60 else 1), counts


def test_rewritten_rows_go_back_to_their_own_places_in_a_batch_of_several_chunks() -> None:
    """The rows each rule rewrote are put back among the untouched ones by position: in
    a batch whose columns arrive in several chunks (a concatenation), with e-mails and
    phones in interleaved rows of a text, a list and a struct column, every row keeps its
    place and only its own values change."""
    parts = []
    for part in range(3):
        base = part * 700
        parts.append(
            pl.DataFrame(
                {
                    "text": [
                        None
                        if i % 11 == 0
                        else f"row {base + i} mail r{base + i}@example.com"
                        if i % 3 == 0
                        else f"row {base + i} call 555-123-{4000 + i:04d}"
                        if i % 5 == 0
                        else f"row {base + i} plain"
                        for i in range(700)
                    ],
                    "tags": [
                        [f"t{base + i}", "x@example.org"] if i % 7 == 0 else [f"t{base + i}"]
                        for i in range(700)
                    ],
                    "request": [
                        {"note": f"n{base + i} x@example.org" if i % 4 == 0 else f"n{base + i}"}
                        for i in range(700)
                    ],
                }
            )
        )
    frame = pl.concat(parts, rechunk=False)
    assert frame["text"].n_chunks() == 3
    out, counts = run(frame, RedactionSpec(level="moderate"))

    def expected_text(i: int) -> str | None:
        row = i % 700
        if row % 11 == 0:
            return None
        if row % 3 == 0:
            return f"row {i} mail [EMAIL]"
        if row % 5 == 0:
            return f"row {i} call [PHONE]"
        return f"row {i} plain"

    rows = range(2100)
    assert out["text"].to_list() == [expected_text(i) for i in rows]
    assert out["tags"].to_list() == [
        [f"t{i}", "[EMAIL]"] if i % 700 % 7 == 0 else [f"t{i}"] for i in rows
    ]
    assert out["request"].to_list() == [
        {"note": f"n{i} [EMAIL]" if i % 700 % 4 == 0 else f"n{i}"} for i in rows
    ]
    texts = [expected_text(i) for i in rows]
    assert counts == {
        "EMAIL/text": sum(1 for t in texts if t and "[EMAIL]" in t),
        "PHONE/text": sum(1 for t in texts if t and "[PHONE]" in t),
        "EMAIL/tags": sum(1 for i in rows if i % 700 % 7 == 0),
        "EMAIL/request.note": sum(1 for i in rows if i % 700 % 4 == 0),
    }


def test_a_fifteen_digit_phone_behind_a_digit_and_a_star_is_still_redacted() -> None:
    """A star lead may follow a digit ("9*+44 …"): the row check must not count that
    digit as the phone's, or a 15-digit phone reads as 16 digits and leaks."""
    texts = ["ref 9*+44 1234 567 890 123", "nothing here"] * 40
    out, counts = run(pl.DataFrame({"text": texts}), RedactionSpec(level="moderate"))
    assert out["text"].to_list() == ["ref 9*[PHONE]", "nothing here"] * 40
    assert counts == {"PHONE/text": 40}


@pytest.mark.parametrize("kinds", [3, 8, 12])
def test_a_new_value_among_many_or_few_remembered_clean_ones_is_still_redacted(
    kinds: int,
) -> None:
    """Remembered clean values are compared one by one when few and looked up when
    more: either way a value not among them (here holding an e-mail) is found."""
    names = [f"service-{k}" for k in range(kinds)]
    seen = pl.DataFrame({"service": [names[i % kinds] for i in range(ROWS)]})
    fresh = pl.DataFrame(
        {"service": ["ops@example.com" if i == 5 else names[i % kinds] for i in range(ROWS)]}
    )
    redactor = redactor_for(seen, RedactionSpec(level="moderate"))
    outs = [redactor.apply(f.with_row_index(ROW_INDEX).lazy()).collect() for f in (seen, fresh)]
    assert outs[0]["service"].to_list() == seen["service"].to_list()
    assert outs[1]["service"].to_list() == [
        "[EMAIL]" if i == 5 else names[i % kinds] for i in range(ROWS)
    ]


def test_a_categorical_column_with_no_clean_value_is_redacted_batch_after_batch() -> None:
    """Every distinct value trips a gate, so none is remembered clean: the next batch
    still checks its values (an empty set of remembered ones) and redacts them."""
    addresses = ["a@example.com", "b@example.org"]
    batch = pl.DataFrame({"owner": [addresses[i % 2] for i in range(ROWS)]})
    redactor = redactor_for(batch, RedactionSpec(level="moderate"))
    for _ in range(3):
        out = redactor.apply(batch.with_row_index(ROW_INDEX).lazy()).collect()
        assert out["owner"].to_list() == ["[EMAIL]"] * ROWS


#: A hash rule, then a custom pattern that reads its pseudonyms' digests (any run of
#: hex digits): rules apply in order, each to the text the rules before it wrote.
HASH_THEN_HEX = ("pattern=EMAIL:hash:k", "pattern=[0-9a-f]{6,}:redact")
HASHED = "to [EMAIL:[REGEX_1]]"


@pytest.mark.parametrize("shape", ["text", "list", "struct", "categorical"])
def test_a_custom_pattern_reads_what_earlier_rules_wrote_whatever_else_the_row_holds(
    shape: str, tmp_path: Path
) -> None:
    """Whether a custom pattern runs on a row was decided on the source text: it then
    read the e-mail's pseudonym only in rows holding some other hex run, so the same
    address came out hashed in one row and `[EMAIL:[REGEX_1]]` in the next. It also
    runs where an earlier rule changed the text: the same value gets the same output
    in every row, for text columns, list elements, struct fields and categorical text
    (gated by its distinct values, the clean ones remembered for the next batches)."""
    texts = ["to x@y.io", "to x@y.io ref abcdef12", "nothing", "ok"]
    expected = [HASHED, f"{HASHED} ref [REGEX_1]", "nothing", "ok"]
    # Categorical text: few distinct values in many rows.
    repeat = 1_000 if shape == "categorical" else 1
    wrap = {
        "text": lambda t: t,
        "categorical": lambda t: t,
        "list": lambda t: [t, "vip"],
        "struct": lambda t: {"note": t, "n": 1},
    }[shape]
    frame = pl.DataFrame({"c": [wrap(t) for t in texts] * repeat})
    spec = RedactionSpec(level="moderate", rules=tuple(rule(r) for r in HASH_THEN_HEX))
    redactor = redactor_for(frame, spec, settings_with_keys(tmp_path, k=b"k" * 32))
    leaf = "c.note" if shape == "struct" else "c"
    # One redactor over three batches, the rows in another order each time.
    for turn in range(3):
        order = list(range(len(texts)))[turn:] + list(range(len(texts)))[:turn]
        batch = pl.DataFrame({"c": [wrap(texts[i]) for i in order] * repeat})
        out = redactor.apply(batch.with_row_index(ROW_INDEX).lazy()).collect()
        assert out["c"].to_list() == [wrap(expected[i]) for i in order] * repeat
        counts = {
            key: int(out[name].sum()) for name, key in redactor.counters.items() if out[name].any()
        }
        assert counts == {f"EMAIL/{leaf}": 2 * repeat, f"REGEX_1/{leaf}": 2 * repeat}


def test_a_custom_pattern_reads_an_earlier_custom_patterns_tag_in_every_row() -> None:
    """A custom pattern matching another's tag (`GEX_0` in `[REGEX_0]`) rewrites it in
    every row that tag was written to, not only in rows that held a match before."""
    texts = ["a secret", "a secret GEX_9", "plain"]
    spec = RedactionSpec(
        level="custom", rules=(rule("pattern=secret:redact"), rule("pattern=GEX_[0-9]:redact"))
    )
    out, counts = run(pl.DataFrame({"text": texts}), spec)
    assert out["text"].to_list() == [
        "a [RE[REGEX_1]]",
        "a [RE[REGEX_1]] [REGEX_1]",
        "plain",
    ]
    assert counts == {"REGEX_0/text": 2, "REGEX_1/text": 2}


def test_custom_patterns_after_rewrites_give_what_every_rule_on_every_row_gives(
    tmp_path: Path,
) -> None:
    """The gates only pick rows: the pass gives what running every text rule in order
    on every row gives, text and counters, with custom patterns reading pseudonyms,
    masks and other custom patterns' tags (the corpus, and pairs of its texts in one
    row), in a text column, list elements, a struct field and categorical text, over
    several batches of one redactor (the categorical leaf's clean values remembered)."""
    corpus = [sample.text for sample in generate(per_kind=4)]
    rnd = random.Random(5)
    # Cards beside digit groups: the card rule's second step reads what its first left,
    # and the two share a counter.
    corpus += [
        "paid 4111 1111 1111 1111 and 5500 0000 0000 0004 12 ok",
        "4111 1111 1111 1111 5500 0000 0000 0004 123",
        "x 6011 0000 0000 0004 019 123 and 4111 1111 1111 1111",
    ]
    texts = corpus + [f"{rnd.choice(corpus)} {rnd.choice(corpus)}" for _ in range(100)]
    statuses = ["ok", "pending", "closed", *rnd.sample(corpus, 3)]
    rules = (
        "pattern=EMAIL:hash:k",
        "pattern=CARD:mask:8",
        "pattern=[0-9a-f]{6,}:redact",
        r"pattern=\*+[0-9]+:mask:2",
        r"pattern=REGEX_\d:hash:k",
    )
    spec = RedactionSpec(level="strict", rules=tuple(rule(r) for r in rules))

    def batch(rows: int) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "body": [rnd.choice(texts) for _ in range(rows)],
                "tags": [[*rnd.sample(texts, rnd.randint(0, 2)), "vip"] for _ in range(rows)],
                "s": [{"note": rnd.choice(texts), "n": n} for n in range(rows)],
                "status": [rnd.choice(statuses) for _ in range(rows)],
            },
            schema_overrides={"status": pl.Categorical},
        )

    first = batch(200)
    redactor = redactor_for(first, spec, settings_with_keys(tmp_path, k=b"k" * 32))
    assert isinstance(redactor, PolicyRedactor)
    text_pass = redactor._text_pass
    assert text_pass is not None
    for number in range(2):
        if number == 1:
            # The next batch: the categories seen, with their clean values remembered,
            # and a new one.
            statuses.append(rnd.choice(corpus))
        frame = first if number == 0 else batch(240)
        out = redactor.apply(frame.with_row_index(ROW_INDEX).lazy()).collect()
        # The stages before and after the text pass as they are, and between them every
        # text step on every row, in order (two steps of one rule share a counter).
        everywhere = frame.with_columns(pl.col("status").cast(pl.String))
        everywhere = _run_stages(everywhere.lazy(), redactor._stages).collect()
        counters: dict[str, pl.Series] = {}
        for step in text_pass._steps:
            done = step.run(everywhere.lazy(), frozenset(step.counters)).collect()
            for name in dict.fromkeys(step.counters.values()):
                counters[name] = done[name] | counters[name] if name in counters else done[name]
            everywhere = done.drop(list(step.counters.values()))
        everywhere = everywhere.with_columns(counters.values())
        everywhere = _run_stages(everywhere.lazy(), redactor._late_stages).collect()
        assert any(everywhere[name].any() for name in counters)
        for column in frame.columns:
            assert out[column].to_list() == everywhere[column].to_list(), column
        for name, key in redactor.counters.items():
            assert out[name].to_list() == everywhere[name].to_list(), key

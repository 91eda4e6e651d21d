"""Levels, rules and actions on real frames: what changes, what the schema becomes, what
the counters say, and how bad rules are refused (naming the rule)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.server.pipeline.stages import NoRedaction
from sluice.server.planning.spec import RedactionRuleSpec, RedactionSpec
from sluice.server.settings import Settings
from tests.unit.redaction_helpers import redactor_for, rule, run, settings_with_keys

PEOPLE = pl.DataFrame(
    {
        "id": [1, 2, 3],
        "email": ["ana@example.com", "bo@example.org", None],
        "first_name": ["Ana", "Bo", "Cy"],
        "notes": ["call +34 612 345 678", "nothing here", "password=hunter2!"],
        "dob": [date(1990, 5, 17), date(1985, 1, 2), None],
        "amount": [12.5, 99.0, 250.0],
        "api_token": ["t1", "t2", "t3"],
    }
)


def test_none_is_no_redaction() -> None:
    assert isinstance(redactor_for(PEOPLE, RedactionSpec()), NoRedaction)
    assert isinstance(redactor_for(PEOPLE, RedactionSpec(level="none")), NoRedaction)


def test_basic_takes_secrets_only() -> None:
    out, counts = run(PEOPLE, RedactionSpec(level="basic"))
    assert out["api_token"].to_list() == ["[SECRET]"] * 3
    assert out["notes"].to_list() == [
        "call +34 612 345 678",
        "nothing here",
        "password=[SECRET_VALUE]",
    ]
    assert out["email"].to_list() == PEOPLE["email"].to_list()
    assert counts == {"SECRET/api_token": 3, "SECRET_VALUE/notes": 1}


def test_moderate_adds_contacts_and_include_pii_false_means_moderate() -> None:
    for spec in (RedactionSpec(level="moderate"), RedactionSpec(include_pii=False)):
        out, counts = run(PEOPLE, spec)
        assert out["email"].to_list() == ["[EMAIL]", "[EMAIL]", None]
        assert out["notes"][0] == "call [PHONE]"
        assert out["first_name"].to_list() == ["Ana", "Bo", "Cy"]
        assert counts["EMAIL/email"] == 2 and counts["PHONE/notes"] == 1


def test_strict_adds_names_and_generalises_birth_dates() -> None:
    out, counts = run(PEOPLE, RedactionSpec(level="strict"))
    assert out["first_name"].to_list() == ["[NAME]"] * 3
    assert out["dob"].to_list() == ["1990", "1985", None]
    assert counts["NAME/first_name"] == 3 and counts["DOB/dob"] == 2


def test_custom_rules_override_level_defaults(tmp_path: Path) -> None:
    settings = settings_with_keys(tmp_path, default=b"k" * 32)
    spec = RedactionSpec(
        level="moderate",
        rules=(rule("column=email:hash"), rule("column=notes:keep"), rule("column=amount:drop")),
    )
    out, counts = run(PEOPLE, spec, settings)
    expected = hmac.new(b"k" * 32, b"ana@example.com", hashlib.sha256).hexdigest()
    assert out["email"].to_list() == [
        expected,
        hmac.new(b"k" * 32, b"bo@example.org", hashlib.sha256).hexdigest(),
        None,
    ]
    assert out["notes"].to_list() == PEOPLE["notes"].to_list()
    assert "amount" not in out.columns
    assert counts == {"hash/email": 2, "drop/amount": 3, "SECRET/api_token": 3}


def test_output_schema_follows_drops_and_type_changes(tmp_path: Path) -> None:
    settings = settings_with_keys(tmp_path, default=b"secret")
    spec = RedactionSpec(
        level="custom",
        rules=(
            rule("column=id:hash"),
            rule("column=amount:generalize:100"),
            rule("column=dob:generalize:month"),
            rule("column=api_token:drop"),
        ),
    )
    redactor = redactor_for(PEOPLE, spec, settings)
    schema = redactor.output_schema(PEOPLE.schema)
    assert schema["id"] == pl.String and schema["dob"] == pl.String
    assert schema["amount"] == pl.Float64 and "api_token" not in schema
    out, _ = run(PEOPLE, spec, settings)
    assert out.schema == schema
    assert out["amount"].to_list() == [0.0, 0.0, 200.0]
    assert out["dob"].to_list() == ["1990-05", "1985-01", None]


def test_mask_keeps_the_last_characters() -> None:
    frame = pl.DataFrame({"card_number": ["4111111111111111", "12"], "notes": ["ok", "ok"]})
    out, counts = run(
        frame, RedactionSpec(level="custom", rules=(rule("column=card_number:mask:4"),))
    )
    # A value no longer than the characters kept is masked whole (it was kept whole).
    assert out["card_number"].to_list() == ["************1111", "**"]
    assert counts == {"mask/card_number": 2}


def test_pattern_mask_zero_masks_every_character_and_no_number_keeps_the_default() -> None:
    # 0 is a number given, not "not given": README's mask:N keeps the last N characters.
    frame = pl.DataFrame({"notes": ["paid with 4111 1111 1111 1111 today"]})
    zero, _ = run(frame, RedactionSpec(level="strict", rules=(rule("pattern=CARD:mask:0"),)))
    assert zero["notes"].to_list() == ["paid with ******************* today"]
    default = RedactionSpec(
        level="strict", rules=(RedactionRuleSpec(pattern="CARD", action="mask"),)
    )
    kept, _ = run(frame, default)
    assert kept["notes"].to_list() == ["paid with ***************1111 today"]
    zero_spec = RedactionSpec(level="strict", rules=(rule("pattern=CARD:mask:0"),))
    assert redactor_for(frame, zero_spec).describe()["rules"] == [
        {"action": "mask", "pattern": "CARD", "keep_last": 0}
    ]


def test_mask_on_integers_counts_the_values_it_changed() -> None:
    frame = pl.DataFrame(
        {"card_number": [4111111111111111, 12, None], "pay": [{"pan": 5500000000000004}] * 3}
    )
    spec = RedactionSpec(
        level="custom",
        rules=(rule("column=card_number:mask:4"), rule("column=pay.pan:mask:4")),
    )
    out, counts = run(frame, spec)
    assert out["card_number"].to_list() == ["************1111", "**", None]
    assert out["pay"].struct.field("pan").to_list() == ["************0004"] * 3
    assert counts == {"mask/card_number": 2, "mask/pay.pan": 3}


def test_strict_nulls_cards_stored_as_integers_and_keeps_other_numbers() -> None:
    cards = [4111111111111111, 378282246310005, 4111111111111112, 1_700_000_000_000, 7, None]
    frame = pl.DataFrame(
        {
            "ref": cards,
            "small": pl.Series([4, 5, 6, 7, 8, 9], dtype=pl.Int32),
            "nested": [{"number": c, "ids": [c, 1]} for c in cards],
            "unsigned": pl.Series(cards, dtype=pl.UInt64),
        }
    )
    spec = RedactionSpec(level="strict")
    redactor = redactor_for(frame, spec)
    assert redactor.output_schema(frame.schema) == frame.schema  # types are kept
    out, counts = run(frame, spec)
    # Luhn-valid issuer numbers go; a failing checksum, a timestamp and small ints stay.
    kept = [None, None, 4111111111111112, 1_700_000_000_000, 7, None]
    assert out["ref"].to_list() == kept
    assert out["unsigned"].to_list() == kept
    assert out["nested"].struct.field("number").to_list() == kept
    assert out["nested"].struct.field("ids").to_list()[:2] == [[None, 1], [None, 1]]
    assert out["small"].to_list() == frame["small"].to_list()
    assert counts == {
        "CARD/ref": 2,
        "CARD/unsigned": 2,
        "CARD/nested.number": 2,
        "CARD/nested.ids": 2,
    }
    # A keep rule for the entity leaves them, as for cards in text.
    keep = RedactionSpec(level="strict", rules=(rule("pattern=CARD:keep"),))
    assert run(frame, keep)[0]["ref"].to_list() == cards


def test_pattern_hash_gives_stable_distinct_pseudonyms(tmp_path: Path) -> None:
    settings = settings_with_keys(tmp_path, default=b"one", other=b"two")
    frame = pl.DataFrame(
        {"notes": ["from ana@example.com", "cc ana@example.com", "bo@example.org"]}
    )
    out, _ = run(
        frame, RedactionSpec(level="custom", rules=(rule("pattern=EMAIL:hash"),)), settings
    )
    first, second, third = out["notes"].to_list()
    assert first.startswith("from [EMAIL:") and first.removeprefix("from ") == second.removeprefix(
        "cc "
    )
    assert third != first.removeprefix("from ")
    again, _ = run(
        frame, RedactionSpec(level="custom", rules=(rule("pattern=EMAIL:hash"),)), settings
    )
    assert again["notes"].to_list() == out["notes"].to_list()
    other, _ = run(
        frame, RedactionSpec(level="custom", rules=(rule("pattern=EMAIL:hash:other"),)), settings
    )
    assert other["notes"][0] != first


def test_reaches_into_structs_lists_of_structs_and_json_text() -> None:
    frame = pl.DataFrame(
        {
            "user": [{"email": "ana@example.com", "city": "Madrid"}],
            "contacts": [[{"phone": "+44 20 7946 0123", "note": "mail bo@example.org"}]],
            "payload": [json.dumps({"password": "hunter2", "nested": {"email": "x@y.io"}, "n": 1})],
        }
    )
    out, counts = run(frame, RedactionSpec(level="moderate"))
    row = out.row(0, named=True)
    assert row["user"] == {"email": "[EMAIL]", "city": "Madrid"}
    assert row["contacts"] == [{"phone": "[PHONE]", "note": "mail [EMAIL]"}]
    payload = json.loads(row["payload"])
    assert payload["password"] == "[SECRET]" and payload["nested"]["email"] == "[EMAIL]"
    assert payload["n"] == 1
    assert counts == {
        "EMAIL/user.email": 1,
        "PHONE/contacts.phone": 1,
        "EMAIL/contacts.note": 1,
        "SECRET_JSON/payload": 1,
        "EMAIL_JSON/payload": 1,
    }


def test_drop_and_mask_inside_nested_fields() -> None:
    frame = pl.DataFrame({"user": [{"ssn": "123-45-6789", "name": "Ana"}, None]})
    spec = RedactionSpec(
        level="custom", rules=(rule("column=user.ssn:drop"), rule("column=name:mask:1"))
    )
    out, counts = run(frame, spec)
    assert out["user"].to_list() == [{"name": "**a"}, None]
    assert counts == {"drop/user.ssn": 1, "mask/user.name": 1}


def test_describe_records_policy_but_no_key_material(tmp_path: Path) -> None:
    settings = settings_with_keys(tmp_path, default=b"very-secret-key-material")
    spec = RedactionSpec(level="moderate", rules=(rule("column=email:hash"),))
    described = redactor_for(PEOPLE, spec, settings).describe()
    text = json.dumps(described)
    assert described["level"] == "moderate"
    assert described["rules"] == [{"action": "hash", "column": "email"}]
    assert described["columns"]["email"] == {"rule": "hash", "action": "hash"}
    assert "very-secret" not in text and (tmp_path / "default.key").name not in text
    key_id = described["hash_keys"]["default"]
    assert len(key_id) == 16 and key_id not in b"very-secret-key-material".hex()


def test_named_policy_applies_its_level_and_rules() -> None:
    settings = Settings(
        redaction_policies={
            "support": {"level": "basic", "rules": [{"column": "first_name", "action": "null"}]}
        }
    )
    out, counts = run(PEOPLE, RedactionSpec(level="custom", policy="support"), settings)
    assert out["first_name"].to_list() == [None, None, None]
    assert out["api_token"].to_list() == ["[SECRET]"] * 3
    assert counts["null/first_name"] == 3


def test_generalize_datetimes_and_integers() -> None:
    frame = pl.DataFrame({"seen": [datetime(2025, 3, 9, 10, 30)], "age": [37]})
    spec = RedactionSpec(
        level="custom", rules=(rule("column=seen:generalize:day"), rule("column=age:generalize:10"))
    )
    out, _ = run(frame, spec)
    assert out.row(0) == (date(2025, 3, 9), 30)


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (RedactionSpec(level="paranoid"), "spec.redaction.level", "unknown level"),
        (RedactionSpec(level="custom"), "spec.redaction.level", "needs rules"),
        (RedactionSpec(policy="nope"), "spec.redaction.policy", "unknown policy"),
        (
            RedactionSpec(rules=(rule("column=email:shred"),)),
            "spec.redaction.rules[0]",
            "unknown action",
        ),
        (RedactionSpec(rules=(rule("column=nope:drop"),)), "spec.redaction.rules[0]", "matches no"),
        (
            RedactionSpec(rules=(rule("column=email:drop"), rule("pattern=(:redact"))),
            "spec.redaction.rules[1]",
            "invalid regular",
        ),
        (
            RedactionSpec(rules=(rule("pattern=a(?=b):redact"),)),
            "spec.redaction.rules[0]",
            "not supported",
        ),
        (
            RedactionSpec(rules=(rule("pattern=x*:redact"),)),
            "spec.redaction.rules[0]",
            "empty string",
        ),
        (
            RedactionSpec(rules=(rule("pattern=PASSPORT:redact"),)),
            "spec.redaction.rules[0]",
            "unknown entity",
        ),
        (
            RedactionSpec(rules=(rule("pattern=EMAIL:drop"),)),
            "spec.redaction.rules[0]",
            "applies to columns",
        ),
        (
            RedactionSpec(rules=(rule("column=dob:generalize:10"),)),
            "spec.redaction.rules[0]",
            "cannot apply",
        ),
        (
            RedactionSpec(rules=(rule("column=amount:generalize:-5"),)),
            "spec.redaction.rules[0]",
            "granularity",
        ),
        (
            RedactionSpec(rules=(RedactionRuleSpec(column="email", action="redact", keep_last=4),)),
            "spec.redaction.rules[0]",
            "keep_last only applies to mask",
        ),
        (
            RedactionSpec(
                rules=(RedactionRuleSpec(column="email", pattern="EMAIL", action="redact"),)
            ),
            "spec.redaction.rules[0]",
            "exactly one",
        ),
    ],
)
def test_bad_rules_are_refused_naming_the_rule(spec: RedactionSpec, field: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        redactor_for(PEOPLE, spec)
    assert caught.value.violations[0].field == field
    assert words in caught.value.violations[0].description


@pytest.mark.parametrize(
    "width",
    [
        "1e-300",
        "1e-39",
        "0.0000000000000000001",
        "0.0000000000000001",
        "1e20",
        "1e300",
        "9007199254740993",
    ],
)
def test_a_bucket_width_a_float_cannot_hold_is_refused_naming_it(width: str) -> None:
    """A width of more than 15 decimals or more than 2**53 units of its last decimal:
    no bucket edge of it is written exactly, and planning accepted it silently."""
    spec = RedactionSpec(rules=(rule("column=id:keep"), rule(f"column=amount:generalize:{width}")))
    with pytest.raises(InvalidArgument) as caught:
        redactor_for(PEOPLE, spec)
    violation = caught.value.violations[0]
    assert violation.field == "spec.redaction.rules[1]"
    assert "granularity" in violation.description and width in violation.description


@pytest.mark.parametrize("width", ["1e-15", "0.000000000000001", "9007199254740992", "2.5"])
def test_bucket_widths_a_float_holds_are_accepted(width: str) -> None:
    out, _ = run(PEOPLE, RedactionSpec(rules=(rule(f"column=amount:generalize:{width}"),)))
    assert out["amount"].null_count() == 0


@pytest.mark.parametrize(
    ("dtype", "width", "value", "bucket"),
    [
        # A year in nanoseconds: a timestamp's year bucket, exact by the integer path.
        (pl.Int64, "31536000000000000", 1_230_000_000_000_000_000, 1_229_904_000_000_000_000),
        (pl.Int64, "1e16", 1_234_567_890_123_456_789, 1_230_000_000_000_000_000),
        (pl.Int64, "1e18", 1_234_567_890_123_456_789, 1_000_000_000_000_000_000),
        (pl.UInt64, "1e18", 12_345_678_901_234_567_890, 12_000_000_000_000_000_000),
    ],
)
def test_a_whole_width_past_a_float_is_exact_on_an_integer_column(
    dtype: pl.DataType, width: str, value: int, bucket: int
) -> None:
    """The integer path buckets whole widths below 2**63 exactly: planning refused them
    (more than 2**53 units) though the action never reads them as floats there."""
    frame = pl.DataFrame({"n": pl.Series([value], dtype=dtype)})
    out, _ = run(frame, RedactionSpec(rules=(rule(f"column=n:generalize:{width}"),)))
    assert out["n"].to_list() == [bucket]


@pytest.mark.parametrize("width", ["9007199254740993", "1e20"])
def test_a_whole_width_no_float_holds_is_refused_on_an_integer_column(width: str) -> None:
    """9007199254740993 would be read as ...992; 1e20 is past 64 bits."""
    frame = pl.DataFrame({"n": pl.Series([5], dtype=pl.Int64)})
    spec = RedactionSpec(rules=(rule(f"column=n:generalize:{width}"),))
    with pytest.raises(InvalidArgument) as caught:
        redactor_for(frame, spec)
    assert width in caught.value.violations[0].description


@pytest.mark.parametrize("width", ["0.1000000000000000", "9007199254740992.0", "2.50"])
def test_a_width_with_trailing_zeros_is_the_width_without_them(width: str) -> None:
    """Equal to an accepted width (0.1, 2**53, 2.5): trailing zeros were counted as
    decimals and refused it."""
    frame = pl.DataFrame({"amount": [12.55, 99.0]})
    out, _ = run(frame, RedactionSpec(rules=(rule(f"column=amount:generalize:{width}"),)))
    plain, _ = run(
        frame,
        RedactionSpec(rules=(rule(f"column=amount:generalize:{width.rstrip('0').rstrip('.')}"),)),
    )
    assert out["amount"].to_list() == plain["amount"].to_list()


def test_hash_without_a_configured_key_is_a_failed_precondition(tmp_path: Path) -> None:
    spec = RedactionSpec(rules=(rule("column=email:hash"),))
    with pytest.raises(FailedPrecondition, match=r"rules\[0\].*'default'.*not configured"):
        redactor_for(PEOPLE, spec, Settings())
    missing = Settings(hash_keys={"default": f"file:{tmp_path / 'absent'}"})
    with pytest.raises(FailedPrecondition, match=r"rules\[0\]"):
        redactor_for(PEOPLE, spec, missing)

"""Fixed-size lists (Array) and maps are redacted like lists (they are read as the lists
they are made of: list_forms.py) and leave with their own types; a map's values are
also taken by a key a column rule names (map_keys.py); cards are found in whole
decimals and 128-bit integers as in Int64."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pyarrow as pa
import pytest

from sluice.server.errors import InvalidArgument
from sluice.server.pipeline.redaction.list_forms import as_lists, restored_type
from sluice.server.pipeline.redaction.schema_walk import walk
from sluice.server.planning.spec import RedactionSpec
from sluice.server.settings import Settings
from tests.unit.redaction_helpers import rule, run

MAIL = "ann@example.com"
CARD = 4111111111111111
ENTRY = pl.Struct({"key": pl.String(), "value": pl.String()})


def _frame(**columns: pa.Array) -> pl.DataFrame:
    frame = pl.from_arrow(pa.table(columns))
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_the_walk_reaches_inside_arrays_and_maps_in_their_list_form() -> None:
    dtype = pl.Struct(
        {
            "tags": pl.Array(pl.String(), 2),
            "attrs": pl.Map(pl.String(), pl.Array(pl.Int64(), 3)),
            "grid": pl.List(pl.Array(pl.String(), (2, 2))),
        }
    )
    leaves = {loc: t for loc, t in walk(("c",), as_lists(dtype)) if not t.is_nested()}
    assert leaves == {
        ("c", "tags", "[]"): pl.String(),
        ("c", "attrs", "[]", "key"): pl.String(),
        ("c", "attrs", "[]", "value", "[]"): pl.Int64(),
        ("c", "grid", "[]", "[]", "[]"): pl.String(),
    }


@pytest.mark.parametrize(
    "dtype",
    [
        pl.Array(pl.String(), 2),
        pl.Array(pl.String(), (2, 3)),
        pl.Map(pl.String(), pl.Int64()),
        pl.Struct({"m": pl.Map(pl.String(), pl.Array(pl.String(), 2))}),
        pl.List(pl.Array(pl.Struct({"a": pl.String()}), 1)),
        pl.Array(pl.Struct({"m": pl.Map(pl.Int64(), pl.String())}), 2),
    ],
)
def test_a_type_read_as_lists_is_restored(dtype: pl.DataType) -> None:
    assert restored_type(as_lists(dtype), dtype) == dtype


def test_a_restored_type_holds_the_values_new_types() -> None:
    before = pl.Map(pl.String(), pl.Array(pl.Int64(), 2))
    after = pl.List(pl.Struct({"key": pl.String(), "value": pl.List(pl.String())}))
    assert restored_type(after, before) == pl.Map(pl.String(), pl.Array(pl.String(), 2))
    # A map whose value a rule dropped is no map any more: left as the rules left it.
    keys_only = pl.List(pl.Struct({"key": pl.String()}))
    assert restored_type(keys_only, before) == keys_only
    assert restored_type(pl.String(), before) == pl.String()


def test_text_in_arrays_is_redacted_and_the_array_keeps_its_width() -> None:
    frame = _frame(
        notes=pa.array(
            [[f"write {MAIL}", "password=hunter2"], ["x", None], None],
            type=pa.list_(pa.string(), 2),
        )
    )
    out, counts = run(frame, RedactionSpec(level="moderate"))
    assert out.schema["notes"] == pl.Array(pl.String(), 2)
    assert out["notes"].to_list() == [
        ["write [EMAIL]", "password=[SECRET_VALUE]"],
        ["x", None],
        None,
    ]
    assert counts == {"EMAIL/notes": 1, "SECRET_VALUE/notes": 1}


def test_an_array_named_by_a_category_takes_its_default_per_element() -> None:
    frame = _frame(
        emails=pa.array([["a@b.io", "x"]], type=pa.list_(pa.string(), 2)),
        card_number=pa.array([[CARD, 5500000000000004]], type=pa.list_(pa.int64(), 2)),
    )
    out, _ = run(frame, RedactionSpec(level="strict"))
    assert out["emails"].to_list() == [["[EMAIL]", "[EMAIL]"]]
    # A mask makes the integers text: an Array of text of the same width.
    assert out.schema["card_number"] == pl.Array(pl.String(), 2)
    assert out["card_number"].to_list() == [["************1111", "************0004"]]


def test_a_two_dimensional_array_is_redacted() -> None:
    # It failed before: its text form was cast to an array of three dimensions.
    grid = pl.Series("grid", [[[MAIL, "x"], ["y", "z"]]], dtype=pl.Array(pl.String, (2, 2)))
    out, _ = run(grid.to_frame(), RedactionSpec(level="moderate"))
    assert out.schema["grid"] == pl.Array(pl.String(), (2, 2))
    assert out["grid"].to_list() == [[["[EMAIL]", "x"], ["y", "z"]]]


def test_dictionary_text_in_arrays_is_redacted() -> None:
    tags = pa.array([[MAIL, "vip"]], type=pa.list_(pa.dictionary(pa.int32(), pa.string()), 2))
    out, _ = run(_frame(tags=tags), RedactionSpec(level="moderate"))
    assert out.schema["tags"] == pl.Array(pl.String(), 2)
    assert out["tags"].to_list() == [["[EMAIL]", "vip"]]


def test_keys_and_values_of_maps_are_read_by_content() -> None:
    attrs = pa.array(
        [[("note", f"call +1 415 555 2671 or {MAIL}"), (MAIL, "owner")], None, []],
        type=pa.map_(pa.string(), pa.string()),
    )
    out, counts = run(_frame(attrs=attrs), RedactionSpec(level="moderate"))
    assert out.schema["attrs"] == pl.Map(pl.String(), pl.String())
    assert out["attrs"].to_list() == [
        {"note": "call [PHONE] or [EMAIL]", "[EMAIL]": "owner"},
        None,
        {},
    ]
    assert counts == {"EMAIL/attrs.key": 1, "EMAIL/attrs.value": 1, "PHONE/attrs.value": 1}


def test_a_map_named_like_a_category_is_replaced_whole_keys_included() -> None:
    """A map's keys are in its name's category too (`phones` {"4155552671": "mobile"}):
    the level's rule takes the whole map, as it did before maps were read inside."""
    text = pa.map_(pa.string(), pa.string())
    cases = [
        ("phones", pa.array([[("4155552671", "mobile")]], type=text), "moderate", "[PHONE]"),
        (
            "phone",
            pa.array([[(4155552671, "mobile")]], type=pa.map_(pa.int64(), pa.string())),
            "moderate",
            "[PHONE]",
        ),
        ("ssn", pa.array([[("078051120", "primary")]], type=text), "strict", "[NATIONAL_ID]"),
        ("first_name", pa.array([[("Zebulon", "x")]], type=text), "strict", "[NAME]"),
        ("password", pa.array([[("hunter2secret", "x")]], type=text), "basic", "[SECRET]"),
        ("api_key", pa.array([[("sk_live_abc123def456", "prod")]], type=text), "basic", "[SECRET]"),
        ("email", pa.array([[("alice.sentinel", "x")], None], type=text), "moderate", "[EMAIL]"),
    ]
    for name, values, level, written in cases:
        out, counts = run(_frame(**{name: values}), RedactionSpec(level=level))
        assert out[name].to_list()[0] == written, name
        assert out[name].null_count() == len(values) - 1, name
        assert counts == {f"{written[1:-1]}/{name}": 1}, name


def test_a_map_named_like_a_category_without_a_text_form_becomes_null() -> None:
    # A mask or a generalisation reads one value; a map is none: null, never in clear.
    frame = _frame(
        card_number=pa.array([[(5555555555554444, "x")]], type=pa.map_(pa.int64(), pa.string())),
        date_of_birth=pa.array([[("1980-05-17", "x")]], type=pa.map_(pa.string(), pa.string())),
    )
    out, counts = run(frame, RedactionSpec(level="strict"))
    assert out.schema == frame.schema
    assert out.row(0) == (None, None)
    assert counts == {"CARD/card_number": 1, "DOB/date_of_birth": 1}


def test_a_map_named_like_a_category_inside_a_struct_or_a_list_is_replaced_whole() -> None:
    text = pa.map_(pa.string(), pa.string())
    frame = _frame(
        profile=pa.array([{"email": [("alice.sentinel", "x")]}], pa.struct([("email", text)])),
        phones=pa.array([[[("4155552671", "mobile")]]], type=pa.list_(text)),
    )
    out, _ = run(frame, RedactionSpec(level="moderate"))
    assert out["profile"].to_list() == [{"email": "[EMAIL]"}]
    assert out["phones"].to_list() == [["[PHONE]"]]


def test_a_maps_value_under_a_key_a_rule_names_is_replaced() -> None:
    attrs = pa.array(
        [[("password", "hunter2"), ("dateOfBirth", "1990-05-06"), ("dobVerified", "yes")]],
        type=pa.map_(pa.string(), pa.string()),
    )
    counts_by_id = pa.array([[("ssn", 78051120), ("visits", 3)]], pa.map_(pa.string(), pa.int64()))
    out, counts = run(_frame(attrs=attrs, ids=counts_by_id), RedactionSpec(level="strict"))
    assert out["attrs"].to_list() == [
        {"password": "[SECRET]", "dateOfBirth": "[DOB]", "dobVerified": "yes"}
    ]
    # A value that cannot hold the tag becomes null, in the map's value type.
    assert out["ids"].to_list() == [{"ssn": None, "visits": 3}]
    assert counts["SECRET_MAP/attrs.value"] == 1 and counts["NATIONAL_ID_MAP/ids.value"] == 1


def test_a_value_under_a_named_key_is_replaced_in_a_map_inside_a_map() -> None:
    text = pa.map_(pa.string(), pa.string())
    frame = _frame(
        m=pa.array(
            [[("a", [("password", "hunter2secret"), ("n", "1")])]], pa.map_(pa.string(), text)
        ),
        s=pa.array(
            [[("a", {"x": [("password", "hunter2secret")]})]],
            type=pa.map_(pa.string(), pa.struct([("x", text)])),
        ),
        both=pa.array(
            [[("password", [("password", "hunter2secret")]), ("b", [("token", "t0k3nvalue")])]],
            type=pa.map_(pa.string(), text),
        ),
    )
    out, counts = run(frame, RedactionSpec(level="basic"))
    assert out.schema == frame.schema
    assert _entries(out["m"]) == [[("a", [("password", "[SECRET]"), ("n", "1")])]]
    assert _entries(out["s"]) == [[("a", {"x": [("password", "[SECRET]")]})]]
    # The outer value under `password` is a map, not text: null.
    assert _entries(out["both"]) == [[("password", None), ("b", [("token", "[SECRET]")])]]
    assert counts == {
        "SECRET_MAP/m.value.value": 1,
        "SECRET_MAP/s.value.x.value": 1,
        "SECRET_MAP/both.value": 1,
        "SECRET_MAP/both.value.value": 1,
    }


def test_a_rule_that_keeps_a_map_keeps_it_whole() -> None:
    attrs = pa.array([[("password", "hunter2")]], type=pa.map_(pa.string(), pa.string()))
    out, counts = run(
        _frame(attrs=attrs), RedactionSpec(level="basic", rules=[rule("column=attrs:keep")])
    )
    assert out["attrs"].to_list() == [{"password": "hunter2"}]
    assert counts == {}


def _entries(series: pl.Series) -> list[object]:
    """A map column's rows as Arrow holds them: (key, value) pairs, repeats included."""
    return list(series.to_arrow().to_pylist())


@pytest.mark.parametrize("level", ["basic", "moderate", "strict"])
def test_a_maps_repeated_keys_are_kept(level: str) -> None:
    # Arrow does not require a map's keys to be unique (HTTP headers repeat them).
    text = pa.map_(pa.string(), pa.string())
    headers = [("set-cookie", "a=1"), ("set-cookie", "b=2")]
    frame = _frame(
        h=pa.array([headers, None], type=text),
        nested=pa.array([{"m": headers}, None], type=pa.struct([("m", text)])),
        rows=pa.array([[headers], None], type=pa.list_(text, 1)),
    )
    out, _ = run(frame, RedactionSpec(level=level))
    assert out.schema == frame.schema
    assert _entries(out["h"]) == [headers, None]
    assert _entries(out["nested"]) == [{"m": headers}, None]
    assert _entries(out["rows"]) == [[headers], None]


def test_keys_rewritten_alike_keep_every_entry_and_null_keys_go() -> None:
    attrs = pa.array(
        [[(MAIL, "a"), ("bob@example.org", "b"), ("plain", "c")]],
        type=pa.map_(pa.string(), pa.string()),
    )
    out, counts = run(_frame(attrs=attrs), RedactionSpec(level="moderate"))
    assert _entries(out["attrs"]) == [[("[EMAIL]", "a"), ("[EMAIL]", "b"), ("plain", "c")]]
    assert counts == {"EMAIL/attrs.key": 1}
    # A key made null cannot stay in a map: its entry goes, and the row counts.
    spec = RedactionSpec(level="basic", rules=[rule("pattern=EMAIL:null")])
    out, counts = run(_frame(attrs=attrs), spec)
    assert _entries(out["attrs"]) == [[("plain", "c")]]
    assert counts == {"EMAIL/attrs.key": 1}


def test_maps_inside_structs_and_arrays_are_redacted() -> None:
    inner = pa.map_(pa.string(), pa.string())
    frame = _frame(
        profile=pa.array([{"m": [("note", MAIL)]}], type=pa.struct([("m", inner)])),
        history=pa.array([[[("note", MAIL)], None]], type=pa.list_(inner, 2)),
    )
    out, _ = run(frame, RedactionSpec(level="moderate"))
    assert out.schema["profile"] == pl.Struct({"m": pl.Map(pl.String(), pl.String())})
    assert out.schema["history"] == pl.Array(pl.Map(pl.String(), pl.String()), 2)
    assert out["profile"].to_list() == [{"m": {"note": "[EMAIL]"}}]
    assert out["history"].to_list() == [[{"note": "[EMAIL]"}, None]]


def test_whole_column_rules_on_arrays_and_maps() -> None:
    frame = _frame(
        emails=pa.array([[MAIL, "x"]], type=pa.list_(pa.string(), 2)),
        attrs=pa.array([[("k", "v")]], type=pa.map_(pa.string(), pa.string())),
    )
    spec = RedactionSpec(
        level="basic", rules=[rule("column=emails:null"), rule("column=attrs:null")]
    )
    out, _ = run(frame, spec)
    assert out.schema == pl.Schema(
        {"emails": pl.Array(pl.String(), 2), "attrs": pl.Map(pl.String(), pl.String())}
    )
    assert out.row(0) == (None, None)
    # Refusals name the column's own type, not the list form the redactor reads it in.
    with pytest.raises(InvalidArgument, match=r"nested column 'attrs' \(Map\(String, String\)\)"):
        run(frame, RedactionSpec(level="basic", rules=[rule("column=attrs:mask")]))
    with pytest.raises(InvalidArgument, match=r"'emails' \(Array\(String, shape=\(2,\)\)\)"):
        run(frame, RedactionSpec(level="basic", rules=[rule("column=emails:generalize:10")]))


def test_a_policy_dropping_a_map_by_name_drops_it_whole_as_a_lists() -> None:
    rules = [{"column": "email", "action": "drop"}, {"column": "tags", "action": "drop"}]
    settings = Settings(redaction_policies={"p": {"level": "basic", "rules": rules}})
    frame = _frame(
        id=pa.array([1]),
        email=pa.array([[("home", MAIL)]], type=pa.map_(pa.string(), pa.string())),
        tags=pa.array([[MAIL]], type=pa.list_(pa.string())),
    )
    out, counts = run(frame, RedactionSpec(level="custom", policy="p"), settings)
    assert out.columns == ["id"]
    assert counts == {"drop/email": 1, "drop/tags": 1}


@pytest.mark.parametrize(
    "selector", ["email.key:keep", "email.value:redact", "email.key:drop", "value:null", "key:keep"]
)
def test_a_rule_naming_a_maps_keys_or_values_is_refused(selector: str) -> None:
    # A map is one column to column rules, taken whole by its name (as before maps were
    # read inside); `key` and `value` are the names of its list form, not the source's.
    frame = _frame(email=pa.array([[("home", MAIL)]], type=pa.map_(pa.string(), pa.string())))
    with pytest.raises(InvalidArgument, match="matches no exported column"):
        run(frame, RedactionSpec(level="basic", rules=[rule(f"column={selector}")]))


def test_cards_in_whole_decimals_and_wide_integers_are_nulled() -> None:
    frame = pl.DataFrame(
        {
            "dec": pl.Series([Decimal(CARD), Decimal(42), None], dtype=pl.Decimal(20, 0)),
            "huge": pl.Series([CARD, 42, -CARD], dtype=pl.Int128),
            "huge_u": pl.Series([CARD, 10**30, 0], dtype=pl.UInt128),
            "price": pl.Series([Decimal(CARD), Decimal(1), None], dtype=pl.Decimal(20, 2)),
            "short": pl.Series([Decimal(42), Decimal(1), None], dtype=pl.Decimal(12, 0)),
        }
    )
    out, counts = run(frame, RedactionSpec(level="strict"))
    assert out.schema == frame.schema
    assert out["dec"].to_list() == [None, Decimal(42), None]
    assert out["huge"].to_list() == [None, 42, -CARD]
    assert out["huge_u"].to_list() == [None, 10**30, 0]
    assert out["price"].to_list() == frame["price"].to_list()
    assert counts == {"CARD/dec": 1, "CARD/huge": 1, "CARD/huge_u": 1}
    # An id column whose ids look like cards is kept by a rule of its own (README).
    out, counts = run(frame, RedactionSpec(level="strict", rules=[rule("column=dec:keep")]))
    assert out["dec"].to_list() == frame["dec"].to_list()
    assert counts == {"CARD/huge": 1, "CARD/huge_u": 1}

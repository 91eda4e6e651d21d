"""What a content entity is: a kind of sensitive value found by pattern inside text
(entities.py lists them, level by level).

Every entity pattern has three named groups, `sl_lead`, `sl_value` and `sl_trail`: only
`sl_value` is sensitive; lead and trail are context the pattern must see (the `password=`
before a secret, or the character that proves a phone number ends here) and are written
back unchanged. Rust's regex engine, which Polars uses, has no look-around, so context
has to be consumed and restored this way. Every pattern compiles under both Python `re`
(the benchmark baseline and the corpus tests) and Rust `regex`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Entity:
    """A kind of sensitive value found by content."""

    name: str
    level: str
    lead: str
    value: str
    trail: str
    #: Name of a checksum/shape validator in validators.VALIDATORS, or "" for none.
    validator: str = ""
    default_action: str = "redact"
    default_keep_last: int = 0
    #: Applied only when a rule names it (GDPR packages do), never as a level default:
    #: its precision is below what a level promises (see person_names.py).
    opt_in: bool = False
    #: A pattern every match holds (`@`), when searching for it is a cheaper
    #: gate than the lead or value: a necessary condition, so it skips only rows without
    #: a match (the rows it lets through are matched with the full pattern).
    gate_pattern: str = ""
    # What the text rewrites do beyond the pattern, declared here: a rule carries the
    # entity only when it runs this entity's own pattern (a custom regex under the
    # same label, or a step derived from it, gets none of these).
    #: A second round over the first one's output: the trail takes the one separator
    #: ("A B", "A,B") the next value's lead needs, and a tag, mask or pseudonym written
    #: in place of the first is never part of a value. Strict entities only: the
    #: moderate level does not pay for it.
    second_round: bool = False
    #: Before the second round, a joiner after every candidate's trail: for values
    #: holding no separator whose trail is always a character their lead accepts, so a
    #: look-alike left unchanged by the first round still takes the next value's lead
    #: ("12345678A X1234567L"). The joiner only stands for a lead that was there before
    #: the look-alike's trail took it, so it finds nothing a lookahead trail would not.
    joins_after_candidates: bool = False
    #: Cards beside digit groups are looked for again (card_groups.py).
    cards_beside_groups: bool = False
    #: Phone numbers side by side are parted (phone_bounds.py, phone_runs.py), values
    #: are read by trimming whole matches (phone_values.py), and the rule may rewrite
    #: in one pass (phone_one_pass.py).
    phone_steps: bool = False
    #: Neither the pattern nor its layouts match text without one of the separators
    #: compaction.SEPARATORS (`password=`, `scheme://user:`, a full-width colon,
    #: `<password>`, `--password x`): compaction scans the gate only on rows holding one.
    gate_assigns: bool = False
    #: Layouts of the same entity its pattern leaves or takes only in part, each a
    #: pattern of its own run before it, with the rule's action, on the values holding
    #: a match of the layout's `gate_pattern` (a byte search, on the rows the entity's
    #: gate picked: a layout's matches hold the entity's gate). A validated entity's
    #: rows narrowed by a check of its own candidates keep the values holding a
    #: layout's gate (candidate_checks.may_rewrite).
    layouts: tuple[Entity, ...] = ()
    #: For a layout: every match holds a character beyond ASCII, so its gate is looked
    #: for only in the values holding one (a length check, bytes against characters:
    #: a regex scan of every value the entity's gate picked costs ~5x more).
    gate_non_ascii: bool = False
    #: A pattern whose matches the null action also drops a value for, beside the
    #: entity's own and its layouts' (the other actions write only what those find),
    #: looked for only in the values holding `null_also_needle` (a byte search): an
    #: older, wider reading of the entity kept so null hides at least what it hid.
    null_also: str = ""
    null_also_needle: str = ""
    #: A second cheap necessary condition, scanned apart from `gate` (a row holding
    #: either is picked): a label only a layout needs (`SSN: 078051120`), whose literal
    #: prefilter an alternation with a gate of digit classes loses (the US_SSN gate with
    #: the label in it cost 0.17-0.22 CPU s per 1M text-heavy messages, against 0.105
    #: for the gate and 0.021 for the label scanned alone).
    label_gate: str = ""
    #: What is written in a match's place is quoted with this (`"`): a JSON value that is
    #: no string (a number, `true`, an object or array taken whole) becomes a JSON string
    #: (`{"db_pass": 5}` -> `{"db_pass": "[SECRET_VALUE]"}`), so the JSON stays JSON.
    written_quoted: str = ""

    def __post_init__(self) -> None:
        if any(layout.name != self.name for layout in self.layouts):
            raise ValueError(f"{self.name}: a layout is of its own entity")

    @property
    def keyword_gate(self) -> bool:
        """Secrets (the basic level) are found by keywords and token prefixes: their
        gates start with a literal, and are joined into one scan (compaction.py)."""
        return self.level == "basic"

    @property
    def python_regex(self) -> str:
        return compose(self.lead, self.value, self.trail)

    @property
    def gate(self) -> str:
        """A cheap necessary condition for a match, used to pick the rows worth the full
        pattern: a pattern every match holds (`@`), the keyword context when there is
        one (`password=`, `Bearer `, `://`), otherwise the value itself without its
        boundary context."""
        if self.gate_pattern:
            return ascii_boundaries(self.gate_pattern)
        part = self.lead if self.lead and not self.lead.startswith("^|") else self.value
        return ascii_boundaries(part)

    @property
    def regex(self) -> str:
        """The pattern for Polars. Rust's fast engines cannot decide a Unicode word
        boundary once the text holds non-ASCII characters (it falls back to a much
        slower one), and every boundary here is between ASCII characters anyway."""
        return ascii_boundaries(self.python_regex)


def ascii_boundaries(regex: str) -> str:
    """`regex` with its word boundaries read as ASCII, for Polars (see Entity.regex)."""
    return regex.replace(r"\b", r"(?-u:\b)")


def compose(lead: str, value: str, trail: str) -> str:
    return f"(?P<sl_lead>{lead})(?P<sl_value>{value})(?P<sl_trail>{trail})"


@functools.lru_cache(maxsize=1024)
def without_names(regex: str) -> str:
    """The pattern with its named groups made non-capturing, so several can be joined
    into one alternation (names may not repeat). Only a "(" that opens a group: one
    after an odd run of backslashes is a literal (`\\(?P<sl_value>` is an optional "("
    and the text "P<sl_value>"). Cached: the text pass joins a policy's few gates again
    for every batch, and a substitution over the longest of them (the JSON keys') costs
    tens of microseconds."""
    return _NAMED_GROUP.sub(r"\1(?:", regex)


#: A named group of a composed pattern, after an even run of backslashes (none, or
#: escaped backslashes).
_NAMED_GROUP: Final = re.compile(r"(?<!\\)((?:\\\\)*)\(\?P<sl_(?:lead|value|trail)>")

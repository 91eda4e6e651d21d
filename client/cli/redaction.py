"""`--redact`, `--redact-policy` and `--redact-rule` of `sluice export create`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from sluice.v1 import export_pb2

LEVELS = ("none", "basic", "moderate", "strict", "custom")
ACTIONS = ("drop", "null", "redact", "mask", "hash", "generalize", "keep")
_ARGUMENT = {"mask": "keep_last", "generalize": "granularity", "hash": "key"}

RULE_HELP = (
    "A rule, repeatable, applied in order after the level's defaults: "
    "'column=GLOB:ACTION[:ARG]' (a column or dotted field name, globs allowed) or "
    "'pattern=ENTITY|REGEX:ACTION[:ARG]' (EMAIL, PHONE, CARD, IBAN, ... or a regular "
    "expression). ACTION is drop|null|redact|mask|hash|generalize|keep; ARG is the "
    "characters left visible for mask (column=notes:mask:4), the server key name for "
    "hash (pattern=EMAIL:hash:crm), or year|month|day|WIDTH for generalize."
)

_F = TypeVar("_F", bound=Callable[..., Any])


def redaction_options(command: _F) -> _F:
    """Adds the three redaction options to a click command."""
    command = click.option(
        "--redact-rule", "redact_rules", multiple=True, metavar="RULE", help=RULE_HELP
    )(command)
    command = click.option(
        "--redact-policy",
        default="",
        metavar="NAME",
        help="Apply the server-side redaction policy NAME (its level and rules).",
    )(command)
    return click.option(
        "--redact",
        default=None,
        type=click.Choice(LEVELS),
        help="Privacy level: none (as is), basic (secrets), moderate (+ emails, phones), "
        "strict (+ names, addresses, birth dates, ids, cards, IBANs, IPs, MACs, geo), "
        "custom (only --redact-policy / --redact-rule). Default: none.",
    )(command)


def parse_rule(text: str) -> export_pb2.RedactionRule:
    """'column=notes:mask:4' -> RedactionRule(column="notes", action="mask", keep_last=4)."""
    kind, sep, rest = text.partition("=")
    if not sep or kind not in {"column", "pattern"} or not rest:
        raise click.BadParameter(f"{text!r}: expected column=...:ACTION or pattern=...:ACTION")
    # Read from the right: a pattern may itself hold ":".
    head, _, last = rest.rpartition(":")
    if last.lower() in ACTIONS:
        target, action, argument = head, last.lower(), ""
    else:
        target, _, action = head.rpartition(":")
        action, argument = action.lower(), last
    if not target or action not in ACTIONS:
        raise click.BadParameter(f"{text!r}: the action must be one of {', '.join(ACTIONS)}")
    rule = export_pb2.RedactionRule(action=action)
    setattr(rule, kind, target)
    if argument:
        option = _ARGUMENT.get(action)
        if option is None:
            raise click.BadParameter(f"{text!r}: {action} takes no argument")
        if option == "keep_last":
            if not argument.isdigit():
                raise click.BadParameter(f"{text!r}: mask takes a number of characters")
            rule.keep_last = int(argument)
        else:
            setattr(rule, option, argument)
    return rule


def build_redaction(
    level: str | None, policy: str, rules: tuple[str, ...]
) -> export_pb2.Redaction | None:
    """The request's Redaction, or None when no option was given (export as is)."""
    level = level or ""
    if not level and not policy and not rules:
        return None
    return export_pb2.Redaction(level=level, policy=policy, rules=[parse_rule(r) for r in rules])

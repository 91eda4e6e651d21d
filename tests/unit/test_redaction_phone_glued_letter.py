"""A phone number whose last group is glued to a letter (a HIGH leak on main, 1d15955):
`+44 20 7946 0958e` became `[PHONE] 0958e` — `+44 20 7946` passes alone, and the
trail for a word led by digits (entities._DIGIT_LED_WORD, "5pm") took ` 0958e`, so
the last group stayed in clear; with a letter beyond ASCII (`…0958é`) the one-pass
rewrite read the value as the fenced one did not (`[PHONE] 0958é` against
`[PHONE]é`: a flaky property test), and `555 123 4567é` stayed whole in clear. Digits
of three or more after a space and before a letter are now the number's last group
when the whole is a number (phone_values.glued_word_values); one or two are a word
led by digits ("5pm", "2nd", "18h30"), as before. A number glued to an ASCII letter
with no space before its last group (`555-123-4567e`) stays whole in clear, as on
main: read as an id (a trail of a glued ASCII letter also took hex ids,
`15554219-86f9-…` became `[PHONE]f9-…`)."""

from __future__ import annotations

import pytest

from tests.unit.test_redaction_digit_led_ends import _redacted
from tests.unit.test_redaction_phone_one_pass import _both

GLUED = [
    ("+44 20 7946 0958e", "[PHONE]e"),
    ("+44 20 7946 0958\u00e9", "[PHONE]\u00e9"),
    ("call +44 20 7946 0958e today", "call [PHONE]e today"),
    ("+44 20 7946 0958ext", "[PHONE]ext"),
    ("555 123 4567\u00e9", "[PHONE]\u00e9"),
    ("a 555 123 4567\u00e9", "a [PHONE]\u00e9"),
    ("555-1234 5678e", "[PHONE]e"),
    ("020 7946 0958z", "[PHONE]z"),
    ("+1 555 123 4567 890kg", "[PHONE]kg"),
    ("+44 20 7946 0958e +44 20 7946 0959f", "[PHONE]e [PHONE]f"),
    ("+33 1 23 45 67 890z", "[PHONE]z"),
    # An extension's digits before a letter (the one-pass rewrite read " 12é" as a
    # word led by digits, the fenced one as the extension's: found by the property test).
    ("555-123-4567 ext. 12\u00e9 ", "[PHONE]\u00e9 "),
    # A long word led by digits after a whole number: the digits would make no number.
    ("+44 20 7946 0958 12345abc", "[PHONE] 12345abc"),
    # A dotted number does not go on after a space: the word is a word.
    ("555.123.4567 1080p", "[PHONE] 1080p"),
    # A "(" before the number (the glued read ran before the "(" lead was taken off, so
    # no value of the pattern read "(+44 …": the last group stayed in clear).
    ("(+44 20 7946 0958e)", "([PHONE]e)"),
    ("x (+44 20 7946 0958e) y", "x ([PHONE]e) y"),
    ("*(+44 20 7946 0958\u00e9)", "*([PHONE]\u00e9)"),
    ("((+49 30 1234 5678e", "(([PHONE]e"),
    ("(555 123 4567 890e)", "([PHONE]e)"),
    ("(555 123 4567\u00e9)", "([PHONE]\u00e9)"),
    ("(020 7946 0958z)", "([PHONE]z)"),
    ("((555) 123 4567\u00e9)", "([PHONE]\u00e9)"),
]

#: Numbers glued to an ASCII letter with no space before their last group, or whose
#: part before it is no number, and ids stay whole (read as ids, as on main); a word of
#: digits and "_" is no number's group.
IDS = [
    "+1 555 123 4567kg",
    "(555) 123 4567e",
    "555-123-4567e",
    "555-123-4567ext",
    "(555) 123-4567e",
    "abc555123",
    "abc555-123-4567e",
    "5551234 567_",
    "Request id 15554219-86f9-13dd-c6e5-bbc11e92d0f6.",
]

#: As the digit-led-word tests pin them, and ids: a letter before the digits makes an id.
KEPT = [
    ("call me at 555-123-4567 5pm", "call me at [PHONE] 5pm"),
    ("+33 6 12 34 56 78 18h30", "[PHONE] 18h30"),
    ("555 123 4567 2x", "[PHONE] 2x"),
    ("555-123-4567 2\u00e8me", "[PHONE] 2\u00e8me"),
    ("5pm", "5pm"),
    ("1234 5678 9abc def0", "1234 5678 9abc def0"),
    ("ISBN 978-0-306-40615-7x", "ISBN 978-0-306-40615-7x"),
    ("from 2024-01-15T10:30", "from 2024-01-15T10:30"),
    ("id 12345678abc", "id 12345678abc"),
    ("snake_555-123-4567_x", "snake_555-123-4567_x"),
]


@pytest.mark.parametrize("level", ["moderate", "strict"])
@pytest.mark.parametrize(("text", "expected"), GLUED + KEPT + [(t, t) for t in IDS])
def test_a_number_glued_to_a_letter_keeps_no_digit_in_clear(
    level: str, text: str, expected: str
) -> None:
    assert _redacted(level, text) == expected


def test_one_pass_and_fenced_rewrite_read_a_glued_number_alike() -> None:
    texts: list[str | None] = [*(text for text, _ in GLUED + KEPT), *IDS]
    before, after = _both(texts)
    assert after == before


#: Known gaps (review of 6c805cf, not fixed yet): the same leak in the phone's other
#: forms. A `tel:` URI's trail (phone_other_forms.TEL_URI_PHONE: `$|[^\w]`) lets its value
#: stop at the space before the last group; a separator beyond ASCII before the glued
#: group, or a last group of digits beyond ASCII, is read by BEYOND_ASCII_PHONE, which has
#: no glued read; "_" after the last group is no letter to `glued_word_values` (ids are
#: written with it), and the part before it passes alone. Each leaves the last group in
#: clear today; the expected text is what they should give.
OTHER_FORMS_GAPS = [
    ("tel:+44 20 7946 0958e", "tel:[PHONE]e"),
    ("Tel:+44 20 7946 0958e", "Tel:[PHONE]e"),
    ("+44\u00a020\u00a07946\u00a00958e", "[PHONE]e"),
    ("+44 20 7946\u00a00958e", "[PHONE]e"),
    ("+44 20 7946\u202f0958e", "[PHONE]e"),
    ("+44 20 7946\u20130958e", "[PHONE]e"),
    ("+44 20 7946 \uff10\uff19\uff15\uff18e", "[PHONE]e"),
    ("+44 20 7946 0958_", "[PHONE]_"),
    ("+44 20 7946 0958_ext", "[PHONE]_ext"),
    # An extension written with an ASCII letter after its digits (as on 1d15955).
    ("555-123-4567 x123e", "[PHONE]e"),
    ("555-123-4567 ext 123e", "[PHONE]e"),
]


@pytest.mark.xfail(strict=True, reason="known gap: the glued read covers the plain layout only")
@pytest.mark.parametrize("level", ["moderate", "strict"])
@pytest.mark.parametrize(("text", "expected"), OTHER_FORMS_GAPS)
def test_other_forms_glued_to_a_letter_keep_no_digit_in_clear(
    level: str, text: str, expected: str
) -> None:
    assert _redacted(level, text) == expected


#: Over-redaction since 6c805cf (on 1d15955 these kept their word, as the README says
#: of a word led by digits): three digits or more of a word after a whole number are
#: read as its last group whenever the whole passes, so the word loses its digits
#: ("555-123-4567 1080p" -> "[PHONE]p"). No digit leaks; the expected text is 1d15955's.
WORDS_AFTER_A_NUMBER = [
    ("555-123-4567 1080p", "[PHONE] 1080p"),
    ("555-123-4567 256GB", "[PHONE] 256GB"),
    ("call 555-123-4567 100km away", "call [PHONE] 100km away"),
    ("555-123-4567 4000mAh", "[PHONE] 4000mAh"),
    ("555-123-4567 2024Q1", "[PHONE] 2024Q1"),
    ("555-123-4567 100mg", "[PHONE] 100mg"),
    ("555 123 4567 100th", "[PHONE] 100th"),
    ("ID 555-123-4567 202e", "ID [PHONE] 202e"),
]


@pytest.mark.xfail(strict=True, reason="known over-redaction since 6c805cf, not fixed yet")
@pytest.mark.parametrize("level", ["moderate", "strict"])
@pytest.mark.parametrize(("text", "expected"), WORDS_AFTER_A_NUMBER)
def test_a_word_led_by_digits_after_a_whole_number_keeps_its_digits(
    level: str, text: str, expected: str
) -> None:
    assert _redacted(level, text) == expected

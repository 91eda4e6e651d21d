"""A labelled corpus for measuring detection: many written forms of each entity inside
varied sentences, and look-alikes that must not be detected (dates, versions, order ids,
prices, UUIDs, card numbers failing Luhn, IBANs with a wrong checksum, ...).

Each sample is (text, entity or None, value): `value` is the sensitive substring a
redactor must remove; look-alikes carry entity None and the look-alike as value.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass

DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
IBAN_FORMATS = {  # country: (length, BBAN alphabet per position: d digit, a letter, c alnum)
    "ES": "dddddddddddddddddddd", "DE": "dddddddddddddddddd", "FR": "dddddddddddddddddddddcc",
    "NL": "aaaadddddddddd", "GB": "aaaadddddddddddddd", "IT": "adddddddddddccccccccccc",
    "PT": "ddddddddddddddddddddd", "BE": "dddddddddddd", "CH": "dddddcccccccccccc",
}  # fmt: skip
CONTEXTS = (
    "{}",
    "Contact: {}.",
    "Please reach me at {} if anything changes.",
    "note from agent - customer gave {} on the phone",
    "value was ({})",
    "[{}]",
    '{{"field": "{}"}}',
    "see <{}>, thanks",
    "first line\nsecond line has {} in it\n",
    "Mixed: {}; other: none",
    "old={}, new=unknown",
)


@dataclass(frozen=True)
class Sample:
    text: str
    entity: str | None
    value: str


def luhn_check_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return str((10 - total % 10) % 10)


def _digits(rnd: random.Random, count: int) -> str:
    return "".join(rnd.choice(string.digits) for _ in range(count))


def _group(number: str, sizes: tuple[int, ...], sep: str) -> str:
    parts, start = [], 0
    for size in sizes:
        parts.append(number[start : start + size])
        start += size
    return sep.join(parts)


def card(rnd: random.Random, *, valid: bool = True) -> str:
    prefix, length, groups = rnd.choice(
        [("4", 16, (4, 4, 4, 4)), ("51", 16, (4, 4, 4, 4)), ("55", 16, (4, 4, 4, 4)),
         ("2221", 16, (4, 4, 4, 4)), ("2720", 16, (4, 4, 4, 4)), ("34", 15, (4, 6, 5)),
         ("37", 15, (4, 6, 5)), ("6011", 16, (4, 4, 4, 4)), ("65", 16, (4, 4, 4, 4)),
         ("3528", 16, (4, 4, 4, 4)), ("36", 14, (4, 6, 4)), ("4", 19, (4, 4, 4, 4, 3))]
    )  # fmt: skip
    body = prefix + _digits(rnd, length - len(prefix) - 1)
    check = luhn_check_digit(body)
    if not valid:
        check = str((int(check) + rnd.randint(1, 9)) % 10)
    number = body + check
    return rnd.choice([number, _group(number, groups, " "), _group(number, groups, "-")])


def iban(rnd: random.Random, *, valid: bool = True, grouped: bool | None = None) -> str:
    country = rnd.choice(sorted(IBAN_FORMATS))
    alphabets = {"d": string.digits, "a": string.ascii_uppercase,
                 "c": string.digits + string.ascii_uppercase}  # fmt: skip
    bban = "".join(rnd.choice(alphabets[kind]) for kind in IBAN_FORMATS[country])
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    if not valid:
        check = (check + rnd.randint(1, 96)) % 97 or 1
        check = check if check != 98 - int(numeric) % 97 else check + 1
    compact = f"{country}{check:02d}{bban}"
    if grouped is None:
        grouped = rnd.random() < 0.5
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)) if grouped else compact


def dni(rnd: random.Random, *, valid: bool = True) -> str:
    if rnd.random() < 0.6:
        number = _digits(rnd, 8)
        prefix, value = "", int(number)
    else:
        first = rnd.choice("XYZ")
        number = _digits(rnd, 7)
        prefix, value = first, int("XYZ".index(first) * 10**7 + int(number))
    letter = DNI_LETTERS[value % 23]
    if not valid:
        letter = DNI_LETTERS[(value + rnd.randint(1, 22)) % 23]
    return f"{prefix}{number}{rnd.choice(['', '-'])}{letter}"


def ssn(rnd: random.Random, *, valid: bool = True) -> str:
    if valid:
        area = rnd.choice([n for n in range(1, 900) if n != 666])
        group, serial = rnd.randint(1, 99), rnd.randint(1, 9999)
    else:
        area = rnd.choice([0, 666, rnd.randint(900, 999)])
        group, serial = rnd.randint(0, 99), rnd.randint(0, 9999)
    sep = rnd.choice(["-", " "])
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


def nino(rnd: random.Random) -> str:
    first = "ABCEGHJKLMNOPRSTWXYZ"
    second = "ABCEGHJKLMNPRSTWXYZ"
    while True:
        prefix = rnd.choice(first) + rnd.choice(second)
        if prefix not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}:
            break
    digits = _digits(rnd, 6)
    suffix = rnd.choice("ABCD")
    if rnd.random() < 0.5:
        return f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{prefix}{digits}{suffix}"


DOMAINS = ("gmail.com", "example.co.uk", "mail.example.net", "acme-corp.io", "uni.edu",
           "correo.es", "sub.domain.example.museum", "EXAMPLE.COM")  # fmt: skip


def email(rnd: random.Random) -> str:
    first = rnd.choice(["ana", "john", "maría.jose", "li", "o'neil", "j", "Zoe", "x_y"])
    first = first.replace("í", "i").replace("'", "")
    local = rnd.choice([
        first, f"{first}.smith", f"{first}+news", f"{first}{rnd.randint(1, 99)}",
        f"{first}-{rnd.choice(['dev', 'ops'])}", f"{first}_{rnd.randint(1965, 2009)}",
        first.upper(),
    ])  # fmt: skip
    domain = rnd.choice(DOMAINS)
    return f"{local}@{domain}"


def phone(rnd: random.Random) -> str:
    template = rnd.choice([
        "(###) 555-01##", "+1 ###-555-01##", "+1-###-555-01## ext. ##", "###.555.01##",
        "+1 (###) 555-01##", "(###) 555-01## x###", "020 7946 0###", "+44 20 7946 0###",
        "07700 900###", "+44 (0)20 7946 0###", "04## ### ###", "+61 4## ### ###",
        "(02) 5550 ####", "+34 6## ### ###", "6## ## ## ##", "91 ### ## ##",
        "+52 55 #### ####", "+55 11 9####-####", "(11) 9####-####", "+49 30 ########",
        "030 ########", "+49 151 ########", "+33 6 ## ## ## ##", "06 ## ## ## ##",
        "+91 9#### #####", "09#### #####", "+91-80-####-####", "+81 90-####-####",
        "090-####-####", "03-####-####", "+4915########", "+1.###.555.01##",
    ])  # fmt: skip
    return "".join(rnd.choice(string.digits) if c == "#" else c for c in template)


def ipv4(rnd: random.Random) -> str:
    return ".".join(str(rnd.randint(0, 255)) for _ in range(3)) + f".{rnd.randint(1, 254)}"


def ipv6(rnd: random.Random) -> str:
    groups = [f"{rnd.randint(0, 0xFFFF):x}" for _ in range(8)]
    style = rnd.random()
    if style < 0.4:
        return ":".join(groups)
    if style < 0.8:
        cut = rnd.randint(1, 5)
        return ":".join(groups[:cut]) + "::" + ":".join(groups[cut + 2 :])
    return "fe80::" + ":".join(groups[4:])


def mac(rnd: random.Random) -> str:
    octets = [f"{rnd.randint(0, 255):02X}" for _ in range(6)]
    style = rnd.random()
    if style < 0.45:
        return ":".join(octets)
    if style < 0.9:
        return "-".join(octets).lower()
    joined = "".join(octets).lower()
    return ".".join(joined[i : i + 4] for i in range(0, 12, 4))


def geo(rnd: random.Random) -> str:
    lat = rnd.uniform(-89, 89)
    lon = rnd.uniform(-179, 179)
    places = rnd.randint(4, 7)
    return (
        f"{lat:.{places}f}, {lon:.{places}f}"
        if rnd.random() < 0.5
        else f"{lat:.{places}f},{lon:.{places}f}"
    )


def _token(
    rnd: random.Random, count: int, alphabet: str = string.ascii_letters + string.digits
) -> str:
    return "".join(rnd.choice(alphabet) for _ in range(count))


SECRET_FORMS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    # entity: rnd -> (text holding the secret, the secret itself)
    "AWS_ACCESS_KEY": lambda r: (
        (v := "AKIA" + _token(r, 16, string.ascii_uppercase + string.digits)),
        v,
    ),
    "AWS_SECRET_KEY": lambda r: (f"aws_secret_access_key = {(v := _token(r, 40))}", v),
    "GITHUB_TOKEN": lambda r: ((v := r.choice(["ghp_", "gho_", "ghs_"]) + _token(r, 36)), v),
    "SLACK_TOKEN": lambda r: ((v := f"xoxb-{_digits(r, 11)}-{_token(r, 24)}"), v),
    "STRIPE_KEY": lambda r: ((v := f"sk_{r.choice(['live', 'test'])}_{_token(r, 24)}"), v),
    "GOOGLE_API_KEY": lambda r: (
        (v := "AIza" + _token(r, 35, string.ascii_letters + string.digits + "_-")),
        v,
    ),
    "BEARER_TOKEN": lambda r: (f"Authorization: Bearer {(v := _token(r, 32))}", v),
    "JWT": lambda r: ((v := f"eyJ{_token(r, 20)}.eyJ{_token(r, 40)}.{_token(r, 43)}"), v),
    "PRIVATE_KEY": lambda r: (
        v := f"-----BEGIN RSA PRIVATE KEY-----\n{_token(r, 64)}\n{_token(r, 40)}\n"
        "-----END RSA PRIVATE KEY-----",
        v,
    ),
    "URL_PASSWORD": lambda r: (
        f"{r.choice(['postgres', 'mysql', 'redis', 'https', 'mongodb+srv'])}://admin:"
        f"{(v := _token(r, 14))}@db.internal:5432/app",
        v,
    ),
    "SECRET_VALUE": lambda r: (
        r.choice(["password", "passwd", "secret", "api_key", "token", "PASSWORD"])
        + r.choice(["=", ": ", " = ", '": "'])
        + (v := _token(r, 12) + r.choice("!#%*?")),
        v,
    ),
}

ENTITY_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "EMAIL": email, "PHONE": phone, "CARD": card, "IBAN": iban, "US_SSN": ssn, "ES_DNI": dni,
    "UK_NINO": nino, "IPV4": ipv4, "IPV6": ipv6, "MAC_ADDRESS": mac, "GEO_COORDINATES": geo,
}  # fmt: skip


def _date(rnd: random.Random) -> str:
    y, m, d = rnd.randint(1990, 2030), rnd.randint(1, 12), rnd.randint(1, 28)
    h, mi, s = rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59)
    return rnd.choice([
        f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{m:02d}-{d:02d}-{y}",
        f"{d:02d}.{m:02d}.{y}", f"{y}-{m:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}",
        f"{y}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}Z", f"{y}/{m:02d}/{d:02d}",
        f"{y}{m:02d}{d:02d}", f"{h:02d}:{mi:02d}:{s:02d}", f"{d} {rnd.choice(['Jan', 'Feb'])} {y}",
    ])  # fmt: skip


def _version(rnd: random.Random) -> str:
    a, b, c = rnd.randint(0, 30), rnd.randint(0, 40), rnd.randint(0, 300)
    return rnd.choice([
        f"{a}.{b}.{c}", f"v{a}.{b}.{c}", f"{a}.{b}", f"10.0.{rnd.randint(10000, 22631)}.{c}",
        f"{a}.{b}.{c}-beta.{rnd.randint(1, 9)}", f"{a}.{b}.{c}.{rnd.randint(1000, 99999)}",
        f"Android {a}.{b}", f"build {a}.{b}.{c}+{rnd.randint(100, 9999)}",
    ])  # fmt: skip


def _order_id(rnd: random.Random) -> str:
    return rnd.choice([
        f"ORD-{rnd.randint(2019, 2026)}-{_digits(rnd, 6)}", f"#{_digits(rnd, 8)}",
        f"order {_digits(rnd, 7)}", f"INV-{_digits(rnd, 6)}", f"PO{_digits(rnd, 10)}",
        f"ticket {_digits(rnd, 9)}", f"SKU-{_digits(rnd, 4)}-{_digits(rnd, 4)}",
        f"1Z{_token(rnd, 6, string.ascii_uppercase + string.digits)}{_digits(rnd, 10)}",
        f"tracking {_digits(rnd, 22)}", f"ref {_digits(rnd, 12)}",
    ])  # fmt: skip


def _price(rnd: random.Random) -> str:
    whole, cents = rnd.randint(1, 9_999_999), rnd.randint(0, 99)
    us = f"{whole:,}.{cents:02d}"
    eu = us.replace(",", " ").replace(".", ",").replace(" ", ".")
    return rnd.choice([f"${us}", f"€{eu}", f"{eu} €", f"USD {us}", f"{whole}.{cents:02d}",
                       f"£{us}", f"{rnd.randint(1, 99)}%", f"{eu} EUR"])  # fmt: skip


def _misc(rnd: random.Random) -> str:
    return rnd.choice([
        str(uuid.UUID(int=rnd.getrandbits(128))), f"{rnd.getrandbits(160):040x}",
        f"{rnd.randint(1, 16)}:{rnd.randint(1, 16)}", f"room {rnd.randint(1, 999)}",
        f"{rnd.uniform(-90, 90):.1f}, {rnd.uniform(-180, 180):.1f}", f"qty {rnd.randint(1, 500)}",
        f"{rnd.randint(1950, 2030)}", "user@localhost", "@handle", "pkg@1.2.3",
        f"{rnd.randint(1, 999)}.{rnd.randint(1, 999)}", "std::vector<int>", "a::b::c",
        f"{_digits(rnd, 3)} {_digits(rnd, 3)}", "password reset requested", "secret santa",
    ])  # fmt: skip


def _text_heavy(rnd: random.Random) -> str:
    """Look-alikes of the text-heavy benchmark dataset (benchmarks.text_heavy_data): log
    metadata, and lists of numbers joined without a space."""
    year = rnd.randint(2019, 2026)
    return rnd.choice([
        f"https://shop.example.com/p/{rnd.randint(1, 99_999)}",
        f"{rnd.choice(['ios', 'android', 'web'])}/{_version(rnd).split()[-1]}",
        f"{rnd.choice(['eu-west', 'us-east', 'ap-south'])}-{rnd.randint(1, 3)}",
        f"ORD-{year}-{_digits(rnd, 6)},ORD-{year}-{_digits(rnd, 6)}",
        f"#{_digits(rnd, 8)},#{_digits(rnd, 8)};#{_digits(rnd, 8)}",
        f"{card(rnd, valid=False)} {_digits(rnd, rnd.choice([2, 3, 4]))}",
        f"{card(rnd, valid=False)},{card(rnd, valid=False)}",
        f"{dni(rnd, valid=False)},{dni(rnd, valid=False)}",
        f"{_digits(rnd, 22)},{_digits(rnd, 22)}",
        f"SKU-{_digits(rnd, 4)}-{_digits(rnd, 4)}|SKU-{_digits(rnd, 4)}-{_digits(rnd, 4)}",
        f"{year}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d},{_price(rnd)}",
        f"x-request-id={uuid.UUID(int=rnd.getrandbits(128))}",
    ])  # fmt: skip


LOOKALIKES: dict[str, Callable[[random.Random], str]] = {
    "date": _date, "version": _version, "order_id": _order_id, "price": _price, "misc": _misc,
    "luhn_failing_card": lambda r: card(r, valid=False),
    "bad_iban": lambda r: iban(r, valid=False),
    "bad_dni": lambda r: dni(r, valid=False),
    "bad_ssn": lambda r: ssn(r, valid=False),
    "text_heavy": _text_heavy,
}  # fmt: skip


def generate(per_kind: int = 200, seed: int = 11) -> list[Sample]:
    rnd = random.Random(seed)
    samples: list[Sample] = []
    for entity, maker in ENTITY_MAKERS.items():
        for _ in range(per_kind):
            value = maker(rnd)
            samples.append(Sample(rnd.choice(CONTEXTS).format(value), entity, value))
    for entity, secret in SECRET_FORMS.items():
        for _ in range(per_kind):
            text, value = secret(rnd)
            samples.append(Sample(rnd.choice(CONTEXTS[:6]).format(text), entity, value))
    for kind, lookalike in LOOKALIKES.items():
        for _ in range(per_kind):
            value = lookalike(rnd)
            samples.append(Sample(rnd.choice(CONTEXTS).format(value), None, f"{kind}:{value}"))
    return samples

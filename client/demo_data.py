"""A realistic users/events dataset for demos, tests and benchmarks.

    python -m sluice.client.demo_data --rows 1000000 --out /tmp/events.parquet

Random values come from a counter-based generator (splitmix64 of seed, stream and row
number), evaluated column-wise with Arrow kernels: any column of any row range can be
drawn independently, so the file is written in batches (bounded memory for huge row
counts) and is identical for a seed whatever the batch size. Text columns sample indices
into small pools instead of building strings row by row.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import random
import re
import string
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FORMATS: Final = ("parquet", "csv", "ndjson")
BATCH_ROWS: Final = 262_144

# (ISO code, weight, currency, name group, cities, local mail domains, phone templates).
# "#" in a template is a random digit. UK and US numbers use the ranges reserved for
# fiction (020 7946 0xxx, 07700 900xxx, 555-01xx), so no real line is ever printed.
_COUNTRIES: Final = (
    ("US", 30, "USD", 0, ("New York", "San Francisco", "Austin", "Chicago", "Seattle",
     "Boston", "Denver"), ("aol.com", "comcast.net"),
     ("(###) 555-01##", "+1 ###-555-01##", "+1-###-555-01## ext. ##", "###.555.01##")),
    ("GB", 10, "GBP", 0, ("London", "Manchester", "Edinburgh", "Bristol", "Leeds"),
     ("btinternet.com", "yahoo.co.uk"),
     ("020 7946 0###", "+44 20 7946 0###", "07700 900###", "+44 7700 900###")),
    ("CA", 5, "CAD", 0, ("Toronto", "Montréal", "Vancouver", "Calgary"), ("rogers.com",),
     ("(###) 555-01##", "+1 ###-555-01##")),
    ("AU", 4, "AUD", 0, ("Sydney", "Melbourne", "Brisbane", "Perth"), ("bigpond.com",),
     ("04## ### ###", "+61 4## ### ###", "(02) 5550 ####")),
    ("ES", 8, "EUR", 1, ("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao"),
     ("hotmail.es", "telefonica.net"), ("+34 6## ### ###", "6## ## ## ##", "91 ### ## ##")),
    ("MX", 6, "MXN", 1, ("Ciudad de México", "Guadalajara", "Monterrey", "Puebla"),
     ("prodigy.net.mx",), ("+52 55 #### ####", "55 #### ####")),
    ("BR", 8, "BRL", 2, ("São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba"),
     ("uol.com.br", "bol.com.br"), ("+55 11 9####-####", "(11) 9####-####", "(21) 9####-####")),
    ("DE", 8, "EUR", 3, ("Berlin", "München", "Hamburg", "Köln", "Frankfurt am Main"),
     ("web.de", "gmx.de"), ("+49 30 ########", "030 ########", "+49 151 ########")),
    ("FR", 7, "EUR", 4, ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes"),
     ("orange.fr", "free.fr"), ("+33 6 ## ## ## ##", "06 ## ## ## ##", "01 ## ## ## ##")),
    ("IN", 8, "INR", 5, ("Bengaluru", "Mumbai", "Delhi", "Hyderabad", "Pune", "Chennai"),
     ("rediffmail.com",), ("+91 9#### #####", "09#### #####", "+91-80-####-####")),
    ("JP", 6, "JPY", 6, ("Tokyo", "Osaka", "Yokohama", "Nagoya", "Sapporo"),
     ("yahoo.co.jp", "docomo.ne.jp"), ("+81 90-####-####", "090-####-####", "03-####-####")),
)  # fmt: skip

# Name groups, indexed by the country table's name group.
_FIRST_NAMES: Final = (
    "James Olivia Liam Emma Noah Ava Sophia Jackson Mia Ethan Harper Chloe Oliver Siobhan Zoë",
    "Ana José María Carlos Lucía Javier Sofía Diego Valentina Alejandro Carmen Pablo Íñigo",
    "João Maria Pedro Ana Lucas Beatriz Gabriel Juliana Rafael Camila Matheus Letícia",
    "Lukas Anna Leon Lena Jonas Marie Felix Sophie Maximilian Hannah Jürgen Jörg",
    "Camille Louis Léa Hugo Chloé Jules Manon Gabriel Inès Arthur Zoé Théo",
    "Aarav Priya Vivaan Ananya Aditya Diya Arjun Isha Rohan Kavya Sai Neha",
    "Haruto Yui Sota Hina Ren Aoi Yuto Sakura Riku Mei Takumi Yuna",
)
_LAST_NAMES: Final = (
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Taylor O'Brien Murphy Nguyen"
    " Smith-Jones Anderson",
    "García Martínez López Sánchez Pérez González Rodríguez Fernández Gómez Díaz Muñoz Ruiz",
    "Silva Santos Oliveira Souza Pereira Costa Rodrigues Almeida Ferreira Gonçalves Araújo",
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schäfer Koch Groß Hoffmann",
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Lefèvre Girard",
    "Sharma Verma Gupta Patel Reddy Iyer Nair Singh Kumar Das Mehta Joshi",
    "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yamada",
)
_MAIL_DOMAINS: Final = (
    ("gmail.com", 30), ("outlook.com", 12), ("yahoo.com", 9), ("icloud.com", 7),
    ("example.com", 12), ("example.org", 6), ("mail.example.net", 4), ("proton.me", 4),
    ("acme-corp.io", 3), ("hotmail.com", 8),
)  # fmt: skip
# Email local parts as (head, separator, tail, weight): "ana.garcia", "a.garcia", "ana".
_LOCAL_STYLES: Final = (
    ("first", ".", "last", 40), ("first", "", "last", 15), ("initial", ".", "last", 12),
    ("first", "_", "last", 10), ("last", ".", "first", 8), ("first", "", "", 8),
    ("initial", "", "last", 7),
)  # fmt: skip
_STATUSES: Final = (("ok", 85), ("pending", 8), ("refunded", 4), ("failed", 3))
_DEVICES: Final = (
    ("Android", 40, ("12", "13", "14", "15")),
    ("iOS", 30, ("16.7.10", "17.4", "17.6.1", "18.1")),
    ("Windows", 15, ("10", "11")),
    ("macOS", 8, ("13.6", "14.5", "15.1")),
    ("Linux", 4, ("6.1", "6.8")),
    ("ChromeOS", 3, ("124", "128")),
)
_TAGS: Final = ("beta", "dark_mode", "push_enabled", "tablet", "vpn", "rooted", "low_power")
# Free text: 40-72 characters each, so three of them plus a contact and a secret stay
# within 400 characters.
_SENTENCES: Final = (
    "Order arrived two days late but the packaging was intact.",
    "Customer asked for a refund because the size did not fit.",
    "Payment retried after the bank declined the first attempt.",
    "Loyal customer, third order this month, no complaints so far.",
    "Requested an invoice with the company VAT number on it.",
    "Delivery address changed after the order had already shipped.",
    "The discount code was applied twice; finance should check it.",
    "Item out of stock at checkout, customer chose to wait for it.",
    "Chat transcript attached; the agent resolved it in one reply.",
    "Subscription renewed automatically at the start of the month.",
    "Courier could not find the building and returned the parcel.",
    "Gift wrapping requested, with a handwritten card for a birthday.",
    "Customer reports the app logs them out every few minutes.",
    "Duplicate charge spotted by the customer, reversal in progress.",
    "Wants to switch from monthly to yearly billing next cycle.",
    "Return label emailed; customer will drop it off this week.",
    "Fraud check passed after a manual review of the billing address.",
    "Asked whether we ship to the Canary Islands; we do not, yet.",
    "Product page showed the wrong colour, customer was not happy.",
    "Two-factor setup failed on an older phone, reset the device.",
    "Bulk order for an office; needs delivery before Friday noon.",
    "Left a five-star review and asked about the referral program.",
    "Tracking number did not update for six days after dispatch.",
    "Card expired; the customer updated it from the account page.",
    "Kept the item but asked for partial compensation for a scratch.",
    "Warranty claim opened, photos of the damaged hinge received.",
    "No answer on the phone, left a voicemail about the backorder.",
    "Customer prefers to be contacted in Spanish when possible.",
    "Pre-order confirmed; release date moved by one week by vendor.",
    "Account merged with an older one created under another email.",
)
_CONTACTS: Final = (
    ("Please reach me at ", " if anything changes."),
    ("Contact: ", "."),
    ("Customer asked to be called back on ", " tomorrow."),
    ("Alternative contact ", " (evenings only)."),
    ("Send the corrected invoice to ", " please."),
)
_SECRET_FORMS: Final = (
    "debug dump: api_key=sk_live_{24}",
    "login retried with password={pw}",
    "header was Authorization: Bearer {32}",
    "aws_secret_access_key={40} found in the ticket",
    "pasted config: token=ghp_{36}",
)

_START: Final = datetime(2024, 1, 1, 6, tzinfo=UTC)
_END: Final = datetime(2026, 12, 31, 18, tzinfo=UTC)
_JITTER_US: Final = 6 * 3600 * 1_000_000
_MONTH_US: Final = 30 * 24 * 3600 * 1_000_000


def generate(path: Path, rows: int, *, seed: int = 7, format: str = "parquet") -> Path:
    """Write `rows` events to `path` (parent folders are created) and return the path."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if rows < 0:
        raise ValueError("rows must not be negative")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    draws = _Draws(seed)
    pools = _Pools(seed)
    users = _users(draws, max(1, rows // 8))
    batches = (
        _events(draws, pools, users, start, min(start + BATCH_ROWS, rows), rows)
        for start in range(0, max(rows, 1), BATCH_ROWS)
    )
    if format == "parquet":
        writer: pq.ParquetWriter | None = None
        try:
            for batch in batches:
                table = batch.to_arrow()
                writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        return path
    with path.open("wb") as out:
        for number, batch in enumerate(batches):
            if format == "csv":
                # CSV has no nesting: the struct travels as one JSON text cell.
                flat = batch.with_columns(pl.col("device").struct.json_encode())
                flat.write_csv(out, include_header=number == 0)
            else:
                batch.write_ndjson(out)
    return path


class _Draws:
    """Stateless random numbers: value(stream, key) = splitmix64 step `key` of a sequence
    whose start is derived from (seed, stream)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed & _MASK

    def bits(self, stream: int, keys: pl.Series) -> pl.Series:
        start = pa.array([(self._seed * 0x100000001B3 + stream) & _MASK], pa.uint64())
        position = pc.multiply(keys.cast(pl.UInt64).to_arrow(), _u64(_GOLDEN))
        return pl.Series(_mix(pc.add(position, _mix(start)[0])))

    def below(self, stream: int, keys: pl.Series, bound: int | pl.Series) -> pl.Series:
        """Integers in [0, bound); the modulo bias is below 1e-15 for pool-sized bounds."""
        if isinstance(bound, pl.Series):
            bound = bound.cast(pl.UInt64)
        return (self.bits(stream, keys) % bound).cast(pl.Int64)

    def uniform(self, stream: int, keys: pl.Series) -> pl.Series:
        """Floats in [0, 1) from the top 53 bits."""
        return (self.bits(stream, keys) // 2048).cast(pl.Float64) * 2.0**-53

    def weighted(self, stream: int, keys: pl.Series, weights: Sequence[int]) -> pl.Series:
        """Indices into `weights`, drawn in proportion to them."""
        expanded = pl.Series([i for i, w in enumerate(weights) for _ in range(w)])
        return expanded.gather(self.below(stream, keys, len(expanded)))

    def nested(
        self, stream: int, keys: pl.Series, group: pl.Series, groups: Sequence[Sequence[object]]
    ) -> pl.Series:
        """A uniform pick inside each row's group, as an index into the flattened groups."""
        sizes = pl.Series([len(g) for g in groups], dtype=pl.Int64)
        offsets = sizes.cum_sum() - sizes
        within = self.below(stream, keys, sizes.gather(group))
        return offsets.gather(group) + within


_MASK: Final = (1 << 64) - 1
_GOLDEN: Final = 0x9E3779B97F4A7C15


def _mix(x: pa.Array) -> pa.Array:
    """splitmix64's finaliser. Arrow's add and multiply wrap on overflow, as it needs."""
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        x = pc.multiply(pc.bit_wise_xor(x, pc.shift_right(x, _u64(shift))), _u64(factor))
    return pc.bit_wise_xor(x, pc.shift_right(x, _u64(31)))


def _u64(value: int) -> pa.Scalar:
    return pa.scalar(value, pa.uint64())


_UNDECOMPOSABLE: Final = str.maketrans({"ß": "ss", "ł": "l", "ø": "o", "æ": "ae", "'": None})


def _ascii(name: str) -> str:
    """How a name is usually spelled in an email address."""
    name = name.translate(_UNDECOMPOSABLE)
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return plain.replace(" ", "")


def _flat(groups: Sequence[Sequence[str]]) -> pl.Series:
    return pl.Series([value for group in groups for value in group], dtype=pl.String)


class _Pools:
    """Values too irregular to assemble column-wise, made once per seed: a few thousand
    secrets and IPv6 addresses to sample from."""

    def __init__(self, seed: int) -> None:
        rnd = random.Random(seed)  # noqa: S311 -- fake secrets must be reproducible, not secret
        alphabet = string.ascii_letters + string.digits
        secrets: list[str] = []
        for n in range(2048):
            form = _SECRET_FORMS[n % len(_SECRET_FORMS)]
            word = rnd.choice(("Summer", "hunter", "Dragon", "Welcome", "letmein", "Passw0rd"))
            pw = f"{word}{rnd.randrange(100)}{rnd.choice('!#$%&*?')}"
            secrets.append(
                re.sub(
                    r"\{(\d+)\}", lambda m: "".join(rnd.choices(alphabet, k=int(m[1]))), form
                ).replace("{pw}", pw)
            )
        self.secrets = pl.Series(secrets)
        prefixes = (0x20010DB8, 0x26001F18, 0x2A020C7C, 0x24050200, 0x2804014C)
        v6: list[str] = []
        for _ in range(2048):
            # Zero groups are common in real addresses and make "::" compression appear.
            tail = [0 if rnd.random() < 0.3 else rnd.randrange(1 << 16) for _ in range(6)]
            value = rnd.choice(prefixes)
            for group in tail:
                value = (value << 16) | group
            v6.append(str(ipaddress.IPv6Address(value)))
        self.ipv6 = pl.Series(v6)


def _users(draws: _Draws, count: int) -> pl.DataFrame:
    """One row per user: identity, contact details and device, shared by their events."""
    keys = pl.int_range(0, count, dtype=pl.UInt64, eager=True)
    country = draws.weighted(1, keys, [c[1] for c in _COUNTRIES])
    home_group = pl.Series([c[3] for c in _COUNTRIES]).gather(country)
    # Most people carry a name from their country's tradition; some do not.
    group = (
        pl.select(
            pl.when(draws.uniform(2, keys) < 0.85)
            .then(home_group)
            .otherwise(draws.below(3, keys, len(_FIRST_NAMES)))
        )
        .to_series()
        .cast(pl.Int64)
    )
    firsts = [g.split() for g in _FIRST_NAMES]
    lasts = [g.split() for g in _LAST_NAMES]
    first_idx = draws.nested(4, keys, group, firsts)
    last_idx = draws.nested(5, keys, group, lasts)
    device_os = draws.weighted(20, keys, [d[1] for d in _DEVICES])
    style = draws.weighted(8, keys, [w for *_, w in _LOCAL_STYLES])
    tag_sets = [[list(c) for c in combinations(_TAGS, k)] for k in range(4)]
    tag_set = draws.nested(22, keys, draws.weighted(23, keys, [40, 35, 18, 7]), tag_sets)
    frame = pl.DataFrame(
        {
            "user_id": (keys.cast(pl.Int64) * 7 + 100_003 + draws.below(6, keys, 7)),
            "first_name": _flat(firsts).gather(first_idx),
            "last_name": _flat(lasts).gather(last_idx),
            "f": _flat([[_ascii(n) for n in g] for g in firsts]).gather(first_idx),
            "l": _flat([[_ascii(n) for n in g] for g in lasts]).gather(last_idx),
            "country": pl.Series([c[0] for c in _COUNTRIES]).gather(country),
            "home_currency": pl.Series([c[2] for c in _COUNTRIES]).gather(country),
            "city": _flat([c[4] for c in _COUNTRIES]).gather(
                draws.nested(7, keys, country, [c[4] for c in _COUNTRIES])
            ),
            **{
                column: pl.Series([s[n] for s in _LOCAL_STYLES]).gather(style)
                for n, column in enumerate(("head", "separator", "tail"))
            },
            "number": draws.below(9, keys, 100),
            "number_kind": draws.weighted(10, keys, [50, 30, 20]),
            "local_domain": _flat([c[5] for c in _COUNTRIES]).gather(
                draws.nested(11, keys, country, [c[5] for c in _COUNTRIES])
            ),
            "global_domain": pl.Series([d for d, _ in _MAIL_DOMAINS]).gather(
                draws.weighted(12, keys, [w for _, w in _MAIL_DOMAINS])
            ),
            "domain_u": draws.uniform(13, keys),
            "case_u": draws.uniform(14, keys),
            "template": draws.nested(15, keys, country, [c[6] for c in _COUNTRIES]),
            "digits": draws.bits(16, keys),
            "os": pl.Series([d[0] for d in _DEVICES]).gather(device_os),
            "version": _flat([d[2] for d in _DEVICES]).gather(
                draws.nested(21, keys, device_os, [d[2] for d in _DEVICES])
            ),
            "tags": pl.Series([t for group in tag_sets for t in group]).gather(tag_set),
        }
    )
    f, last = pl.col("f").str.to_lowercase(), pl.col("l").str.to_lowercase()
    head, tail = pl.col("head"), pl.col("tail")
    local = pl.concat_str(
        pl.when(head == "first").then(f).when(head == "last").then(last).otherwise(f.str.head(1)),
        pl.col("separator"),
        pl.when(tail == "last").then(last).when(tail == "first").then(f).otherwise(pl.lit("")),
    )
    local = pl.when(pl.col("case_u") < 0.05).then(local.str.to_titlecase()).otherwise(local)
    number = (
        pl.when(pl.col("number_kind") == 1)
        .then(pl.col("number").cast(pl.String))
        .when(pl.col("number_kind") == 2)
        .then((pl.col("number") % 45 + 1965).cast(pl.String))
        .otherwise(pl.lit(""))
    )
    domain = (
        pl.when(pl.col("domain_u") < 0.3)
        .then(pl.col("local_domain"))
        .otherwise(pl.col("global_domain"))
    )
    email = pl.concat_str([local, number, pl.lit("@"), domain])
    email = pl.when(pl.col("case_u") > 0.99).then(email.str.to_uppercase()).otherwise(email)
    frame = frame.with_columns(email=email, device=pl.struct("os", "version", "tags"))
    frame = frame.with_columns(phone=_phones(frame))
    return frame.select(
        "user_id", "first_name", "last_name", "email", "phone", "country", "city",
        "home_currency", "device",
    )  # fmt: skip


def _phones(users: pl.DataFrame) -> pl.Series:
    """Fill each user's phone template with their digits, one template at a time (a few
    dozen vectorised passes rather than one string format per user)."""
    templates = [t for c in _COUNTRIES for t in c[6]]
    digits = pl.col("digits").cast(pl.String).str.zfill(20)
    parts = users.select(pl.int_range(pl.len()).alias("row"), "template", "digits")
    filled: list[pl.DataFrame] = []
    for (number,), rows in parts.partition_by("template", as_dict=True).items():
        pieces: list[pl.Expr] = []
        used = 0
        for run in re.findall(r"#+|[^#]+", templates[int(number)]):
            if run.startswith("#"):
                # Low digits of a uniform 64-bit value are uniform; read from the end.
                pieces.append(digits.str.slice(20 - used - len(run), len(run)))
                used += len(run)
            else:
                pieces.append(pl.lit(run))
        filled.append(rows.select("row", pl.concat_str(pieces).alias("phone")))
    return pl.concat(filled).sort("row").get_column("phone")


def _events(
    draws: _Draws, pools: _Pools, users: pl.DataFrame, start: int, stop: int, rows: int
) -> pl.DataFrame:
    """Rows [start, stop) of the `rows`-row dataset."""
    keys = pl.int_range(start, stop, dtype=pl.UInt64, eager=True)
    who = users[draws.below(100, keys, users.height)]
    span_us = (_END - _START).total_seconds() * 1_000_000
    # Time advances with the row number, plus jitter: ascending-ish, like a real log.
    created_us = (
        int(_START.timestamp() * 1_000_000)
        + (keys.cast(pl.Float64) * (span_us / max(rows, 1))).cast(pl.Int64)
        + ((draws.uniform(101, keys) * 2 - 1) * _JITTER_US).cast(pl.Int64)
    )
    edit_u = draws.uniform(102, keys)
    # Most events are never edited; the rest within a month, mostly soon after.
    edited_after = pl.select(
        pl.when(edit_u < 0.55).then(0).otherwise((edit_u**3 * _MONTH_US).cast(pl.Int64))
    ).to_series()
    sentences = pl.Series(_SENTENCES)
    base_count = draws.weighted(110, keys, [45, 35, 20])
    prefixes = pl.Series([p for p, _ in _CONTACTS])
    suffixes = pl.Series([s for _, s in _CONTACTS])
    contact_form = draws.below(115, keys, len(_CONTACTS))
    mention = pl.concat_str(
        [
            prefixes.gather(contact_form),
            pl.when(draws.uniform(116, keys) < 0.55).then(who["email"]).otherwise(who["phone"]),
            suffixes.gather(contact_form),
        ]
    )
    message = pl.concat_str(
        [
            sentences.gather(draws.below(111, keys, len(sentences))),
            pl.when(draws.uniform(114, keys) < 0.10).then(mention),
            pl.when(base_count >= 1).then(sentences.gather(draws.below(112, keys, len(sentences)))),
            pl.when(draws.uniform(117, keys) < 0.02).then(
                pools.secrets.gather(draws.below(118, keys, len(pools.secrets)))
            ),
            pl.when(base_count >= 2).then(sentences.gather(draws.below(113, keys, len(sentences)))),
        ],
        separator=" ",
        ignore_nulls=True,
    )
    octets = draws.bits(120, keys)
    ipv4 = pl.concat_str(
        [(octets % 223 + 1).cast(pl.String)]
        + [((octets // 256**k) % 256).cast(pl.String) for k in (1, 2, 3)],
        separator=".",
    )
    ip = (
        pl.when(draws.uniform(121, keys) < 0.9)
        .then(ipv4)
        .otherwise(pools.ipv6.gather(draws.below(122, keys, len(pools.ipv6))))
    )
    currency = pl.Series(["USD", "EUR", "GBP"]).gather(draws.below(131, keys, 3))
    amount = (draws.uniform(130, keys) * math.log(5000)).exp().round(2)
    utc = pl.Datetime("us", "UTC")
    return pl.select(
        id=keys.cast(pl.Int64),
        user_id=who["user_id"],
        first_name=who["first_name"],
        last_name=who["last_name"],
        email=who["email"],
        phone=who["phone"],
        country=who["country"],
        city=who["city"],
        created_at=pl.lit(created_us).cast(utc),
        updated_at=pl.lit(created_us + edited_after).cast(utc),
        amount=amount,
        currency=pl.when(draws.uniform(132, keys) < 0.85)
        .then(who["home_currency"])
        .otherwise(currency),
        status=pl.Series([s for s, _ in _STATUSES]).gather(
            draws.weighted(140, keys, [w for _, w in _STATUSES])
        ),
        message=message,
        ip=ip,
        device=who["device"],
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sluice.client.demo_data", description="Write a synthetic events dataset."
    )
    parser.add_argument("--rows", type=int, required=True, help="number of rows to write")
    parser.add_argument("--out", type=Path, required=True, help="file to write")
    parser.add_argument("--format", choices=FORMATS, default="parquet", help="file format")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same bytes")
    args = parser.parse_args(argv)
    path = generate(args.out, args.rows, seed=args.seed, format=args.format)
    print(f"{path} {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()

"""A text-heavy, nested dataset shaped like application logs: the data redaction and
nested Parquet have to hold their goals on.

    python -m benchmarks.text_heavy_data --rows 1000000 --out /tmp/text-heavy.parquet \
        [--pii-share 0.5] [--seed 7] [--format parquet|ndjson]

Per row: a free-text `message` (one to three sentences) that, in a `--pii-share` fraction
of rows, mentions a person's e-mail address, phone number, card number, national id,
IBAN or name; most other rows hold look-alikes that must survive redaction (order ids,
versions, dates, prices, UUIDs, tracking numbers). Beside it: short categorical text
columns (`level`, `service`, `region`, `locale`, `status`, `client`), an `email` column,
`list<str>` columns (`tags`; `cc`, which holds e-mail addresses), a `struct` (`request`:
path, referrer, note, and a list of headers) and nulls in most columns.

Random values come from the same counter-based generator as the demo dataset
(sluice.client.demo_data): the file is identical for a seed whatever the batch size, and
values that would need per-row Python (Luhn-valid cards, IBANs with their checksum) are
drawn from pools made once per seed.
"""

from __future__ import annotations

import argparse
import random
import string
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow.parquet as pq

from sluice.client.demo_data import _ascii, _Draws

FORMATS: Final = ("parquet", "ndjson")
BATCH_ROWS: Final = 262_144
POOL: Final = 4096

_LEVELS: Final = (("INFO", 70), ("WARN", 15), ("ERROR", 8), ("DEBUG", 7))
_SERVICES: Final = (
    "checkout", "billing", "support-chat", "accounts", "shipping", "search", "catalog",
    "notifications", "returns", "loyalty", "fraud-review", "mobile-api",
)  # fmt: skip
_REGIONS: Final = ("eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1",
                   "ap-northeast-1", "sa-east-1", "ca-central-1")  # fmt: skip
_LOCALES: Final = ("en-US", "en-GB", "es-ES", "pt-BR", "de-DE", "fr-FR", "ja-JP", "hi-IN")
_STATUSES: Final = (("ok", 80), ("pending", 9), ("escalated", 5), ("closed", 6))
_CLIENTS: Final = ("web/124.0", "web/128.1", "ios/17.6.1", "ios/18.1", "android/14",
                   "android/15", "partner-api/2", "backoffice/5.3")  # fmt: skip
_TAGS: Final = ("vip", "refund", "late", "duplicate", "fraud-check", "gift", "b2b", "mobile",
                "retry", "escalated", "first-order", "newsletter")  # fmt: skip
_FIRST: Final = ("James", "Olivia", "Liam", "Emma", "Noah", "Ana", "José", "María", "Carlos",
                 "Lucía", "João", "Beatriz", "Lukas", "Hannah", "Jürgen", "Camille", "Léa",
                 "Aarav", "Priya", "Haruto", "Yui", "Siobhan", "Zoë", "Íñigo")  # fmt: skip
_LAST: Final = ("Smith", "Johnson", "Brown", "O'Brien", "Nguyen", "García", "López", "Muñoz",
                "Silva", "Gonçalves", "Müller", "Schäfer", "Dubois", "Lefèvre", "Sharma",
                "Patel", "Sato", "Tanaka", "Smith-Jones", "Fernández")  # fmt: skip
_DOMAINS: Final = ("gmail.com", "outlook.com", "yahoo.co.uk", "example.com", "web.de",
                   "orange.fr", "uol.com.br", "acme-corp.io", "mail.example.net")  # fmt: skip
_PHONES: Final = ("(###) 555-01##", "+1 ###-555-01##", "+44 20 7946 0###", "07700 900###",
                  "+34 6## ### ###", "+49 151 ########", "+55 11 9####-####", "090-####-####",
                  "+33 6 ## ## ## ##")  # fmt: skip
_SENTENCES: Final = (
    "Customer says the parcel arrived damaged and wants a replacement.",
    "Payment was declined twice before the third attempt went through.",
    "Agent escalated the ticket to the billing team for a manual check.",
    "User cannot log in after resetting the password on the mobile app.",
    "Refund approved; the amount will show up within five working days.",
    "Address validation failed for the delivery step of checkout.",
    "Subscription paused at the customer's request until next month.",
    "Chat ended without a reply from the customer after ten minutes.",
    "Courier left the parcel with a neighbour, customer is not happy.",
    "Invoice regenerated with the corrected company name and tax id.",
    "Search returned no results for a product that is in stock.",
    "Loyalty points were not credited for the last two orders.",
    "Fraud review passed; the order was released to the warehouse.",
    "Customer wants the order split into two shipments.",
    "Push notification opened, but the deep link led to an empty page.",
    "Return window extended by a week as a goodwill gesture.",
)
# PII mentions: "{}" is the value. Names go in bare ("Spoke with {}").
PII_FORMS: Final = (
    ("email", "Please reach me at {} if anything changes."),
    ("email", "Send the corrected invoice to {} please."),
    ("email", "Customer wrote from {}, not the address on file."),
    ("phone", "Customer asked to be called back on {} tomorrow."),
    ("phone", "Alternative contact {} (evenings only)."),
    ("card", "Card used: {}, customer confirmed the last digits."),
    ("card", "Paid with {} and asked for a receipt."),
    ("iban", "Refund to IBAN {} requested."),
    ("dni", "ID document {} checked by the agent."),
    ("ssn", "SSN on the form: {}."),
    ("name", "Spoke with {} about the delay."),
    ("ip", "Login from {} looked unusual."),
)
# Look-alikes that must stay: "{}" is the value.
LOOKALIKE_FORMS: Final = (
    ("order", "Order {} is on its way."),
    ("order", "See ticket {} for the history."),
    ("version", "App version {} on the customer's device."),
    ("date", "Promised delivery date was {}."),
    ("price", "Charged {} including VAT."),
    ("uuid", "Request id {}."),
    ("tracking", "Tracking number {} did not update."),
)
_PATHS: Final = ("/api/v2/orders", "/api/v2/checkout/confirm", "/account/settings",
                 "/support/chat", "/search", "/api/v2/returns", "/cart")  # fmt: skip
_NOTES: Final = ("retry after timeout", "served from cache", "slow upstream",
                 "rate limited", "", "feature flag new-checkout on")  # fmt: skip
_HEADERS: Final = ("accept-language", "x-request-id", "user-agent", "x-forwarded-for",
                   "authorization", "cookie", "if-none-match")  # fmt: skip


def _luhn_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return str((10 - total % 10) % 10)


def _digits(rnd: random.Random, count: int) -> str:
    return "".join(rnd.choice(string.digits) for _ in range(count))


def _pool(rnd: random.Random, make: Callable[[random.Random], str]) -> pl.Series:
    return pl.Series([make(rnd) for _ in range(POOL)], dtype=pl.String)


class _Pools:
    """Values too irregular to assemble column-wise, made once per seed."""

    def __init__(self, seed: int) -> None:
        rnd = random.Random(seed)
        self.email = _pool(rnd, self._email)
        self.values = {
            "email": self.email,
            "phone": _pool(rnd, self._phone),
            "card": _pool(rnd, self._card),
            "iban": _pool(rnd, self._iban),
            "dni": _pool(rnd, self._dni),
            "ssn": _pool(rnd, lambda r: f"{r.randint(1, 665):03d}-{r.randint(1, 99):02d}-"
                                        f"{r.randint(1, 9999):04d}"),
            "name": _pool(rnd, lambda r: f"{r.choice(_FIRST)} {r.choice(_LAST)}"),
            "ip": _pool(rnd, lambda r: ".".join(str(r.randint(1, 254)) for _ in range(4))),
            "order": _pool(rnd, lambda r: r.choice([
                f"ORD-{r.randint(2019, 2026)}-{_digits(r, 6)}", f"#{_digits(r, 8)}",
                f"INV-{_digits(r, 6)}"])),
            "version": _pool(rnd, lambda r: f"{r.randint(1, 18)}.{r.randint(0, 9)}."
                                            f"{r.randint(0, 99)}"),
            "date": _pool(rnd, lambda r: f"{r.randint(2024, 2026)}-{r.randint(1, 12):02d}-"
                                         f"{r.randint(1, 28):02d}"),
            "price": _pool(rnd, lambda r: r.choice([
                f"${r.randint(1, 9999):,}.{r.randint(0, 99):02d}",
                f"{r.randint(1, 9999)},{r.randint(0, 99):02d} €"])),
            "uuid": _pool(rnd, lambda r: str(uuid.UUID(int=r.getrandbits(128)))),
            "tracking": _pool(rnd, lambda r: _digits(r, 22)),
        }  # fmt: skip

    @staticmethod
    def _email(rnd: random.Random) -> str:
        first, last = _ascii(rnd.choice(_FIRST)).lower(), _ascii(rnd.choice(_LAST)).lower()
        local = rnd.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{rnd.randint(1, 99)}"])
        return f"{local}@{rnd.choice(_DOMAINS)}"

    @staticmethod
    def _phone(rnd: random.Random) -> str:
        template = rnd.choice(_PHONES)
        return "".join(rnd.choice(string.digits) if c == "#" else c for c in template)

    @staticmethod
    def _card(rnd: random.Random) -> str:
        body = rnd.choice(("4", "51", "55", "6011")) + ""
        body += _digits(rnd, 15 - len(body))
        number = body + _luhn_digit(body)
        sep = rnd.choice(("", " ", "-"))
        return sep.join(number[i : i + 4] for i in range(0, 16, 4))

    @staticmethod
    def _iban(rnd: random.Random) -> str:
        bban = _digits(rnd, 20)
        numeric = "".join(str(int(c, 36)) for c in bban + "ES00")
        compact = f"ES{98 - int(numeric) % 97:02d}{bban}"
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))

    @staticmethod
    def _dni(rnd: random.Random) -> str:
        number = _digits(rnd, 8)
        return number + "TRWAGMYFPDXBNJZSQVHLCKE"[int(number) % 23]


def generate(
    path: Path, rows: int, *, seed: int = 7, pii_share: float = 0.5, format: str = "parquet"
) -> Path:
    """Write `rows` rows to `path` (parent folders are created) and return the path."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if rows < 0 or not 0.0 <= pii_share <= 1.0:
        raise ValueError("rows must not be negative and pii_share must be within [0, 1]")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    draws, pools = _Draws(seed), _Pools(seed)
    batches = (
        _rows(draws, pools, start, min(start + BATCH_ROWS, rows), pii_share)
        for start in range(0, max(rows, 1), BATCH_ROWS)
    )
    if format == "ndjson":
        with path.open("wb") as out:
            for batch in batches:
                batch.write_ndjson(out)
        return path
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


def _pick(draws: _Draws, stream: int, keys: pl.Series, values: Sequence[str]) -> pl.Series:
    return pl.Series(values).gather(draws.below(stream, keys, len(values)))


def _weighted(
    draws: _Draws, stream: int, keys: pl.Series, pairs: Sequence[tuple[str, int]]
) -> pl.Series:
    return pl.Series([v for v, _ in pairs]).gather(
        draws.weighted(stream, keys, [w for _, w in pairs])
    )


def _filled(
    draws: _Draws, stream: int, keys: pl.Series, forms: Sequence[tuple[str, str]], pools: _Pools
) -> pl.Series:
    """One of `forms` per row with its "{}" replaced by a value of the form's kind."""
    form = draws.below(stream, keys, len(forms))
    pick = draws.below(stream + 1, keys, POOL)
    heads = pl.Series([text.split("{}")[0] for _, text in forms])
    tails = pl.Series([text.split("{}")[1] for _, text in forms])
    kinds = [kind for kind, _ in forms]
    value = pl.select(
        pl.coalesce(
            pl.when(form == n).then(pools.values[kind].gather(pick)) for n, kind in enumerate(kinds)
        )
    ).to_series()
    return pl.select(pl.concat_str(heads.gather(form), value, tails.gather(form))).to_series()


def _nulled(
    draws: _Draws, stream: int, keys: pl.Series, share: float, values: pl.Series
) -> pl.Expr:
    return pl.when(draws.uniform(stream, keys) >= share).then(pl.lit(values))


def _rows(draws: _Draws, pools: _Pools, start: int, stop: int, pii_share: float) -> pl.DataFrame:
    """Rows [start, stop)."""
    keys = pl.int_range(start, stop, dtype=pl.UInt64, eager=True)
    sentences = pl.Series(_SENTENCES)
    has_pii = draws.uniform(10, keys) < pii_share
    message = pl.concat_str(
        [
            sentences.gather(draws.below(11, keys, len(sentences))),
            pl.when(pl.lit(has_pii)).then(pl.lit(_filled(draws, 12, keys, PII_FORMS, pools))),
            pl.when(draws.uniform(14, keys) < 0.6).then(
                pl.lit(_filled(draws, 15, keys, LOOKALIKE_FORMS, pools))
            ),
            pl.when(draws.uniform(17, keys) < 0.4).then(
                pl.lit(sentences.gather(draws.below(18, keys, len(sentences))))
            ),
        ],
        separator=" ",
        ignore_nulls=True,
    )
    tag_count = draws.below(20, keys, 4)
    tags = pl.concat_list([pl.lit(_pick(draws, 21 + n, keys, _TAGS)) for n in range(3)]).list.head(
        pl.lit(tag_count)
    )
    cc_count = pl.when(draws.uniform(25, keys) < 0.15).then(draws.below(26, keys, 3) + 1)
    cc = pl.concat_list(
        [pl.lit(pools.email.gather(draws.below(27 + n, keys, POOL))) for n in range(3)]
    ).list.head(cc_count.fill_null(0))
    headers = pl.concat_list(
        [pl.lit(_pick(draws, 31 + n, keys, _HEADERS)) for n in range(2)]
    ).list.head(pl.lit(draws.below(30, keys, 3)))
    product = draws.below(53, keys, 90_000)
    created = pl.lit(1_735_689_600_000_000 + keys.cast(pl.Int64) * 1_000_003).cast(
        pl.Datetime("us", "UTC")
    )
    return pl.select(
        event_id=pl.lit(keys.cast(pl.Int64)),
        created_at=created,
        level=pl.lit(_weighted(draws, 40, keys, _LEVELS)),
        service=pl.lit(_pick(draws, 41, keys, _SERVICES)),
        region=pl.lit(_pick(draws, 42, keys, _REGIONS)),
        locale=_nulled(draws, 43, keys, 0.1, _pick(draws, 44, keys, _LOCALES)),
        status=pl.lit(_weighted(draws, 45, keys, _STATUSES)),
        client=pl.lit(_pick(draws, 46, keys, _CLIENTS)),
        email=_nulled(draws, 47, keys, 0.1, pools.email.gather(draws.below(48, keys, POOL))),
        message=_nulled(draws, 49, keys, 0.05, pl.select(message).to_series()),
        tags=tags,
        cc=pl.when(cc_count.is_not_null()).then(cc),
        request=pl.when(draws.uniform(50, keys) >= 0.05).then(
            pl.struct(
                path=pl.lit(_pick(draws, 51, keys, _PATHS)),
                referrer=_nulled(
                    draws, 52, keys, 0.5, "https://shop.example.com/p/" + product.cast(pl.String)
                ),
                note=pl.lit(_pick(draws, 54, keys, _NOTES)),
                headers=headers,
            )
        ),
        amount=pl.when(draws.uniform(55, keys) < 0.7).then(
            pl.lit((draws.uniform(56, keys) * 500).round(2))
        ),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.text_heavy_data", description=__doc__
    )
    parser.add_argument("--rows", type=int, required=True, help="number of rows to write")
    parser.add_argument("--out", type=Path, required=True, help="file to write")
    parser.add_argument("--format", choices=FORMATS, default="parquet", help="file format")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same bytes")
    parser.add_argument(
        "--pii-share", type=float, default=0.5, help="share of messages mentioning personal data"
    )
    args = parser.parse_args(argv)
    path = generate(
        args.out, args.rows, seed=args.seed, pii_share=args.pii_share, format=args.format
    )
    print(f"{path} {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()

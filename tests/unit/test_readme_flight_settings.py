"""Every Arrow Flight setting has its row in the README's settings table (key, env
var), as every other setting of that table does: none of the flight_* settings had
one, so flight_parked_puts_per_principal's environment variable was documented nowhere."""

from __future__ import annotations

from pathlib import Path

from sluice.server.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_flight_setting_has_its_row_in_the_settings_table() -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    flight = sorted(name for name in Settings.model_fields if name.startswith("flight_"))
    assert flight, "no flight_* setting: this test has nothing to check"
    missing = [
        name
        for name in flight
        if not any(row.startswith(f"| `{name}` | `SLUICE_{name.upper()}` | ") for row in rows)
    ]
    assert missing == [], f"settings without a row in README.md's settings table: {missing}"

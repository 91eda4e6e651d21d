"""Text files named on the command line (a manifest, an age identity, a public key),
read as UTF-8: a file that is not, or cannot be read, is one line naming it."""

from __future__ import annotations

from pathlib import Path

from sluice.client.cli.output import CliError


def read_text_file(path: Path, what: str) -> str:
    """The text of `path`; `what` names it in the error ("manifest", "--identity file")."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{what} {path} is not UTF-8 text") from None
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc.strerror or exc}") from None

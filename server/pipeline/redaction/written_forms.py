"""What an earlier rule wrote in place of a match, as the keyword entity's value and its
layouts (secret_layouts.py, secret_elements.py) read it: a tag or a seal."""

from __future__ import annotations

from typing import Final

#: What an earlier rule wrote: a tag (`[GITHUB_TOKEN]`, upper case) or a seal
#: (pseudonyms.py: `[LABEL` or `[`, then a SUB). Not any word in brackets: `token=[0]*2`
#: and `token=[masked]x` are code and log text.
WRITTEN: Final = r"\[(?:[A-Z][A-Z0-9_]*|[A-Z0-9_]*\x1a[^\[\]\s]*)\]"

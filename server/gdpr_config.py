"""The `[gdpr]` table of the server config: what a GDPR subject package tells the person
about the processing of their data (Art. 15(1) GDPR), shown in the package's README.html.

    [gdpr]
    controller = "Example Jobs Ltd, 1 High Street, London"
    contact = "privacy@example.com (data protection officer)"
    purposes = "Matching job seekers with employers; billing."
    retention = "Applications: 2 years after the last activity. Invoices: 7 years."
    recipients = "Employers you applied to; our payment processor."

Config file only (a table has no flag or environment form). Plain text: the README
escapes it, so markup shows as written. Subject packages are refused while it is missing:
a package without these texts would not answer an access request.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Longest text of one entry: a README paragraph, not a document.
MAX_TEXT = 10_000


class GdprConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Who is responsible for the processing (name and address).
    controller: str = Field(min_length=1, max_length=MAX_TEXT)
    #: How the person reaches the controller or its data protection officer.
    contact: str = Field(min_length=1, max_length=MAX_TEXT)
    #: Why the data is processed.
    purposes: str = Field(default="", max_length=MAX_TEXT)
    #: How long it is kept.
    retention: str = Field(default="", max_length=MAX_TEXT)
    #: Who receives it.
    recipients: str = Field(default="", max_length=MAX_TEXT)

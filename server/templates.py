"""Export templates: named partial specs a request refers to with `template`.

Built in:

- `backup`: everything as it is, Parquet, zstd, age-encrypted to the server's
  `backup_recipients` (refused when none are configured and the request brings no
  encryption of its own).
- `analysis`: Parquet, zstd, `moderate` redaction with e-mail addresses and phone
  numbers replaced by keyed pseudonyms (HMAC under the server's `default` hash key), so
  the same person gets the same pseudonym in every export and joins still work.
- `sharing`: CSV in an AES-256 zip whose password is the server secret `sharing`,
  `strict` redaction.
- `gdpr`: for GDPR subject packages (server/planning/subject_package.py): each file an
  AES-256 zip whose password is the server secret `gdpr`, and the package redaction
  (`SUBJECT_PACKAGE_REDACTION`): other people's e-mails, phones and names in text
  redacted, the subject's own columns kept.

Configured (`[templates.NAME]` in the server config, names other than the built-ins):

    [templates.nightly-orders]
    description = "Orders for the warehouse"
    source_name = "orders"              # a named source, used when the request names none
    format = "parquet"
    compression = "zstd"
    level = 9
    redaction_level = "moderate"
    redaction_policy = "warehouse"      # a server redaction policy
    age_recipients = ["age1..."]        # or passphrase_secret / zip_password_secret
    labels = { team = "data" }
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from sluice.server.pipeline.redaction.column_categories import COLUMN_CATEGORIES
from sluice.server.planning.spec import EncryptionSpec, RedactionRuleSpec, RedactionSpec

#: The secret the `sharing` template's zip password comes from.
SHARING_SECRET = "sharing"  # noqa: S105 - the name of a configured secret, not one
#: The secret the `gdpr` template's zip password comes from.
GDPR_SECRET = "gdpr"  # noqa: S105 - the name of a configured secret, not one


class TemplateConfig(BaseModel):
    """One `[templates.NAME]` table of the server config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    source_name: str = ""
    format: str = ""
    compression: str = ""
    level: int | None = None
    redaction_level: str = ""
    redaction_policy: str = ""
    age_recipients: tuple[str, ...] = ()
    #: None: no such encryption. "" (or blanks) is refused: a name set but empty asked for
    #: encryption, and reading it as none would export in plaintext.
    passphrase_secret: str | None = Field(default=None, min_length=1, pattern=r"\S")
    zip_password_secret: str | None = Field(default=None, min_length=1, pattern=r"\S")
    labels: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    builtin: bool
    source_name: str = ""
    format: str = ""
    compression: str = ""
    level: int | None = None
    #: None: the template says nothing about redaction / encryption.
    redaction: RedactionSpec | None = None
    encryption: EncryptionSpec | None = None
    labels: tuple[tuple[str, str], ...] = ()
    #: backup: the server has no recipients to encrypt to (requests must bring their own).
    needs_recipients: bool = False
    #: Only for subject packages (spec.subject): its redaction keeps identity columns,
    #: which suits one person's own rows, not everyone's (template_plan.check_template_fits).
    package_only: bool = False

    def sets(self) -> dict[str, str]:
        """What the template sets, for people (ListTemplates); never secrets or keys."""
        described = {
            "source.name": self.source_name,
            "output.format": self.format,
            "output.compression": self.compression,
            "output.level": "" if self.level is None else str(self.level),
        }
        if self.redaction is not None:
            described["redaction.level"] = self.redaction.level
            described["redaction.policy"] = self.redaction.policy
            described["redaction.rules"] = ", ".join(
                f"{'column=' + r.column if r.column else 'pattern=' + r.pattern}:{r.action}"
                for r in (*self.redaction.template_rules, *self.redaction.rules)
            )
        if self.encryption is not None:
            described["encryption"] = _encryption_text(self.encryption, self.needs_recipients)
        for key, value in self.labels:
            described[f"labels.{key}"] = value
        return {k: v for k, v in described.items() if v}


def _encryption_text(encryption: EncryptionSpec, missing: bool) -> str:
    if missing:
        return "age to the backup recipients (none configured: requests must bring encryption)"
    if encryption.age_recipients:
        count = len(encryption.age_recipients)
        return f"age to {count} recipient{'s' if count != 1 else ''}"
    if encryption.age_passphrase_ref:
        return f"age passphrase from secret {encryption.age_passphrase_ref}"
    if encryption.zip_password_ref:
        return f"AES-256 zip, password from secret {encryption.zip_password_ref}"
    return "none"


BUILTIN_NAMES = ("backup", "analysis", "sharing", "gdpr")
#: analysis: e-mail and phone columns (by the names `moderate` knows them by) and the
#: addresses and numbers found in text become keyed pseudonyms instead of tags.
_PSEUDONYMS = (
    *(
        RedactionRuleSpec(column=glob, action="hash")
        for category in COLUMN_CATEGORIES
        if category.name in {"EMAIL", "PHONE"}
        for glob in category.globs
    ),
    RedactionRuleSpec(pattern="EMAIL", action="hash"),
    RedactionRuleSpec(pattern="PHONE", action="hash"),
)


#: Columns that hold, in a subject's own rows, the subject's own identifiers: a subject
#: package keeps them as they are. Exact names only (matched case-insensitively), never the
#: category globs: `*email*` also takes `email_reset_token` (a secret) and `email_body` /
#: `cc_emails` (text and lists holding other people's addresses), and a kept column is
#: skipped by the text pass. None of these names is a SECRET one, so secrets stay redacted.
SUBJECT_OWN_COLUMNS: Final = (
    "email",
    "email_address",
    "phone",
    "phone_number",
    "mobile",
    "telephone",
    "name",
    "first_name",
    "firstname",
    "middle_name",
    "last_name",
    "lastname",
    "full_name",
    "fullname",
    "surname",
    "given_name",
    "family_name",
    "maiden_name",
    "address",
    "street",
    "postal_code",
    "postcode",
    "zip",
    "zip_code",
    "zipcode",
    "date_of_birth",
    "dob",
    "birth_date",
    "birthdate",
)


def _tagged_at_moderate(name: str) -> bool:
    """Whether `moderate`'s column defaults (e-mail, phone) tag a column of this name."""
    return any(
        fnmatch.fnmatchcase(name, glob)
        for category in COLUMN_CATEGORIES
        if category.name in {"EMAIL", "PHONE"}
        for glob in category.globs
    )


#: A subject package's redaction: `moderate` finds e-mail addresses and phone numbers in
#: every text value (those of other people the subject wrote to or about), and the opt-in
#: PERSON_NAME rule other people's names, while the columns of SUBJECT_OWN_COLUMNS (the
#: subject's own email, phone, name, address, date of birth) are kept as top-level
#: columns only (a struct's `referee.email`, a list's `contacts.name` in the same row are
#: other people's: `[EMAIL]`, `[REDACTED]`), and so is the name they hold wherever the
#: same row's text mentions it. Secrets (password, token columns) stay redacted.
SUBJECT_PACKAGE_REDACTION = RedactionSpec(
    level="moderate",
    template_rules=(
        # Nested fields named like them hold other people's: those `moderate` does not
        # tag already (names, addresses, birth dates) are redacted; the keeps after these
        # rules win for the top-level columns.
        *(
            RedactionRuleSpec(column=name, action="redact")
            for name in SUBJECT_OWN_COLUMNS
            if not _tagged_at_moderate(name)
        ),
        *(
            RedactionRuleSpec(column=name, action="keep", top_level=True)
            for name in SUBJECT_OWN_COLUMNS
        ),
        RedactionRuleSpec(pattern="PERSON_NAME", action="redact"),
    ),
)


def templates(
    configured: dict[str, TemplateConfig], backup_recipients: tuple[str, ...]
) -> dict[str, Template]:
    """Every template by name: the built-ins, then the configured ones."""
    found = {
        "backup": Template(
            "backup",
            "Everything as it is: Parquet, zstd, age-encrypted to the backup recipients",
            builtin=True,
            format="parquet",
            compression="zstd",
            redaction=RedactionSpec(level="none"),
            encryption=EncryptionSpec(age_recipients=backup_recipients),
            needs_recipients=not backup_recipients,
        ),
        "analysis": Template(
            "analysis",
            "For analysts: Parquet, moderate redaction, e-mails and phones as keyed "
            "pseudonyms (hash key 'default') so joins still work",
            builtin=True,
            format="parquet",
            compression="zstd",
            redaction=RedactionSpec(level="moderate", template_rules=_PSEUDONYMS),
        ),
        "sharing": Template(
            "sharing",
            f"For people outside: CSV in an AES-256 zip (password: secret '{SHARING_SECRET}'), "
            "strict redaction",
            builtin=True,
            format="csv",
            compression="zip",
            redaction=RedactionSpec(level="strict"),
            encryption=EncryptionSpec(zip_password_ref=SHARING_SECRET),
        ),
        "gdpr": Template(
            "gdpr",
            "GDPR subject packages: each file an AES-256 zip (password: secret "
            f"'{GDPR_SECRET}'), other people's e-mails, phones and names in text redacted",
            builtin=True,
            compression="zip",
            redaction=SUBJECT_PACKAGE_REDACTION,
            encryption=EncryptionSpec(zip_password_ref=GDPR_SECRET),
            package_only=True,
        ),
    }
    for name, config in sorted(configured.items()):
        found[name] = _configured(name, config)
    return found


def _configured(name: str, config: TemplateConfig) -> Template:
    redaction = None
    if config.redaction_level or config.redaction_policy:
        redaction = RedactionSpec(level=config.redaction_level, policy=config.redaction_policy)
    encryption = None
    if config.age_recipients or config.passphrase_secret or config.zip_password_secret:
        encryption = EncryptionSpec(
            age_recipients=config.age_recipients,
            age_passphrase_ref=config.passphrase_secret or "",
            zip_password_ref=config.zip_password_secret or "",
        )
    return Template(
        name,
        config.description,
        builtin=False,
        source_name=config.source_name,
        format=config.format,
        compression=config.compression,
        level=config.level,
        redaction=redaction,
        encryption=encryption,
        labels=tuple(sorted(config.labels.items())),
    )


def check_template_names(configured: dict[str, TemplateConfig]) -> dict[str, TemplateConfig]:
    for name in configured:
        if name in BUILTIN_NAMES:
            raise ValueError(f"{name!r} is a built-in template; give yours another name")
    return configured

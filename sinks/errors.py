"""Storage errors. Every backend translates its own exceptions into these, once, at
its edge; callers (the retry wrapper, the pipeline) only ask `transient`."""

from __future__ import annotations


class StorageError(Exception):
    """A storage operation failed. `transient` errors may succeed when retried."""

    transient: bool = False

    def __init__(self, message: str, *, location: str = "") -> None:
        super().__init__(message)
        self.location = location


class ObjectNotFound(StorageError):
    """The object or container does not exist."""


class ObjectExists(StorageError):
    """A write that must not overwrite found the object already there."""


class ObjectImmutable(StorageError):
    """The store refuses to replace the object by policy: an immutability policy or a
    legal hold on its container. Permanent until the policy changes (answered as
    FAILED_PRECONDITION): no retry, and no other writer, can replace it."""


class StorageAccessDenied(StorageError):
    """Credentials are missing, wrong, or not allowed to do this."""


class CredentialsUnavailable(StorageError):
    """No credentials could be obtained for the profile: an unreadable web identity token
    file, a rejected token, no managed identity endpoint. Permanent: retrying the request
    cannot create an identity (answered as FAILED_PRECONDITION: the daemon's storage
    credentials are at fault, not the caller's)."""


class StorageUnavailable(StorageError):
    """Throttling, a 5xx, a reset connection or a timeout: worth retrying."""

    transient = True


class UploadHandedOver(StorageError):
    """A request refused before it was sent: the upload belongs to another holder now
    (the run that wrote it lost its lease), who may be continuing it. Permanent."""


class JournalRefused(StorageError):
    """An upload journal refused a write: the lease that fences it is lost, or the store
    that holds it could not be reached to check. Either way the upload may belong to
    another holder now, so its writer treats it as handed over (no request follows, not
    even an abort). `reason` is the journal's own error, which the run ends with.
    Permanent: a refused write is never retried by the sink."""

    def __init__(self, message: str, *, reason: Exception, location: str = "") -> None:
        super().__init__(message, location=location)
        self.reason = reason


class IntegrityError(StorageError):
    """Stored bytes do not match their recorded size or digest."""


class ContainerNotFound(StorageError):
    """The bucket or container itself does not exist: a configuration problem, permanent
    (answered as FAILED_PRECONDITION, unlike a missing object)."""

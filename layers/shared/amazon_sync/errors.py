"""Errors that carry a one-line, operator-readable message."""

from pydantic import ValidationError


class SyncError(Exception):
    """Base for every error this package raises on purpose; str() is meant for the operator."""


class DatabaseUnavailable(SyncError):
    pass


class DatabaseAccessDenied(DatabaseUnavailable):
    """The database refused the user or password (MySQL 1045): after a rotation, the secret is read again."""


class LeaseLost(SyncError):
    """Another export run holds the lease now: this one must not submit anything more."""


class SchemaMissing(SyncError):
    pass


class ConfigurationError(SyncError):
    pass


class AmazonError(SyncError):
    pass


def validation_problems(exc: ValidationError, whole: str = "document") -> str:
    """A pydantic error as one line: ``field.path: message; …`` (``whole`` names an error on the root)."""
    return "; ".join(f"{'.'.join(str(p) for p in error['loc']) or whole}: {error['msg']}" for error in exc.errors())

"""Errors that carry a one-line, operator-readable message."""

from pydantic import ValidationError


class SyncError(Exception):
    """Base for every error this package raises on purpose; str() is meant for the operator."""


class DatabaseUnavailable(SyncError):
    pass


class SchemaMissing(SyncError):
    pass


class ConfigurationError(SyncError):
    pass


class AmazonError(SyncError):
    pass


def validation_problems(exc: ValidationError, whole: str = "document") -> str:
    """A pydantic error as one line: ``field.path: message; …`` (``whole`` names an error on the root)."""
    return "; ".join(f"{'.'.join(str(p) for p in error['loc']) or whole}: {error['msg']}" for error in exc.errors())

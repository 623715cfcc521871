"""Errors that carry a one-line, operator-readable message."""


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

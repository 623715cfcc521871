"""Small helpers around AWS services that several adapters share.

boto3 honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, which is how the local stack points
every client at moto_server without any code path of its own.
"""

from __future__ import annotations

from collections.abc import Callable


def secret_reader() -> Callable[[str], str]:
    """Reads secrets' values through Powertools Parameters, with one client for all of them.

    A reader is bound to the environment of the moment: the Runtime that builds one is itself kept
    for the life of the execution environment, so each secret is still read once, and the client
    (~15 ms of CPU to build) is built once for the database's and the SP-API's secrets.
    """
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from amazon_sync.errors import ConfigurationError

    try:
        # a client of boto3's default session, which every adapter shares: a provider left to itself
        # would open a session of its own and load botocore's endpoint and service data once more
        provider = parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager"))
    except Exception as exc:  # no region, an unknown profile: botocore's own errors
        reason = " ".join(str(exc).split())
        raise ConfigurationError(f"cannot read secrets: {reason}") from None

    def read(secret_id: str) -> str:
        try:
            value = provider.get(secret_id)
        except Exception as exc:  # Powertools wraps every Secrets Manager failure in GetParameterError
            reason = " ".join(str(exc).split())
            raise ConfigurationError(f"cannot read secret {secret_id}: {reason}") from None
        if isinstance(value, bytes):
            return value.decode()
        if not isinstance(value, str):
            raise TypeError(f"secret {secret_id} is not a string")
        return value

    return read


def secret_string(secret_id: str) -> str:
    """One secret's value (a reader of its own: for a secret read alone, e.g. after a rotation)."""
    return secret_reader()(secret_id)

"""Small helpers around AWS services that several adapters share.

boto3 honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, which is how the local stack points
every client at moto_server without any code path of its own.
"""

from __future__ import annotations


def secret_string(secret_id: str) -> str:
    """A secret's value through Powertools Parameters.

    A provider of its own per call, bound to the environment of the moment: the Runtime that asks is
    itself kept for the life of the execution environment, so each secret is still read once.
    """
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from amazon_sync.errors import ConfigurationError

    try:
        # a client of boto3's default session, which every adapter shares: a provider left to itself
        # would open a session of its own and load botocore's endpoint and service data once more
        value = parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager")).get(secret_id)
    except Exception as exc:  # Powertools wraps every Secrets Manager failure in GetParameterError
        reason = " ".join(str(exc).split())
        raise ConfigurationError(f"cannot read secret {secret_id}: {reason}") from None
    if isinstance(value, bytes):
        return value.decode()
    if not isinstance(value, str):
        raise TypeError(f"secret {secret_id} is not a string")
    return value

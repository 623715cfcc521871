"""Small helpers around AWS services that several adapters share.

boto3 honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, which is how the local stack points
every client at moto_server without any code path of its own.
"""

from __future__ import annotations


def secret_string(secret_id: str) -> str:
    """A secret's value through Powertools Parameters (cached for the life of the execution environment)."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(secret_id, max_age=300)
    return value if isinstance(value, str) else value.decode()

"""Adapters to the outside: MySQL (PrestaShop and the event log), DynamoDB, S3, SP-API, Secrets Manager."""

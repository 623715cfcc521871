"""Opening MySQL connections with errors an operator can act on."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable, Iterator, Sequence, Sized
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pymysql
import pymysql.cursors
from pymysql.connections import Connection

from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.errors import DatabaseAccessDenied, DatabaseUnavailable


def placeholders(values: Sized) -> str:
    """``%s, %s, …`` for an ``IN (…)`` list of ``values``: the values themselves always go as parameters."""
    return ", ".join(["%s"] * len(values))


# Past this many runs of consecutive ids, a set of ids is named in a list: a range per id or two would
# only make the statement longer.
MAX_RANGES = 100


def consecutive_runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Ascending distinct ``ids`` as runs of consecutive ids: [1, 2, 3, 7] is [(1, 3), (7, 7)]."""
    iterator = iter(ids)
    first = next(iterator, None)
    if first is None:
        return []
    runs: list[tuple[int, int]] = []
    start = previous = first
    for current in iterator:
        if current != previous + 1:
            runs.append((start, previous))
            start = current
        previous = current
    runs.append((start, previous))
    return runs


def id_set_condition(column: str, runs: Sequence[tuple[int, int]]) -> tuple[str, list[int]]:
    """A condition naming exactly the ids of ``runs`` in ``column``, and its parameters: ranges while
    there are few (the server reads a range without parsing a thousand parameters, and pymysql escapes
    two), else a list."""
    if not runs:
        return "FALSE", []
    if len(runs) <= MAX_RANGES:
        return (" OR ".join([f"{column} BETWEEN %s AND %s"] * len(runs)), [bound for run in runs for bound in run])
    ids = [number for first, last in runs for number in range(first, last + 1)]
    return f"{column} IN ({placeholders(ids)})", ids


def json_rows(cur: pymysql.cursors.Cursor, columns: str, rest: str, args: Sequence[object]) -> list[list[Any]]:
    """The rows of ``SELECT columns rest``, sent by the server as one JSON array of arrays and parsed by the
    json module: pymysql parses each value of each row in Python (a thousand offers of eleven columns: a
    third of the time). DECIMAL values come back as Decimal, NULL as None.

    MariaDB cuts JSON_ARRAYAGG at ``group_concat_max_len`` (MySQL does not): a cut array raises."""
    cur.execute(f"SELECT JSON_ARRAYAGG(JSON_ARRAY({columns})) {rest}", args)
    found = cur.fetchone()
    text = found[0] if found else None
    if text is None:
        return []
    try:
        rows: list[list[Any]] = json.loads(text, parse_float=Decimal)
    except ValueError:
        raise RuntimeError(f"a JSON array of rows came back cut at {len(text)} characters: the session's "
                           "group_concat_max_len is too small") from None
    return rows


# MySQL error numbers worth translating into a sentence.
_ACCESS_DENIED = 1045
_UNKNOWN_DATABASE = 1049
_CANT_CONNECT = 2003
_CANT_CONNECT_SOCKET = 2002
_UNKNOWN_HOST = 2005
_SSL_CONNECTION_ERROR = 2026
# A database on this machine (or its socket) is the only one reachable without verified TLS: anywhere
# else, credentials and data would cross a network a third party can read or impersonate.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def connect(settings: DatabaseSettings, *, autocommit: bool = True) -> Connection[pymysql.cursors.Cursor]:
    ssl_context: ssl.SSLContext | None = None
    where = settings.unix_socket or f"{settings.host}:{settings.port}"
    if not settings.tls_ca_file and not settings.unix_socket and settings.host not in LOOPBACK_HOSTS:
        raise DatabaseUnavailable(
            f"refusing to connect to {where} without verified TLS: set DB_TLS_CA_FILE to the RDS CA bundle "
            "(`make rds-ca` saves it to layers/shared/amazon_sync/certs/rds-global-bundle.pem)")
    if settings.tls_ca_file:
        try:
            ssl_context = ssl.create_default_context(cafile=settings.tls_ca_file)
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot load the database CA bundle {settings.tls_ca_file}: {exc.strerror}") \
                from None
    password = settings.password.get_secret_value()
    if settings.iam_auth:
        if ssl_context is None:
            raise DatabaseUnavailable("RDS IAM authentication needs TLS: set DB_TLS_CA_FILE to the RDS CA bundle")
        import boto3

        password = boto3.client("rds").generate_db_auth_token(
            DBHostname=settings.host, Port=settings.port, DBUsername=settings.user)
    try:
        conn = pymysql.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=password,
            database=settings.database,
            unix_socket=settings.unix_socket,
            charset="utf8mb4",
            autocommit=autocommit,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            write_timeout=settings.write_timeout,
            ssl=ssl_context,
            # over a socket without a CA bundle PyMySQL 1.2 would still try TLS, unverified, after loading the
            # system's CA store (~70 ms of CPU): no protection on a socket. On loopback TCP it keeps trying:
            # 127.0.0.1 may be a tunnel to RDS, where that TLS is what encrypts the last hop
            ssl_disabled=ssl_context is None and bool(settings.unix_socket),
        )
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else None
        if code == _ACCESS_DENIED:
            raise DatabaseAccessDenied(
                f"database refused user {settings.user!r} at {where}: wrong password or user (DB_USER/DB_PASSWORD)"
            ) from None
        if code == _UNKNOWN_DATABASE:
            raise DatabaseUnavailable(f"database {settings.database!r} does not exist at {where} (DB_NAME)") from None
        if code == _SSL_CONNECTION_ERROR or isinstance(getattr(exc, "original_exception", None), ssl.SSLError):
            raise DatabaseUnavailable(
                f"TLS to the database at {where} failed: {exc.args[-1]} (DB_TLS_CA_FILE must be the CA that "
                "signed the server's certificate, and the server must offer TLS)") from None
        if code in (_CANT_CONNECT, _CANT_CONNECT_SOCKET, _UNKNOWN_HOST):
            raise DatabaseUnavailable(
                f"cannot reach the database at {where}: is it running and is DB_HOST/DB_PORT right?"
            ) from None
        raise DatabaseUnavailable(f"cannot connect to the database at {where}: {exc.args[-1]}") from None
    with conn.cursor() as cur:
        # READ COMMITTED keeps claim transactions from taking gap locks that would block shop writes.
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cur.execute("SET time_zone = '+00:00'")
    return conn


@contextmanager
def transaction(conn: Connection[pymysql.cursors.Cursor]) -> Iterator[pymysql.cursors.Cursor]:
    """A short explicit transaction on an autocommit connection."""
    conn.begin()
    cur = conn.cursor()
    try:
        yield cur
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()
    finally:
        cur.close()

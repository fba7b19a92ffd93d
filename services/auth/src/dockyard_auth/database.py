# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection pool to MariaDB.

``pool_pre_ping`` tests a pooled connection before handing it out, so after a
MariaDB restart the stale connections are replaced instead of failing the
next request; ``pool_recycle`` retires connections before MariaDB's
``wait_timeout`` closes them from its side.

With a CA file (``database.ca_file``) every connection is TLS: MariaDB's
certificate must chain to that CA and name the host of ``database.url`` (a
DNS name, or an IP address as an IP SAN), and a server that does not offer
TLS is refused before the server hears any credentials. PyMySQL (1.0.2, as in
Debian bookworm) needs help with both: its ``ssl_ca`` alone verifies nothing
(``ssl_verify_cert`` and ``ssl_verify_identity`` default to off), and given
any TLS settings it still goes on in plain text when the server does not
offer TLS. So the engine hands PyMySQL a verifying ``ssl.SSLContext`` of its
own, built once (an unreadable CA file fails at start-up, not at the first
query), and connects through :class:`TlsOnlyConnection`.

The token endpoint reads through a :class:`Reader` instead: a pool of its
own whose connections are in autocommit, so that one read is one round trip
(the engine's pool adds a ping before and a rollback after each use).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

import pymysql
from pymysql.connections import Connection
from pymysql.constants import CLIENT
from pymysql.err import OperationalError
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool

from dockyard_auth.config import ConfigError

# Every table: utf8mb4 with the binary NO PAD collation, so names and tags
# compare byte for byte (`v1` and `V1` are two tags, and `alice   ` is not
# `alice`), on InnoDB for transactions. The schema and every migration from
# 0004 on that creates a table use these.
TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin", "mysql_engine": "InnoDB"}

# What migrations 0001-0003 created when they were written: utf8mb4_bin, a PAD
# SPACE collation (trailing spaces are ignored in comparisons, so `alice   `
# matched `alice`). Frozen so that those migrations keep making exactly the
# tables 0004 expects and converts; use it nowhere else.
PAD_SPACE_TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}


# MySQL's client error for a TLS connection that could not be made (CR_SSL_CONNECTION_ERROR).
SSL_CONNECTION_ERROR = 2026


class TlsOnlyConnection(Connection):
    """A PyMySQL connection that refuses, before it authenticates, a server that does not offer TLS.

    PyMySQL starts TLS only ``if self.ssl and self.server_capabilities &
    CLIENT.SSL`` and otherwise sends the login in plain text: a server set up
    without TLS, or anyone in the path who clears that flag, would get it.
    """

    def _request_authentication(self) -> None:
        if not self.server_capabilities & CLIENT.SSL:
            raise OperationalError(
                SSL_CONNECTION_ERROR,
                f"MariaDB at {self.host}:{self.port} does not offer TLS, and database.ca_file asks for it: "
                "set ssl_cert, ssl_key and ssl_ca in its configuration (or unset database.ca_file)",
            )
        super()._request_authentication()


def tls_context(ca_file: str | os.PathLike) -> ssl.SSLContext:
    """TLS 1.2 or newer that verifies the server's certificate against ``ca_file`` (PEM) and the host name."""
    try:
        context = ssl.create_default_context(cafile=os.fspath(ca_file))
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"database.ca_file: cannot load {ca_file} as PEM CA certificates: {reason}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _url_and_connect_args(url: str, password: str | None, ca_file: str | os.PathLike | None) -> tuple[URL, dict]:
    parsed: URL = make_url(url)
    if password is not None:
        parsed = parsed.set(password=password)
    query = dict(parsed.query)
    query.setdefault("charset", "utf8mb4")
    parsed = parsed.set(query=query)
    connect_args: dict = {"connect_timeout": 5, "read_timeout": 30, "write_timeout": 30}
    if ca_file is not None:
        connect_args["ssl"] = tls_context(ca_file)
    return parsed, connect_args


def make_engine(
    url: str, password: str | None = None, pool_size: int = 5, ca_file: str | os.PathLike | None = None
) -> Engine:
    """The pool for ``url``; with ``ca_file`` every connection is verified TLS (see the module's description)."""
    parsed, connect_args = _url_and_connect_args(url, password, ca_file)
    engine = create_engine(
        parsed,
        future=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args=connect_args,
    )
    if ca_file is not None:

        @event.listens_for(engine, "do_connect")
        def _tls_only(_dialect, _record, cargs, cparams):
            return TlsOnlyConnection(*cargs, **cparams)

    return engine


class Reader:
    """Single-statement reads in one round trip each, for the token endpoint (which makes one per request).

    The engine's pool pings a connection before it hands it out and rolls it
    back when it comes back: two round trips around every read. A Reader's
    connections are in autocommit, so every statement is a transaction of its
    own that sees every commit made before it, and there is nothing to roll
    back; they are not pinged either. A connection MariaDB closed meanwhile (a
    restart, ``wait_timeout``) fails the read that meets it: the Reader drops
    it and makes that read once more on a new connection, which is safe
    because a read changes nothing. Errors come out as SQLAlchemy's, like the
    engine's, so the app answers 503 for both.

    Statements are PyMySQL's: ``%(name)s`` parameters, and a tuple parameter
    is written as a parenthesised list (for ``IN``).
    """

    def __init__(
        self, url: str, password: str | None = None, pool_size: int = 5, ca_file: str | os.PathLike | None = None
    ) -> None:
        parsed, connect_args = _url_and_connect_args(url, password, ca_file)
        dialect_class = parsed.get_dialect()
        self.dialect = dialect_class(dbapi=dialect_class.dbapi())
        _cargs, cparams = self.dialect.create_connect_args(parsed)
        cparams = {**cparams, **connect_args, "autocommit": True}
        connection_class = TlsOnlyConnection if ca_file is not None else Connection
        self.pool = QueuePool(
            lambda: connection_class(**cparams),
            pool_size=pool_size,
            max_overflow=pool_size,
            timeout=10,
            recycle=1800,
            reset_on_return=None,
            pre_ping=False,
            use_lifo=True,
        )

    def rows(self, statement: str, parameters: Mapping[str, Any]) -> Sequence[tuple]:
        """The rows ``statement`` gives, read in autocommit on a pooled connection."""
        for attempt in (1, 2):
            try:
                connection = self.pool.connect()
            except pymysql.err.Error as exc:  # no connection could be made
                raise self._error(statement, exc, invalidated=False) from exc
            try:
                with connection.cursor() as cursor:
                    cursor.execute(statement, parameters)
                    found = cursor.fetchall()
            except pymysql.err.Error as exc:
                lost = self.dialect.is_disconnect(exc, connection, None)
                if lost:
                    connection.invalidate(exc)
                else:
                    connection.close()
                if lost and attempt == 1:
                    continue
                raise self._error(statement, exc, invalidated=lost) from exc
            connection.close()
            return found
        raise AssertionError("not reached: the second attempt returns or raises")

    def _error(self, statement: str, exc: Exception, *, invalidated: bool) -> DBAPIError:
        return DBAPIError.instance(
            statement, None, exc, pymysql.err.Error, hide_parameters=True, connection_invalidated=invalidated
        )

    def dispose(self) -> None:
        """Close the pooled connections (those in use close when they come back)."""
        self.pool.dispose()

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection pool to MariaDB.

``pool_pre_ping`` tests a pooled connection before handing it out, so after a
MariaDB restart the stale connections are replaced instead of failing the
next request; ``pool_recycle`` retires connections before MariaDB's
``wait_timeout`` closes them from its side.
"""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine, make_url

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


def make_engine(url: str, password: str | None = None, pool_size: int = 5) -> Engine:
    parsed: URL = make_url(url)
    if password is not None:
        parsed = parsed.set(password=password)
    query = dict(parsed.query)
    query.setdefault("charset", "utf8mb4")
    parsed = parsed.set(query=query)
    return create_engine(
        parsed,
        future=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args={"connect_timeout": 5, "read_timeout": 30, "write_timeout": 30},
    )

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The database's tables as the code reads and writes them (the newest migration's shape).

The migrations under ``migrations/versions`` create and change the real
tables step by step; a test checks that upgrading to the newest one gives
exactly these tables. Every table is utf8mb4 with the binary NO PAD
collation, so names and tags compare byte for byte (``v1`` and ``V1`` are two
tags, and trailing spaces count: ``alice   `` is not ``alice``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.mysql import DATETIME

from dockyard_auth.database import TABLE_OPTIONS

NAME = 64  # users, teams, namespaces, robots
REPOSITORY = 255
TAG = 128
DIGEST = 160

metadata = MetaData()


def _ts(name: str, nullable: bool = False) -> Column:
    return Column(name, DateTime(), nullable=nullable)


def _managed() -> Column:
    """Set by the tools that declare the row (the registry_access module); the server does not act on it."""
    return Column("managed", Boolean, nullable=False, default=False, server_default=false())


def _registry_time(name: str, nullable: bool = False) -> Column:
    """A time the registry gave (naive UTC), to the microsecond: events are ordered by it."""
    return Column(name, DATETIME(fsp=6), nullable=nullable)


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("admin", Boolean, nullable=False, default=False),
    Column("enabled", Boolean, nullable=False, default=True),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("password_changed_at"),
    _managed(),
    **TABLE_OPTIONS,
)

teams = Table(
    "teams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("description", String(255), nullable=False, default=""),
    _ts("created_at"),
    _managed(),
    **TABLE_OPTIONS,
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
    _ts("created_at"),
    **TABLE_OPTIONS,
)

# kind: global (one row, name ""), personal (user_id set) or team (team_id set).
namespaces = Table(
    "namespaces",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="RESTRICT"), nullable=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("description", String(255), nullable=False, default=""),
    _ts("created_at"),
    _managed(),
    **TABLE_OPTIONS,
)

robots = Table(
    "robots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("secret_hash", String(255), nullable=False),
    Column("description", String(255), nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("api_admin", Boolean, nullable=False, default=False),
    _ts("expires_at", nullable=True),
    _ts("created_at"),
    _ts("secret_changed_at"),
    _managed(),
    **TABLE_OPTIONS,
)

robot_permissions = Table(
    "robot_permissions",
    metadata,
    Column("robot_id", Integer, ForeignKey("robots.id", ondelete="CASCADE"), primary_key=True),
    Column("namespace_id", Integer, ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True),
    Column("actions", String(32), nullable=False),  # comma-separated, sorted: "pull,push"
    **TABLE_OPTIONS,
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(REPOSITORY), nullable=False, unique=True),
    _ts("created_at"),
    _ts("updated_at"),
    **TABLE_OPTIONS,
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(TAG), nullable=False),
    Column("digest", String(DIGEST), nullable=False),
    Column("media_type", String(255), nullable=False, default=""),
    _ts("updated_at"),
    # The registry's time of the event (or the sync run) that set the tag; an
    # older event arriving later leaves the tag alone. Null for tags set before
    # the server kept it.
    _registry_time("event_at", nullable=True),
    UniqueConstraint("repository_id", "name", name="uq_tags_repository_name"),
    **TABLE_OPTIONS,
)

# One row per registry event turned into an activity; the event id is unique,
# so a replayed notification is recognised and stored once. The deletes among
# them, looked up by repository, keep a late push older than a delete from
# bringing its tag back.
activities = Table(
    "activities",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("action", String(32), nullable=False),
    Column("actor", String(255), nullable=False, default=""),
    Column("repository", String(REPOSITORY), nullable=False),
    Column("tag", String(TAG), nullable=True),
    Column("digest", String(DIGEST), nullable=True),
    Column("media_type", String(255), nullable=False, default=""),
    Column("source_addr", String(255), nullable=False, default=""),
    Column("source_instance", String(64), nullable=False, default=""),
    Column("request_id", String(64), nullable=False, default=""),
    _registry_time("occurred_at"),
    _ts("recorded_at"),
    Index("ix_activities_occurred_at", "occurred_at"),
    Index("ix_activities_repository_action", "repository", "action"),
    **TABLE_OPTIONS,
)

# Failed logins, shared by every worker and every server on the database, so
# that back-off holds however many processes answer. The key is a SHA-256 of
# the kind ("address" or "account") and its value, so no typed-in name is kept;
# times are milliseconds since the epoch.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("blocked_until_ms", BigInteger, nullable=False),
    Column("last_failure_ms", BigInteger, nullable=False, index=True),
    **TABLE_OPTIONS,
)

# The last successful login of an account from an address (the key is a
# SHA-256 of both). Someone guessing at an account from elsewhere does not
# hold back its owner at an address it has logged in from before.
login_successes = Table(
    "login_successes",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("last_success_ms", BigInteger, nullable=False, index=True),
    **TABLE_OPTIONS,
)

# Proxy notices for /healthz: one row per peer (an IP address), with when it
# was first and last noted and how many requests it made; times are
# milliseconds since the epoch.
forwarded_notices = Table(
    "forwarded_notices",
    metadata,
    Column("peer", String(64), primary_key=True),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False, index=True),
    Column("requests", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)

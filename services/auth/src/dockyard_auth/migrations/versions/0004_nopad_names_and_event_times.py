# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names compare with a NO PAD collation; the registry's times kept to the microsecond; proxy notices.

0001-0003 made every table utf8mb4_bin, a PAD SPACE collation: ``WHERE name =
'alice   '`` found ``alice``. Every table is converted to utf8mb4_nopad_bin,
where trailing spaces count; the rows and indexes stay. No unique key can
break: values equal under NO PAD are equal under PAD SPACE, which the keys
already kept apart. What the conversion changes is the meaning of a name that
ends in spaces (it stops matching the name without them), so when any such
name exists the migration refuses before it changes anything, and lists them.

``tags.event_at`` (null for the tags there are) and ``activities.occurred_at``
(now to the microsecond, values kept) let the receiver apply the registry's
events in the order of their times; an index on the activities' repository
and action finds the deletes that a late push must not undo. The table
``forwarded_notices`` is new and empty.

Each table is changed by one ALTER TABLE, so a table is either converted with
its new columns or not at all. MariaDB commits each one (DDL is not
transactional), so every step is written to be run again: after a run that
stopped part-way, ``dockyard-auth migrate`` finishes the job.

The downgrade, back to utf8mb4_bin, is where a unique key can break
(``alice`` and ``alice `` are two names under NO PAD, one under PAD SPACE):
it looks for such groups first and refuses, naming the rows.
"""

import sqlalchemy as sa
from alembic import op

from dockyard_auth.database import TABLE_OPTIONS

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Every table 0003 left, in the order they are converted (and converted back).
TABLES = (
    "users",
    "teams",
    "team_members",
    "namespaces",
    "robots",
    "robot_permissions",
    "repositories",
    "tags",
    "activities",
    "login_failures",
    "login_successes",
)
# The tables of names: a name ending in spaces changes meaning under NO PAD.
NAMED = ("users", "teams", "namespaces", "robots", "repositories", "tags")

UPGRADE = {
    "tags": ["ADD COLUMN IF NOT EXISTS event_at DATETIME(6) NULL"],
    "activities": [
        "MODIFY occurred_at DATETIME(6) NOT NULL",
        "ADD INDEX IF NOT EXISTS ix_activities_repository_action (repository, action)",
    ],
}
DOWNGRADE = {
    "tags": ["DROP COLUMN event_at"],
    "activities": ["DROP INDEX ix_activities_repository_action", "MODIFY occurred_at DATETIME NOT NULL"],
}

# The unique keys holding text that the server takes from outside (names,
# tags, the registry's event ids), as GROUP BY expressions under PAD SPACE,
# with the column shown in a message: what the downgrade must not make
# collide. (login_failures and login_successes hold hex digests only.)
UNIQUE_TEXT_KEYS = {
    "users": ("name COLLATE utf8mb4_bin", "name"),
    "teams": ("name COLLATE utf8mb4_bin", "name"),
    "namespaces": ("name COLLATE utf8mb4_bin", "name"),
    "robots": ("name COLLATE utf8mb4_bin", "name"),
    "repositories": ("name COLLATE utf8mb4_bin", "name"),
    "tags": ("repository_id, name COLLATE utf8mb4_bin", "name"),
    "activities": ("event_id COLLATE utf8mb4_bin", "event_id"),
}

RENAME = (
    "Rename each one without its trailing spaces (no other row of its table can have that name yet), for example "
    "UPDATE users SET name = TRIM(TRAILING ' ' FROM name) WHERE id = <id>, and a user's personal namespace "
    "with the user"
)


class NamesEndInSpaces(Exception):
    """Rows whose meaning the NO PAD collation would change; the operator renames them first."""


class NamesCollide(Exception):
    """Rows that PAD SPACE would make equal in a unique key; the operator renames them first."""


def _names_ending_in_spaces(conn) -> list[str]:
    """Each name that ends in a space, as ``table id N 'value'`` (LIKE counts trailing spaces, even under PAD SPACE)."""
    found = []
    for table in NAMED:
        repository = "(SELECT r.name FROM repositories r WHERE r.id = t.repository_id)" if table == "tags" else "NULL"
        # The names put into the SQL are this module's constants.
        query = f"SELECT t.id, t.name, {repository} AS repository FROM {table} t WHERE t.name LIKE :end"  # noqa: S608
        rows = conn.execute(sa.text(query + " ORDER BY t.id"), {"end": "% "})
        for row in rows:
            where = f" in repository {row.repository!r}" if row.repository is not None else ""
            found.append(f"{table} id {row.id} {row.name!r}{where}")
    return found


def upgrade() -> None:
    conn = op.get_bind()
    found = _names_ending_in_spaces(conn)
    if found:
        raise NamesEndInSpaces(
            f"migration 0004 changed nothing: {len(found)} name(s) end in spaces, and under the new collation "
            f"(utf8mb4_nopad_bin) they would no longer match the same name without them: {'; '.join(found)}. "
            f"{RENAME}; or delete it. Then run 'dockyard-auth migrate' again."
        )
    for table in TABLES:
        changes = ["CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin", *UPGRADE.get(table, [])]
        op.execute(f"ALTER TABLE {table} {', '.join(changes)}")
    if not sa.inspect(conn).has_table("forwarded_notices"):  # else made by a run that stopped after it
        op.create_table(
            "forwarded_notices",
            sa.Column("peer", sa.String(64), primary_key=True),
            sa.Column("first_seen_ms", sa.BigInteger, nullable=False),
            sa.Column("last_seen_ms", sa.BigInteger, nullable=False),
            sa.Column("requests", sa.BigInteger, nullable=False),
            **TABLE_OPTIONS,
        )
    op.execute("CREATE INDEX IF NOT EXISTS ix_forwarded_notices_last_seen_ms ON forwarded_notices (last_seen_ms)")


def _collisions_under_pad_space(conn) -> list[str]:
    """Groups of rows a unique key would hold equal under utf8mb4_bin: values that differ only in trailing spaces."""
    found = []
    for table, (key, shown) in UNIQUE_TEXT_KEYS.items():
        # The names put into the SQL are this module's constants.
        rows = f"GROUP_CONCAT(CONCAT('id ', id, ' ', QUOTE({shown})) ORDER BY id SEPARATOR ', ')"
        query = f"SELECT {rows} FROM {table} GROUP BY {key} HAVING COUNT(*) > 1"  # noqa: S608
        found += [f"{table} {group}" for group in conn.execute(sa.text(query)).scalars()]
    return found


def downgrade() -> None:
    conn = op.get_bind()
    found = _collisions_under_pad_space(conn)
    if found:
        raise NamesCollide(
            "the downgrade from 0004 changed nothing: under utf8mb4_bin (PAD SPACE) trailing spaces do not count, "
            f"and these rows would be equal in a unique key: {'; '.join(found)}. "
            "Rename or delete all but one of each group, then downgrade again."
        )
    op.drop_table("forwarded_notices")
    for table in reversed(TABLES):
        changes = [*DOWNGRADE.get(table, []), "CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"]
        op.execute(f"ALTER TABLE {table} {', '.join(changes)}")

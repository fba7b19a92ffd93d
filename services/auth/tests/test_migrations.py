# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migrations on a real MariaDB: an old database filled with data upgrades without losing any of it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.dialects import mysql

from dockyard_auth import migrate, schema
from dockyard_auth.store import Store

CREATED = dt.datetime(2026, 1, 2, 3, 4, 5)

ROWS_AT_0001 = {
    "users": [
        {"id": 1, "name": "alice", "password_hash": "$2b$10$" + "a" * 53, "admin": True, "enabled": True,
         "created_at": CREATED, "updated_at": CREATED},
        {"id": 2, "name": "bob", "password_hash": "$2b$10$" + "b" * 53, "admin": False, "enabled": False,
         "created_at": CREATED, "updated_at": CREATED},
    ],
    "teams": [{"id": 1, "name": "web", "description": "Web team ünïcode", "created_at": CREATED}],
    "team_members": [{"team_id": 1, "user_id": 2, "role": "owner", "created_at": CREATED}],
    "namespaces": [
        {"id": 10, "name": "web", "kind": "team", "visibility": "public", "team_id": 1, "user_id": None,
         "description": "", "created_at": CREATED},
    ],
    "robots": [
        {"id": 1, "name": "ci", "secret_hash": "$2b$10$" + "c" * 53, "description": "CI", "enabled": True,
         "api_admin": False, "expires_at": None, "created_at": CREATED},
    ],
    "robot_permissions": [{"robot_id": 1, "namespace_id": 10, "actions": "pull,push"}],
    "repositories": [{"id": 1, "name": "web/app", "created_at": CREATED, "updated_at": CREATED}],
    "tags": [
        {"id": 1, "repository_id": 1, "name": "v1", "digest": "sha256:" + "1" * 64, "updated_at": CREATED},
        {"id": 2, "repository_id": 1, "name": "V1", "digest": "sha256:" + "2" * 64, "updated_at": CREATED},
    ],
    "activities": [
        {"id": 1, "event_id": "ev-1", "action": "push", "actor": "bob", "repository": "web/app", "tag": "v1",
         "digest": "sha256:" + "1" * 64, "media_type": "application/vnd.oci.image.manifest.v1+json",
         "source_addr": "10.0.0.1:5000", "source_instance": "i-1", "occurred_at": CREATED, "recorded_at": CREATED},
    ],
}  # fmt: skip

# What 0002 adds to those rows: the change times start at the creation time, the new text columns empty.
ADDED_BY_0002 = {
    "users": {"password_changed_at": CREATED},
    "robots": {"secret_changed_at": CREATED},
    "tags": {"media_type": ""},
    "activities": {"request_id": ""},
}
# What 0004 adds: no registry time is known for the tags there are.
ADDED_BY_0004 = {"tags": {"event_at": None}}
# What 0005 adds: nothing there was declared by a tool.
ADDED_BY_0005 = {table: {"managed": False} for table in ("users", "teams", "namespaces", "robots")}


def table_rows(conn, name: str) -> list[dict]:
    table = sa.Table(name, sa.MetaData(), autoload_with=conn)
    return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*table.primary_key.columns))]


def test_the_oldest_schema_filled_with_data_upgrades_to_the_newest_without_loss(mariadb, database):
    engine = mariadb.engine(database)
    migrate.upgrade(engine, "0001")
    assert migrate.current(engine) == "0001"
    with engine.begin() as conn:
        for name, rows in ROWS_AT_0001.items():
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            conn.execute(sa.insert(table), rows)
        before = {name: table_rows(conn, name) for name in [*ROWS_AT_0001, "namespaces"]}

    migrate.upgrade(engine)

    assert migrate.current(engine) == migrate.head() == "0005"
    with engine.connect() as conn:
        for name, rows in before.items():
            added = {**ADDED_BY_0002.get(name, {}), **ADDED_BY_0004.get(name, {}), **ADDED_BY_0005.get(name, {})}
            expected = [{**row, **added} for row in rows]
            assert table_rows(conn, name) == expected, name
        # 0003 adds the back-off's tables, empty: no failure is carried over from before; 0004 the proxy notices.
        assert table_rows(conn, "login_failures") == table_rows(conn, "login_successes") == []
        assert table_rows(conn, "forwarded_notices") == []
    engine.dispose()


def column_type(type_) -> str:
    """A column's type as MariaDB spells it, without the display widths reflection adds."""
    text = type_.compile(dialect=mysql.dialect())
    return "TINYINT(1)" if text == "BOOL" else re.sub(r"^(INTEGER|BIGINT)\(\d+\)$", r"\1", text)


def test_the_newest_migration_makes_the_tables_the_code_uses(engine):
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    assert tables == set(schema.metadata.tables)
    for name, table in schema.metadata.tables.items():
        columns = {c["name"]: (c["nullable"], column_type(c["type"])) for c in inspector.get_columns(name)}
        assert columns == {c.name: (c.nullable, column_type(c.type)) for c in table.columns}, name
        indexes = {(i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(name)}
        assert {(i.name, tuple(c.name for c in i.columns)) for i in table.indexes} <= indexes, name


def collations(conn) -> dict[str, set[str]]:
    """Each of the code's tables: its own collation and its text columns' ({table: {collation, ...}})."""
    found: dict[str, set[str]] = {name: set() for name in schema.metadata.tables}
    for table, collation in conn.exec_driver_sql(
        "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "UNION SELECT TABLE_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL"
    ):
        if table in found:
            found[table].add(collation)
    return found


def test_names_and_tags_compare_byte_for_byte_and_trailing_spaces_count(engine):
    with engine.connect() as conn:
        assert collations(conn) == {name: {"utf8mb4_nopad_bin"} for name in schema.metadata.tables}


def test_migrating_twice_changes_nothing(engine):
    with engine.connect() as conn:
        before = table_rows(conn, "namespaces")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert table_rows(conn, "namespaces") == before
    assert [row["kind"] for row in before] == ["global"]


# -- 0004: NO PAD names, registry times to the microsecond, proxy notices -------------------
def indexes(conn) -> set[tuple]:
    """Every index of the database: (table, index, unique, position, column)."""
    return set(
        conn.exec_driver_sql(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'alembic_version'"
        ).all()
    )


def downgrade(engine, revision: str) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


@pytest.fixture
def at_0003(mariadb, database):
    """An engine on a database at 0003, filled with ROWS_AT_0001 (the tables as 0001-0003 made them: utf8mb4_bin)."""
    engine = mariadb.engine(database)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:
        for name, rows in ROWS_AT_0001.items():
            conn.execute(sa.insert(sa.Table(name, sa.MetaData(), autoload_with=conn)), rows)
    migrate.upgrade(engine, "0003")
    yield engine
    engine.dispose()


def everything(conn) -> dict[str, list[dict]]:
    return {name: table_rows(conn, name) for name in sa.inspect(conn).get_table_names()}


def test_0004_converts_every_text_column_and_keeps_every_index(at_0003):
    with at_0003.connect() as conn:
        assert {c for found in collations(conn).values() for c in found} == {"utf8mb4_bin"}
        before = indexes(conn)
    migrate.upgrade(at_0003, "0004")
    with at_0003.connect() as conn:
        assert collations(conn) == {name: {"utf8mb4_nopad_bin"} for name in schema.metadata.tables}
        added = {
            ("activities", "ix_activities_repository_action", 1, 1, "repository"),
            ("activities", "ix_activities_repository_action", 1, 2, "action"),
            ("forwarded_notices", "PRIMARY", 0, 1, "peer"),
            ("forwarded_notices", "ix_forwarded_notices_last_seen_ms", 1, 1, "last_seen_ms"),
        }
        assert indexes(conn) == before | added


def test_0004_stopped_part_way_finishes_when_run_again(at_0003):
    """MariaDB commits each ALTER TABLE: a run cut off after some tables must not fail on the next."""
    with at_0003.begin() as conn:
        conn.exec_driver_sql(
            "ALTER TABLE tags CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin, "
            "ADD COLUMN event_at DATETIME(6) NULL"
        )
        conn.exec_driver_sql(
            "ALTER TABLE activities CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin, "
            "MODIFY occurred_at DATETIME(6) NOT NULL, ADD INDEX ix_activities_repository_action (repository, action)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE forwarded_notices (peer VARCHAR(64) PRIMARY KEY, first_seen_ms BIGINT NOT NULL, "
            "last_seen_ms BIGINT NOT NULL, requests BIGINT NOT NULL) COLLATE utf8mb4_nopad_bin"
        )  # and then it stopped, before the table's index
    assert migrate.current(at_0003) == "0003"
    migrate.upgrade(at_0003, "0004")
    assert migrate.current(at_0003) == "0004"
    with at_0003.connect() as conn:
        assert collations(conn) == {name: {"utf8mb4_nopad_bin"} for name in schema.metadata.tables}
        assert ("forwarded_notices", "ix_forwarded_notices_last_seen_ms", 1, 1, "last_seen_ms") in indexes(conn)
        assert table_rows(conn, "tags")[0]["event_at"] is None


def test_after_0004_a_name_with_trailing_spaces_no_longer_finds_the_name(at_0003):
    with at_0003.connect() as conn:  # the code's queries need the newest schema: SQL of its own before
        found = conn.execute(sa.text("SELECT name FROM users WHERE name = :name"), {"name": "alice   "}).scalar()
    assert found == "alice"  # PAD SPACE: the spaces were ignored
    migrate.upgrade(at_0003)
    store = Store(at_0003)
    assert store.get_user("alice   ") is None
    assert store.get_user("alice")["name"] == "alice"
    assert store.get_team("web ") is None and store.get_namespace("web ") is None and store.get_robot("ci ") is None
    assert store.get_repository("web/app ") is None


def test_0004_refuses_names_ending_in_spaces_and_changes_nothing(at_0003):
    with at_0003.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (id, name, password_hash, admin, enabled, created_at, updated_at, password_changed_at) "
            "VALUES (3, 'carol  ', 'x', 0, 1, NOW(), NOW(), NOW())"
        )
        conn.exec_driver_sql(
            "INSERT INTO tags (id, repository_id, name, digest, updated_at) VALUES (3, 1, 'v2 ', 'sha256:3', NOW())"
        )
        before = everything(conn)

    with pytest.raises(Exception, match="migration 0004 changed nothing") as refused:
        migrate.upgrade(at_0003)

    message = str(refused.value)
    assert "users id 3 'carol  '" in message and "tags id 3 'v2 ' in repository 'web/app'" in message
    assert "TRIM(TRAILING ' ' FROM name)" in message and "'dockyard-auth migrate' again" in message
    assert "alice" not in message and "'v1'" not in message
    assert migrate.current(at_0003) == "0003"
    with at_0003.connect() as conn:
        assert everything(conn) == before
        assert {c for found in collations(conn).values() for c in found} == {"utf8mb4_bin"}

    # Done as the message says, the migration goes through.
    with at_0003.begin() as conn:
        conn.exec_driver_sql("UPDATE users SET name = TRIM(TRAILING ' ' FROM name) WHERE id = 3")
        conn.exec_driver_sql("UPDATE tags SET name = TRIM(TRAILING ' ' FROM name) WHERE id = 3")
    migrate.upgrade(at_0003)
    assert migrate.current(at_0003) == migrate.head()
    assert Store(at_0003).get_user("carol")["id"] == 3


def test_0004_downgrades_to_utf8mb4_bin_with_every_row_and_index(at_0003):
    with at_0003.connect() as conn:
        before, before_indexes = everything(conn), indexes(conn)
    migrate.upgrade(at_0003, "0004")
    assert migrate.current(at_0003) == "0004"
    with at_0003.begin() as conn:
        conn.exec_driver_sql("UPDATE activities SET occurred_at = '2026-01-02 03:04:05.678901'")
    downgrade(at_0003, "0003")
    assert migrate.current(at_0003) == "0003"
    with at_0003.connect() as conn:
        assert everything(conn) == before
        assert indexes(conn) == before_indexes
        assert {c for found in collations(conn).values() for c in found} == {"utf8mb4_bin"}


def test_the_downgrade_refuses_names_that_pad_space_would_make_equal(at_0003):
    migrate.upgrade(at_0003, "0004")
    with at_0003.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (id, name, password_hash, admin, enabled, created_at, updated_at, password_changed_at) "
            "VALUES (3, 'alice ', 'x', 0, 1, NOW(), NOW(), NOW())"
        )
        before = everything(conn)
    with pytest.raises(Exception, match="the downgrade from 0004 changed nothing") as refused:
        downgrade(at_0003, "0003")
    assert "users id 1 'alice', id 3 'alice '" in str(refused.value)
    assert migrate.current(at_0003) == "0004"
    with at_0003.connect() as conn:
        assert everything(conn) == before
        assert collations(conn) == {name: {"utf8mb4_nopad_bin"} for name in schema.metadata.tables}


# -- 0005: the managed flag ----------------------------------------------------------------
MANAGED_TABLES = ("users", "teams", "namespaces", "robots")


@pytest.fixture
def at_0004(at_0003):
    """An engine on a database at 0004, filled with ROWS_AT_0001."""
    migrate.upgrade(at_0003, "0004")
    return at_0003


def test_0005_keeps_every_row_and_marks_none_managed(at_0004):
    with at_0004.connect() as conn:
        before, before_indexes = everything(conn), indexes(conn)
    migrate.upgrade(at_0004, "0005")
    assert migrate.current(at_0004) == "0005"
    with at_0004.connect() as conn:
        expected = {
            name: [{**row, "managed": False} for row in rows] if name in MANAGED_TABLES else rows
            for name, rows in before.items()
        }
        expected["alembic_version"] = [{"version_num": "0005"}]
        assert everything(conn) == expected
        assert indexes(conn) == before_indexes
        assert collations(conn) == {name: {"utf8mb4_nopad_bin"} for name in schema.metadata.tables}
    store = Store(at_0004)
    assert store.get_user("alice")["managed"] is False
    assert store.get_namespace("")["managed"] is False  # the global namespace too


def test_after_0005_a_row_written_without_the_flag_is_not_managed(at_0004):
    """A server of the version before, still running during an upgrade, inserts rows without the column."""
    migrate.upgrade(at_0004)
    with at_0004.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (id, name, password_hash, admin, enabled, created_at, updated_at, password_changed_at) "
            "VALUES (3, 'carol', 'x', 0, 1, NOW(), NOW(), NOW())"
        )
        conn.exec_driver_sql("INSERT INTO teams (id, name, description, created_at) VALUES (2, 'ops', '', NOW())")
        managed = conn.exec_driver_sql(
            "SELECT (SELECT managed FROM users WHERE id = 3), (SELECT managed FROM teams WHERE id = 2)"
        ).one()
    assert tuple(managed) == (0, 0)


def test_0005_stopped_part_way_finishes_when_run_again(at_0004):
    with at_0004.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE users ADD COLUMN managed BOOLEAN NOT NULL DEFAULT 0")
        conn.exec_driver_sql("UPDATE users SET managed = 1 WHERE name = 'alice'")
    migrate.upgrade(at_0004)
    assert migrate.current(at_0004) == "0005"
    with at_0004.connect() as conn:
        assert [(row["name"], row["managed"]) for row in table_rows(conn, "users")] == [("alice", 1), ("bob", 0)]
        assert {row["managed"] for name in MANAGED_TABLES for row in table_rows(conn, name) if name != "users"} == {0}


def test_0005_downgrades_to_0004_with_every_row(at_0004):
    with at_0004.connect() as conn:
        before, before_indexes = everything(conn), indexes(conn)
    migrate.upgrade(at_0004, "0005")
    with at_0004.begin() as conn:
        conn.exec_driver_sql("UPDATE robots SET managed = 1")
    downgrade(at_0004, "0004")
    assert migrate.current(at_0004) == "0004"
    with at_0004.connect() as conn:
        assert everything(conn) == before
        assert indexes(conn) == before_indexes

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migrations on a real MariaDB: an old database filled with data upgrades without losing any of it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from dockyard_auth import migrate, schema

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

    assert migrate.current(engine) == migrate.head() == "0003"
    with engine.connect() as conn:
        for name, rows in before.items():
            expected = [{**row, **ADDED_BY_0002.get(name, {})} for row in rows]
            assert table_rows(conn, name) == expected, name
        # 0003 adds the back-off's tables, empty: no failure is carried over from before.
        assert table_rows(conn, "login_failures") == table_rows(conn, "login_successes") == []
    engine.dispose()


def test_the_newest_migration_makes_the_tables_the_code_uses(engine):
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    assert tables == set(schema.metadata.tables)
    for name, table in schema.metadata.tables.items():
        columns = {c["name"]: c["nullable"] for c in inspector.get_columns(name)}
        assert columns == {c.name: c.nullable for c in table.columns}, name


def test_names_and_tags_compare_byte_for_byte(engine):
    with engine.connect() as conn:
        collations = conn.exec_driver_sql(
            "SELECT DISTINCT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        ).scalars()
        assert set(collations) == {"utf8mb4_bin"}


def test_migrating_twice_changes_nothing(engine):
    with engine.connect() as conn:
        before = table_rows(conn, "namespaces")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert table_rows(conn, "namespaces") == before
    assert [row["kind"] for row in before] == ["global"]

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything the server reads from and writes to the database.

Each method is one transaction. Rows come back as plain dicts (the column
names of :mod:`dockyard_auth.schema`), so the callers never hold a connection.
Lookups by name are byte-exact: the tables use the binary NO PAD collation, so
trailing spaces count (``alice   `` is not ``alice``).

Tags change in the order of the registry's times, not of arrival: each tag
keeps the time of the event (or sync run) that set it, and the deletes stay
recorded as activities; :func:`dockyard_auth.notifications.event_applies`
decides whether an event is newer than what is known, the methods here read
and write under row locks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.mysql import insert as upsert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from dockyard_auth import schema as t
from dockyard_auth.notifications import event_applies
from dockyard_auth.permissions import (
    REPOSITORY_ACTIONS,
    NamespaceKind,
    Role,
    Visibility,
)

GLOBAL = ""  # the global namespace's name in the table


# How to empty a namespace so that it can be deleted (see sync.py: a repository listed without tags is forgotten).
EMPTY_FIRST = (
    "Delete every tag of those repositories in the registry (skopeo delete, or the registry's manifest DELETE), "
    "then run 'dockyard-auth sync --strategy update-delete', which forgets repositories left without tags"
)


class StoreError(Exception):
    """A request the data does not allow; ``status`` is the HTTP status to answer with."""

    status = 400


class NotFound(StoreError):
    status = 404


class Conflict(StoreError):
    status = 409


def utcnow() -> dt.datetime:
    """Naive UTC with microseconds dropped: what a DATETIME column stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


# MariaDB's "deadlock found" and "lock wait timeout": the transaction was
# rolled back and may simply be run again.
RETRYABLE = (1213, 1205)


@dataclass(frozen=True)
class Page:
    items: list[dict]
    total: int
    offset: int
    limit: int


def _row(row) -> dict | None:
    return dict(row._mapping) if row is not None else None


def _page(conn: Connection, query, count_query, offset: int, limit: int) -> Page:
    total = conn.execute(count_query).scalar_one()
    rows = conn.execute(query.offset(offset).limit(limit)).all()
    return Page([dict(r._mapping) for r in rows], total, offset, limit)


def _in_namespace(namespace: str):
    """A repository lies in ``namespace`` (not the global one): its name's first component is ``namespace``, whole."""
    escaped = namespace.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return t.repositories.c.name.like(escaped + "/%", escape="\\")


def actions_text(actions: Iterable[str]) -> str:
    return ",".join(sorted(set(actions)))


def actions_set(text: str) -> frozenset[str]:
    return frozenset(a for a in text.split(",") if a)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- health -------------------------------------------------------------
    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    # -- users --------------------------------------------------------------
    def get_user(self, name: str) -> dict | None:
        with self.engine.connect() as conn:
            return _row(conn.execute(select(t.users).where(t.users.c.name == name)).first())

    def admin_exists(self) -> bool:
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(t.users).where(t.users.c.admin.is_(True))
            return conn.execute(query).scalar_one() > 0

    def create_user(
        self, name: str, password_hash: str, admin: bool = False, enabled: bool = True, managed: bool = False
    ) -> dict:
        """A user and their personal namespace (private), in one transaction.

        ``managed`` marks the user as declared by a tool; their personal namespace starts unmarked.
        """
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(t.namespaces.c.id).where(t.namespaces.c.name == name)).first():
                    raise Conflict(f"a namespace called {name!r} exists already: choose another user name")
                user_id = conn.execute(
                    insert(t.users).values(
                        name=name,
                        password_hash=password_hash,
                        admin=admin,
                        enabled=enabled,
                        managed=managed,
                        created_at=now,
                        updated_at=now,
                        password_changed_at=now,
                    )
                ).inserted_primary_key[0]
                conn.execute(
                    insert(t.namespaces).values(
                        name=name,
                        kind=NamespaceKind.PERSONAL.value,
                        visibility=Visibility.PRIVATE.value,
                        user_id=user_id,
                        description=f"personal namespace of {name}",
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"user {name!r} exists already") from exc
        return self.get_user(name)

    def update_user(self, name: str, **changes) -> dict:
        allowed = {"password_hash", "admin", "enabled", "managed"}
        values = {k: v for k, v in changes.items() if k in allowed and v is not None}
        now = utcnow()
        values["updated_at"] = now
        if "password_hash" in values:
            values["password_changed_at"] = now
        with self.engine.begin() as conn:
            result = conn.execute(update(t.users).where(t.users.c.name == name).values(**values))
            if result.rowcount == 0:
                raise NotFound(f"no user {name!r}")
        return self.get_user(name)

    def delete_user(self, name: str) -> None:
        """A user and their personal namespace; refused (Conflict) while that namespace holds repositories."""
        with self.engine.begin() as conn:
            user = conn.execute(select(t.users.c.id).where(t.users.c.name == name)).first()
            if user is None:
                raise NotFound(f"no user {name!r}")
            self._refuse_deleting_a_user_with_repositories(conn, name, user.id)
            conn.execute(delete(t.users).where(t.users.c.id == user.id))

    def _refuse_deleting_a_user_with_repositories(self, conn: Connection, name: str, user_id: int) -> None:
        personal = conn.execute(select(t.namespaces.c.name).where(t.namespaces.c.user_id == user_id)).scalars()
        for namespace in personal:
            held = self._repositories_held(conn, namespace)
            if held:
                raise Conflict(
                    f"user {name!r} cannot be deleted: their personal namespace {namespace!r} holds {held}, "
                    "which a namespace or user created later under that name would get. Disable the user instead, "
                    f"or first: {EMPTY_FIRST[0].lower()}{EMPTY_FIRST[1:]}"
                )

    def _repositories_held(self, conn: Connection, namespace: str) -> str:
        """How many repositories lie in ``namespace``, and the first five names, for a message ("" when none).

        The rows read are share-locked until the transaction ends, so a
        repository added meanwhile waits for the namespace's fate.
        """
        inside = _in_namespace(namespace)
        count = conn.execute(
            select(func.count()).select_from(t.repositories).where(inside).with_for_update(read=True)
        ).scalar_one()
        if count == 0:
            return ""
        first = conn.execute(
            select(t.repositories.c.name).where(inside).order_by(t.repositories.c.name).limit(5)
        ).scalars()
        more = ", ..." if count > 5 else ""
        return f"{count} repositor{'y' if count == 1 else 'ies'} ({', '.join(first)}{more})"

    def list_users(self, offset: int, limit: int) -> Page:
        with self.engine.connect() as conn:
            return _page(
                conn,
                select(t.users).order_by(t.users.c.name),
                select(func.count()).select_from(t.users),
                offset,
                limit,
            )

    # -- teams and members --------------------------------------------------
    def get_team(self, name: str) -> dict | None:
        with self.engine.connect() as conn:
            return _row(conn.execute(select(t.teams).where(t.teams.c.name == name)).first())

    def create_team(self, name: str, description: str = "", managed: bool = False) -> dict:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t.teams).values(name=name, description=description, managed=managed, created_at=utcnow())
                )
        except IntegrityError as exc:
            raise Conflict(f"team {name!r} exists already") from exc
        return self.get_team(name)

    def update_team(self, name: str, description: str | None = None, managed: bool | None = None) -> dict:
        """Change what is given (None: keep it)."""
        values = {
            key: value for key, value in (("description", description), ("managed", managed)) if value is not None
        }
        with self.engine.begin() as conn:
            team = self._team_id(conn, name)
            if values:
                conn.execute(update(t.teams).where(t.teams.c.id == team).values(**values))
        return self.get_team(name)

    def delete_team(self, name: str) -> None:
        with self.engine.begin() as conn:
            team = self._team_id(conn, name)
            owned = conn.execute(select(t.namespaces.c.name).where(t.namespaces.c.team_id == team)).scalars().all()
            if owned:
                raise Conflict(f"team {name!r} owns namespaces {', '.join(owned)}: delete or move them first")
            conn.execute(delete(t.teams).where(t.teams.c.id == team))

    def list_teams(self, offset: int, limit: int) -> Page:
        with self.engine.connect() as conn:
            return _page(
                conn,
                select(t.teams).order_by(t.teams.c.name),
                select(func.count()).select_from(t.teams),
                offset,
                limit,
            )

    def _team_id(self, conn: Connection, name: str) -> int:
        team = conn.execute(select(t.teams.c.id).where(t.teams.c.name == name)).first()
        if team is None:
            raise NotFound(f"no team {name!r}")
        return team.id

    def _user_id(self, conn: Connection, name: str) -> int:
        user = conn.execute(select(t.users.c.id).where(t.users.c.name == name)).first()
        if user is None:
            raise NotFound(f"no user {name!r}")
        return user.id

    def set_member(self, team: str, user: str, role: Role) -> dict:
        """Add a member or change their role."""
        with self.engine.begin() as conn:
            team_id, user_id = self._team_id(conn, team), self._user_id(conn, user)
            key = and_(t.team_members.c.team_id == team_id, t.team_members.c.user_id == user_id)
            if conn.execute(update(t.team_members).where(key).values(role=role.value)).rowcount == 0:
                existing = conn.execute(select(t.team_members.c.role).where(key)).first()
                if existing is None:
                    conn.execute(
                        insert(t.team_members).values(
                            team_id=team_id, user_id=user_id, role=role.value, created_at=utcnow()
                        )
                    )
        return {"team": team, "user": user, "role": role.value}

    def remove_member(self, team: str, user: str) -> None:
        with self.engine.begin() as conn:
            team_id, user_id = self._team_id(conn, team), self._user_id(conn, user)
            key = and_(t.team_members.c.team_id == team_id, t.team_members.c.user_id == user_id)
            if conn.execute(delete(t.team_members).where(key)).rowcount == 0:
                raise NotFound(f"{user!r} is not a member of team {team!r}")

    def list_members(self, team: str, offset: int, limit: int) -> Page:
        with self.engine.connect() as conn:
            team_id = self._team_id(conn, team)
            query = (
                select(t.users.c.name.label("user"), t.team_members.c.role)
                .join(t.users, t.users.c.id == t.team_members.c.user_id)
                .where(t.team_members.c.team_id == team_id)
                .order_by(t.users.c.name)
            )
            count = select(func.count()).select_from(t.team_members).where(t.team_members.c.team_id == team_id)
            return _page(conn, query, count, offset, limit)

    # -- namespaces ---------------------------------------------------------
    def _namespace_query(self):
        return (
            select(
                t.namespaces.c.id,
                t.namespaces.c.name,
                t.namespaces.c.kind,
                t.namespaces.c.visibility,
                t.namespaces.c.description,
                t.namespaces.c.managed,
                t.namespaces.c.created_at,
                t.teams.c.name.label("team"),
                t.users.c.name.label("owner"),
            )
            .outerjoin(t.teams, t.teams.c.id == t.namespaces.c.team_id)
            .outerjoin(t.users, t.users.c.id == t.namespaces.c.user_id)
        )

    def get_namespace(self, name: str) -> dict | None:
        with self.engine.connect() as conn:
            return _row(conn.execute(self._namespace_query().where(t.namespaces.c.name == name)).first())

    def create_namespace(
        self, name: str, team: str, visibility: Visibility, description: str = "", managed: bool = False
    ) -> dict:
        try:
            with self.engine.begin() as conn:
                team_id = self._team_id(conn, team)
                if conn.execute(select(t.users.c.id).where(t.users.c.name == name)).first():
                    raise Conflict(f"{name!r} is a user's personal namespace: choose another name")
                conn.execute(
                    insert(t.namespaces).values(
                        name=name,
                        kind=NamespaceKind.TEAM.value,
                        visibility=visibility.value,
                        team_id=team_id,
                        description=description,
                        managed=managed,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"namespace {name!r} exists already") from exc
        return self.get_namespace(name)

    def update_namespace(
        self,
        name: str,
        visibility: Visibility | None = None,
        description: str | None = None,
        team: str | None = None,
        managed: bool | None = None,
    ) -> dict:
        with self.engine.begin() as conn:
            row = conn.execute(select(t.namespaces).where(t.namespaces.c.name == name)).first()
            if row is None:
                raise NotFound(f"no namespace {name!r}")
            values: dict = {}
            if visibility is not None:
                values["visibility"] = visibility.value
            if description is not None:
                values["description"] = description
            if managed is not None:
                values["managed"] = managed
            if team is not None:
                if row.kind != NamespaceKind.TEAM.value:
                    raise StoreError(f"namespace {name!r} is {row.kind}: only a team's namespace changes team")
                values["team_id"] = self._team_id(conn, team)
            if values:
                conn.execute(update(t.namespaces).where(t.namespaces.c.id == row.id).values(**values))
        return self.get_namespace(name)

    def delete_namespace(self, name: str) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(select(t.namespaces).where(t.namespaces.c.name == name)).first()
            if row is None:
                raise NotFound(f"no namespace {name!r}")
            if row.kind != NamespaceKind.TEAM.value:
                raise Conflict(f"namespace {name!r} is {row.kind}: it goes only with its user (or never, if global)")
            held = self._repositories_held(conn, name)
            if held:
                raise Conflict(
                    f"namespace {name!r} cannot be deleted: it holds {held}, which a namespace or user created "
                    f"later under that name would get. {EMPTY_FIRST}, or keep the namespace"
                )
            conn.execute(delete(t.namespaces).where(t.namespaces.c.id == row.id))

    def list_namespaces(self, offset: int, limit: int) -> Page:
        with self.engine.connect() as conn:
            return _page(
                conn,
                self._namespace_query().order_by(t.namespaces.c.name),
                select(func.count()).select_from(t.namespaces),
                offset,
                limit,
            )

    # -- robots -------------------------------------------------------------
    def get_robot(self, name: str) -> dict | None:
        with self.engine.connect() as conn:
            return _row(conn.execute(select(t.robots).where(t.robots.c.name == name)).first())

    def create_robot(
        self,
        name: str,
        secret_hash: str,
        description: str = "",
        api_admin: bool = False,
        expires_at: dt.datetime | None = None,
        managed: bool = False,
    ) -> dict:
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t.robots).values(
                        name=name,
                        secret_hash=secret_hash,
                        description=description,
                        enabled=True,
                        api_admin=api_admin,
                        expires_at=expires_at,
                        managed=managed,
                        created_at=now,
                        secret_changed_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"robot {name!r} exists already") from exc
        return self.get_robot(name)

    def update_robot(self, name: str, **changes) -> dict:
        allowed = {"secret_hash", "description", "enabled", "api_admin", "expires_at", "managed"}
        values = {k: v for k, v in changes.items() if k in allowed}
        if "secret_hash" in values:
            values["secret_changed_at"] = utcnow()
        with self.engine.begin() as conn:
            robot = conn.execute(select(t.robots.c.id).where(t.robots.c.name == name)).first()
            if robot is None:
                raise NotFound(f"no robot {name!r}")
            if values:
                conn.execute(update(t.robots).where(t.robots.c.id == robot.id).values(**values))
        return self.get_robot(name)

    def delete_robot(self, name: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(delete(t.robots).where(t.robots.c.name == name)).rowcount == 0:
                raise NotFound(f"no robot {name!r}")

    def list_robots(self, offset: int, limit: int) -> Page:
        with self.engine.connect() as conn:
            return _page(
                conn,
                select(t.robots).order_by(t.robots.c.name),
                select(func.count()).select_from(t.robots),
                offset,
                limit,
            )

    def set_robot_permission(self, robot: str, namespace: str, actions: Iterable[str]) -> dict:
        """Grant exactly ``actions`` on a namespace (an empty set removes the grant)."""
        wanted = frozenset(actions)
        if not wanted <= REPOSITORY_ACTIONS:
            raise StoreError(f"actions {sorted(wanted - REPOSITORY_ACTIONS)} unknown: use pull, push, delete")
        with self.engine.begin() as conn:
            robot_row = conn.execute(select(t.robots.c.id).where(t.robots.c.name == robot)).first()
            if robot_row is None:
                raise NotFound(f"no robot {robot!r}")
            ns = conn.execute(select(t.namespaces.c.id).where(t.namespaces.c.name == namespace)).first()
            if ns is None:
                raise NotFound(f"no namespace {namespace!r}")
            key = and_(t.robot_permissions.c.robot_id == robot_row.id, t.robot_permissions.c.namespace_id == ns.id)
            conn.execute(delete(t.robot_permissions).where(key))
            if wanted:
                conn.execute(
                    insert(t.robot_permissions).values(
                        robot_id=robot_row.id, namespace_id=ns.id, actions=actions_text(wanted)
                    )
                )
        return {"robot": robot, "namespace": namespace, "actions": sorted(wanted)}

    def robot_permissions(self, robot: str) -> list[dict]:
        with self.engine.connect() as conn:
            robot_row = conn.execute(select(t.robots.c.id).where(t.robots.c.name == robot)).first()
            if robot_row is None:
                raise NotFound(f"no robot {robot!r}")
            rows = conn.execute(
                select(t.namespaces.c.name, t.robot_permissions.c.actions)
                .join(t.namespaces, t.namespaces.c.id == t.robot_permissions.c.namespace_id)
                .where(t.robot_permissions.c.robot_id == robot_row.id)
                .order_by(t.namespaces.c.name)
            ).all()
        return [{"namespace": r.name, "actions": sorted(actions_set(r.actions))} for r in rows]

    # -- repositories, tags, activities --------------------------------------
    def ensure_repository(self, conn: Connection, name: str) -> int:
        """The repository's id, created if new; its update time is now."""
        return self._repository_id(conn, name, utcnow())

    def _repository_id(self, conn: Connection, name: str, now: dt.datetime) -> int:
        row = conn.execute(select(t.repositories.c.id).where(t.repositories.c.name == name)).first()
        if row is not None:
            conn.execute(update(t.repositories).where(t.repositories.c.id == row.id).values(updated_at=now))
            return row.id
        return conn.execute(
            insert(t.repositories).values(name=name, created_at=now, updated_at=now)
        ).inserted_primary_key[0]

    def put_tag(
        self,
        conn: Connection,
        repository: str,
        tag: str,
        digest: str,
        media_type: str,
        at: dt.datetime,
        unless_changed_since: dt.datetime | None = None,
    ) -> bool:
        """Point a tag at a digest as of ``at``, the registry's time of the push (or the sync run's start).

        Left alone (False) when the server knows something newer (see
        :func:`~dockyard_auth.notifications.event_applies`): the tag was set at a
        later time, or a later delete of the tag, of the digest or of the whole
        repository is recorded; with ``unless_changed_since``, also when the tag
        changed (server time) since then. The repository is created or touched
        only when the tag is set.
        """
        # The deletes first: a delete under way holds the tag's row and has its activity in already.
        deleted_at = self._latest_delete(conn, repository, tag, digest)
        repo_id = conn.execute(select(t.repositories.c.id).where(t.repositories.c.name == repository)).scalar()
        current = None
        if repo_id is not None:
            key = and_(t.tags.c.repository_id == repo_id, t.tags.c.name == tag)
            current = conn.execute(
                select(t.tags.c.id, t.tags.c.updated_at, t.tags.c.event_at).where(key).with_for_update()
            ).first()
        if not event_applies("push", at, current.event_at if current else None, deleted_at):
            return False
        if current is not None and unless_changed_since is not None and current.updated_at >= unless_changed_since:
            return False
        now = utcnow()
        repo_id = self._repository_id(conn, repository, now)
        values = {"digest": digest, "media_type": media_type or "", "updated_at": now, "event_at": at}
        if current is None:
            conn.execute(insert(t.tags).values(repository_id=repo_id, name=tag, **values))
        else:
            conn.execute(update(t.tags).where(t.tags.c.id == current.id).values(**values))
        return True

    def _latest_delete(self, conn: Connection, repository: str, tag: str, digest: str) -> dt.datetime | None:
        """The registry's time of the latest delete recorded of this tag, of this digest or of the whole repository.

        A locking read: it sees the latest committed deletes, waits for one
        being recorded, and holds off new ones until this transaction ends.
        """
        a = t.activities
        covers = or_(a.c.tag == tag, and_(a.c.tag.is_(None), or_(a.c.digest.is_(None), a.c.digest == digest)))
        query = select(func.max(a.c.occurred_at)).where(a.c.repository == repository, a.c.action == "delete", covers)
        return conn.execute(query.with_for_update(read=True)).scalar()

    def record_event(self, activity: dict, change) -> bool:
        """Store an activity and apply its change to repositories/tags, once per event id.

        ``change`` is called with the open connection; the whole is one
        transaction, run again when events for one repository at once collide
        (a deadlock, or both creating the same repository or tag). Returns
        False when the event was seen before (nothing changes).
        """

        def run() -> None:
            with self.engine.begin() as conn:
                conn.execute(insert(t.activities).values(**activity, recorded_at=utcnow()))
                if change is not None:
                    change(conn)

        attempts = 3
        for attempt in range(attempts):
            try:
                retrying(run)
                return True
            except IntegrityError:
                if self.event_seen(activity["event_id"]):
                    return False
                if attempt == attempts - 1:
                    raise
        return True  # not reached: the last attempt returned or raised

    def event_seen(self, event_id: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(select(t.activities.c.id).where(t.activities.c.event_id == event_id)).first() is not None
            )

    def apply_change(self, change) -> None:
        with self.engine.begin() as conn:
            change(conn)

    def delete_tag(
        self,
        conn: Connection,
        repository: str,
        tag: str,
        at: dt.datetime,
        unless_changed_since: dt.datetime | None = None,
    ) -> bool:
        """Remove a tag as of ``at`` (registry time); True when it went.

        A tag set after ``at`` stays, and so, with ``unless_changed_since``, does
        a tag changed (server time) since then.
        """
        repo_id = conn.execute(select(t.repositories.c.id).where(t.repositories.c.name == repository)).scalar()
        if repo_id is None:
            return False
        key = and_(t.tags.c.repository_id == repo_id, t.tags.c.name == tag)
        row = conn.execute(
            select(t.tags.c.id, t.tags.c.updated_at, t.tags.c.event_at).where(key).with_for_update()
        ).first()
        if row is None or not event_applies("delete", at, row.event_at):
            return False
        if unless_changed_since is not None and row.updated_at >= unless_changed_since:
            return False
        return conn.execute(delete(t.tags).where(t.tags.c.id == row.id)).rowcount > 0

    def delete_digest(self, conn: Connection, repository: str, digest: str, at: dt.datetime) -> None:
        """Remove the tags of a digest as of ``at`` (registry time); a tag set after that stays."""
        repo_id = conn.execute(select(t.repositories.c.id).where(t.repositories.c.name == repository)).scalar()
        if repo_id is not None:
            self._delete_tags_as_of(conn, repo_id, at, t.tags.c.digest == digest)

    def delete_repository_as_of(self, conn: Connection, repository: str, at: dt.datetime) -> None:
        """Remove a repository as of ``at`` (registry time): a tag set after that stays, and with it the repository."""
        repo_id = conn.execute(select(t.repositories.c.id).where(t.repositories.c.name == repository)).scalar()
        if repo_id is None:
            return
        self._delete_tags_as_of(conn, repo_id, at)
        if conn.execute(select(t.tags.c.id).where(t.tags.c.repository_id == repo_id).limit(1)).first() is None:
            conn.execute(delete(t.repositories).where(t.repositories.c.id == repo_id))

    def _delete_tags_as_of(self, conn: Connection, repo_id: int, at: dt.datetime, *conditions) -> None:
        rows = conn.execute(
            select(t.tags.c.id, t.tags.c.event_at)
            .where(t.tags.c.repository_id == repo_id, *conditions)
            .order_by(t.tags.c.id)
            .with_for_update()
        ).all()
        gone = [row.id for row in rows if event_applies("delete", at, row.event_at)]
        if gone:
            conn.execute(delete(t.tags).where(t.tags.c.id.in_(gone)))

    def delete_repository_if_unchanged(self, conn: Connection, repository: str, since: dt.datetime) -> bool:
        """Delete a repository with no tags that nothing changed since ``since`` (for the sync)."""
        row = conn.execute(select(t.repositories).where(t.repositories.c.name == repository)).first()
        if row is None or row.updated_at >= since:
            return False
        if conn.execute(select(t.tags.c.id).where(t.tags.c.repository_id == row.id)).first() is not None:
            return False
        conn.execute(delete(t.repositories).where(t.repositories.c.id == row.id))
        return True

    def delete_repository(self, conn: Connection, repository: str) -> None:
        conn.execute(delete(t.repositories).where(t.repositories.c.name == repository))

    def list_repositories(self, offset: int, limit: int, namespace: str | None = None) -> Page:
        query = select(t.repositories).order_by(t.repositories.c.name)
        count = select(func.count()).select_from(t.repositories)
        if namespace is not None:
            cond = t.repositories.c.name.notlike("%/%") if namespace == GLOBAL else _in_namespace(namespace)
            query, count = query.where(cond), count.where(cond)
        with self.engine.connect() as conn:
            return _page(conn, query, count, offset, limit)

    def get_repository(self, name: str) -> dict | None:
        with self.engine.connect() as conn:
            return _row(conn.execute(select(t.repositories).where(t.repositories.c.name == name)).first())

    def list_tags(self, repository: str, offset: int, limit: int) -> Page:
        with self.engine.connect() as conn:
            repo_id = conn.execute(select(t.repositories.c.id).where(t.repositories.c.name == repository)).scalar()
            if repo_id is None:
                raise NotFound(f"no repository {repository!r}")
            query = (
                select(t.tags.c.name, t.tags.c.digest, t.tags.c.media_type, t.tags.c.updated_at)
                .where(t.tags.c.repository_id == repo_id)
                .order_by(t.tags.c.name)
            )
            count = select(func.count()).select_from(t.tags).where(t.tags.c.repository_id == repo_id)
            return _page(conn, query, count, offset, limit)

    def list_activities(self, offset: int, limit: int, repository: str | None = None, actor: str | None = None) -> Page:
        query = select(t.activities).order_by(t.activities.c.occurred_at.desc(), t.activities.c.id.desc())
        count = select(func.count()).select_from(t.activities)
        for column, value in ((t.activities.c.repository, repository), (t.activities.c.actor, actor)):
            if value is not None:
                query, count = query.where(column == value), count.where(column == value)
        with self.engine.connect() as conn:
            return _page(conn, query, count, offset, limit)

    def all_tags(self) -> dict[str, dict[str, tuple[str, dt.datetime]]]:
        """Every repository's tags: {repository: {tag: (digest, updated_at)}} (for the catalog sync)."""
        with self.engine.connect() as conn:
            repos = {r.id: r.name for r in conn.execute(select(t.repositories.c.id, t.repositories.c.name))}
            result: dict[str, dict[str, tuple[str, dt.datetime]]] = {name: {} for name in repos.values()}
            for tag in conn.execute(
                select(t.tags.c.repository_id, t.tags.c.name, t.tags.c.digest, t.tags.c.updated_at)
            ):
                result[repos[tag.repository_id]][tag.name] = (tag.digest, tag.updated_at)
        return result

    # -- for the admin API ----------------------------------------------------
    def get_member(self, team: str, user: str) -> dict | None:
        """``{"team", "user", "role"}`` when the user is in the team, None when not; NotFound if either is missing."""
        with self.engine.connect() as conn:
            team_id, user_id = self._team_id(conn, team), self._user_id(conn, user)
            role = conn.execute(
                select(t.team_members.c.role).where(
                    t.team_members.c.team_id == team_id, t.team_members.c.user_id == user_id
                )
            ).scalar()
        return None if role is None else {"team": team, "user": user, "role": role}

    def _keep_an_admin(self, conn: Connection, name: str, doing: str) -> None:
        """Refuse (Conflict) when ``name`` is the only enabled admin.

        The enabled admins' rows are locked (in primary-key order, so two such
        transactions queue up instead of deadlocking) until the caller's
        transaction ends: two requests disabling the last two admins at once
        cannot both pass.
        """
        admins = (
            conn.execute(
                select(t.users.c.name)
                .where(t.users.c.admin.is_(True), t.users.c.enabled.is_(True))
                .order_by(t.users.c.id)
                .with_for_update()
            )
            .scalars()
            .all()
        )
        if admins == [name]:
            raise Conflict(f"{name!r} is the last enabled admin: make another user an admin before you {doing} it")

    def update_user_keeping_an_admin(
        self,
        name: str,
        password_hash: str | None = None,
        admin: bool | None = None,
        enabled: bool | None = None,
        managed: bool | None = None,
    ) -> dict:
        """:meth:`update_user`, refused (Conflict) when it would leave no enabled admin."""
        with self.engine.begin() as conn:
            if admin is False or enabled is False:
                doing = "disable" if enabled is False else "take admin away from"
                self._keep_an_admin(conn, name, doing)
            values: dict = {"updated_at": utcnow()}
            if password_hash is not None:
                values["password_hash"] = password_hash
                values["password_changed_at"] = values["updated_at"]
            if admin is not None:
                values["admin"] = admin
            if enabled is not None:
                values["enabled"] = enabled
            if managed is not None:
                values["managed"] = managed
            if conn.execute(update(t.users).where(t.users.c.name == name).values(**values)).rowcount == 0:
                raise NotFound(f"no user {name!r}")
        return self.get_user(name)

    def delete_user_keeping_an_admin(self, name: str) -> None:
        """:meth:`delete_user`, refused (Conflict) also when it would leave no enabled admin."""
        with self.engine.begin() as conn:
            self._keep_an_admin(conn, name, "delete")
            user_id = self._user_id(conn, name)
            self._refuse_deleting_a_user_with_repositories(conn, name, user_id)
            conn.execute(delete(t.users).where(t.users.c.id == user_id))

    # Proxy notices, for /healthz.

    def note_forwarded(self, peer: str, now_ms: int) -> None:
        """Note a request from ``peer`` (an IP address): a new row, or one more request and the time seen last."""
        table = t.forwarded_notices
        noted = upsert(table).values(peer=peer, first_seen_ms=now_ms, last_seen_ms=now_ms, requests=1)
        noted = noted.on_duplicate_key_update(
            requests=table.c.requests + 1, last_seen_ms=func.greatest(table.c.last_seen_ms, now_ms)
        )
        retrying(lambda: self._execute(noted))

    def forwarded_since(self, since_ms: int) -> list[dict]:
        """The peers noted at or after ``since_ms``, the one seen last first."""
        table = t.forwarded_notices
        query = (
            select(table.c.peer, table.c.first_seen_ms, table.c.last_seen_ms, table.c.requests)
            .where(table.c.last_seen_ms >= since_ms)
            .order_by(table.c.last_seen_ms.desc(), table.c.peer)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def _execute(self, statement) -> None:
        with self.engine.begin() as conn:
            conn.execute(statement)


def retrying(run: Callable, attempts: int = 3):
    """Run a transaction again when MariaDB rolled it back for a deadlock or a lock wait.

    The one transaction helper of the store and of the back-off's records (logins.py).
    """
    for attempt in range(attempts):
        try:
            return run()
        except OperationalError as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            if code not in RETRYABLE or attempt == attempts - 1:
                raise
    return None

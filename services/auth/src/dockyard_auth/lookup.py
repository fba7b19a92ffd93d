# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a token request reads from the database: the account and how it stands to the namespaces asked for.

One statement per request, read through a :class:`~dockyard_auth.database.Reader`
(one round trip, autocommit, so it sees every change committed before it).
Nothing about accounts or permissions is kept between requests: the stored
hash, the enabled flag, a robot's expiry, team roles and grants are read on
every request, so a changed password, a disabled account or a removed grant
counts from the very next request, in every worker of every server. Only the
bcrypt check itself is skipped for a recently verified password (see
:class:`~dockyard_auth.passwords.CredentialCache`), and its key holds the
stored hash this statement reads.

Turning the rows into accounts and namespace views is pure (no I/O), and
tested as such.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dockyard_auth.database import Reader
from dockyard_auth.permissions import NamespaceKind, NamespaceView, Role, Subject, SubjectKind, Visibility

# PyMySQL parameters; {namespaces} is the join's condition, NAMESPACES_IN or FALSE when none is asked for.
NAMESPACES_IN = "n.name IN %(namespaces)s"

USER_STATEMENT = """
SELECT u.password_hash, u.enabled, u.admin, u.id, n.name, n.kind, n.visibility, n.user_id, m.role
FROM users AS u
LEFT JOIN namespaces AS n ON {namespaces}
LEFT JOIN team_members AS m ON m.team_id = n.team_id AND m.user_id = u.id
WHERE u.name = %(name)s
"""

ROBOT_STATEMENT = """
SELECT r.secret_hash, r.enabled, r.expires_at, r.id, n.name, n.kind, n.visibility, n.user_id, p.actions
FROM robots AS r
LEFT JOIN namespaces AS n ON {namespaces}
LEFT JOIN robot_permissions AS p ON p.robot_id = r.id AND p.namespace_id = n.id
WHERE r.name = %(name)s
"""

ANONYMOUS_STATEMENT = "SELECT n.name, n.kind, n.visibility FROM namespaces AS n WHERE n.name IN %(namespaces)s"

_STATEMENTS = {
    (kind, bool(asked)): statement.format(namespaces=NAMESPACES_IN if asked else "FALSE")
    for kind, statement in ((SubjectKind.USER, USER_STATEMENT), (SubjectKind.ROBOT, ROBOT_STATEMENT))
    for asked in (True, False)
}


@dataclass(frozen=True)
class Account:
    """A user or robot as authentication needs it."""

    kind: SubjectKind
    name: str
    stored_hash: str
    usable: bool  # may log in: enabled, and for a robot not expired
    admin: bool = False

    def subject(self) -> Subject:
        return Subject(self.kind, name=self.name, admin=self.admin)


@dataclass(frozen=True)
class Standing:
    """The account behind a login (None: there is none) and how it stands to each namespace asked for."""

    account: Account | None
    views: dict[str, NamespaceView | None]


def _actions(text: str | None) -> frozenset[str]:
    return frozenset(a for a in (text or "").split(",") if a)


def standing_from_rows(
    kind: SubjectKind, name: str, rows: Sequence[Sequence], namespaces: Iterable[str], now: dt.datetime
) -> Standing:
    """The Standing of a user's or robot's rows (USER_STATEMENT, ROBOT_STATEMENT); ``now`` is naive UTC.

    No rows: no such account. Each row holds the account's columns, then one
    namespace asked for that exists (NULL when none does) with the account's
    role in its team (users) or its grant there (robots).
    """
    views: dict[str, NamespaceView | None] = dict.fromkeys(namespaces)
    if not rows:
        return Standing(None, views)
    stored_hash, enabled, flag, account_id = rows[0][:4]
    if kind == SubjectKind.ROBOT:
        usable = bool(enabled) and (flag is None or flag > now)  # flag: expires_at
        account = Account(kind, name, stored_hash, usable)
    else:
        account = Account(kind, name, stored_hash, bool(enabled), admin=bool(flag))
    for row in rows:
        namespace, ns_kind, visibility, owner_id, extra = row[4:9]
        if namespace is None:
            continue
        robot = kind == SubjectKind.ROBOT
        views[namespace] = NamespaceView(
            kind=NamespaceKind(ns_kind),
            visibility=Visibility(visibility),
            role=Role(extra) if extra and not robot else None,
            is_owner=not robot and owner_id == account_id,
            robot_actions=_actions(extra) if robot else frozenset(),
        )
    return Standing(account, views)


def anonymous_views(rows: Sequence[Sequence], namespaces: Iterable[str]) -> dict[str, NamespaceView | None]:
    """The namespaces of ANONYMOUS_STATEMENT's rows as anyone sees them (None: no such namespace)."""
    views: dict[str, NamespaceView | None] = dict.fromkeys(namespaces)
    for namespace, ns_kind, visibility in rows:
        views[namespace] = NamespaceView(kind=NamespaceKind(ns_kind), visibility=Visibility(visibility))
    return views


class Lookup:
    """The reads of the token endpoint (and of the admin API's login), one statement each."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def standing(self, kind: SubjectKind, name: str, namespaces: frozenset[str] = frozenset()) -> Standing:
        """The user or robot ``name`` (as stored: a robot's without its prefix) and its namespaces."""
        statement = _STATEMENTS[(kind, bool(namespaces))]
        rows = self.reader.rows(statement, _parameters(name=name, namespaces=namespaces))
        return standing_from_rows(kind, name, rows, namespaces, _utcnow())

    def anonymous(self, namespaces: frozenset[str]) -> dict[str, NamespaceView | None]:
        """How the namespaces look to a caller without credentials."""
        if not namespaces:
            return {}
        return anonymous_views(self.reader.rows(ANONYMOUS_STATEMENT, _parameters(namespaces=namespaces)), namespaces)


def _parameters(**values) -> Mapping:
    if "namespaces" in values:
        values["namespaces"] = tuple(sorted(values["namespaces"]))
    return values


def _utcnow() -> dt.datetime:
    """Naive UTC, as DATETIME columns hold it."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)

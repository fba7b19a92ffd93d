# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The token request's one read, turned into an account and namespace views (pure: rows as MariaDB gives them)."""

from __future__ import annotations

import datetime as dt

import pytest

from dockyard_auth.lookup import (
    _STATEMENTS,
    ANONYMOUS_STATEMENT,
    Account,
    Standing,
    anonymous_views,
    standing_from_rows,
)
from dockyard_auth.permissions import NamespaceKind, NamespaceView, Role, Subject, SubjectKind, Visibility

NOW = dt.datetime(2026, 11, 29, 12, 0, 0)
SOON = NOW + dt.timedelta(seconds=1)
USER, ROBOT = SubjectKind.USER, SubjectKind.ROBOT
PERSONAL, TEAM, GLOBAL = NamespaceKind.PERSONAL, NamespaceKind.TEAM, NamespaceKind.GLOBAL
PRIVATE, PROTECTED, PUBLIC = Visibility.PRIVATE, Visibility.PROTECTED, Visibility.PUBLIC

# Users' rows: password_hash, enabled, admin, id, then namespace name, kind, visibility, user_id, role.
ALICE = ("$2b$h", 1, 0, 7)
# Robots' rows: secret_hash, enabled, expires_at, id, then namespace name, kind, visibility, user_id, actions.
CI = ("$2b$secret", 1, None, 3)
NO_NAMESPACE = (None, None, None, None, None)


@pytest.mark.parametrize(
    ("kind", "rows", "asked", "expected"),
    [
        # No rows: no such account, whatever was asked.
        (USER, [], {"web"}, Standing(None, {"web": None})),
        (ROBOT, [], set(), Standing(None, {})),
        # The account alone (nothing asked, or nothing asked exists).
        (USER, [ALICE + NO_NAMESPACE], set(), Standing(Account(USER, "alice", "$2b$h", True), {})),
        (USER, [ALICE + NO_NAMESPACE], {"gone"}, Standing(Account(USER, "alice", "$2b$h", True), {"gone": None})),
        # Flags: disabled, admin.
        (USER, [("$2b$h", 0, 0, 7, *NO_NAMESPACE)], set(), Standing(Account(USER, "alice", "$2b$h", False), {})),
        (USER, [("$2b$h", 1, 1, 7, *NO_NAMESPACE)], set(), Standing(Account(USER, "alice", "$2b$h", True, True), {})),
        # Her personal namespace, another's, a team's with and without her, the global one; one missing.
        (
            USER,
            [
                ALICE + ("alice", "personal", "private", 7, None),
                ALICE + ("bob", "personal", "private", 8, None),
                ALICE + ("web", "team", "private", None, "contributor"),
                ALICE + ("ops", "team", "protected", None, None),
                ALICE + ("", "global", "protected", None, None),
            ],
            {"alice", "bob", "web", "ops", "", "gone"},
            Standing(
                Account(USER, "alice", "$2b$h", True),
                {
                    "alice": NamespaceView(PERSONAL, PRIVATE, is_owner=True),
                    "bob": NamespaceView(PERSONAL, PRIVATE),
                    "web": NamespaceView(TEAM, PRIVATE, role=Role.CONTRIBUTOR),
                    "ops": NamespaceView(TEAM, PROTECTED),
                    "": NamespaceView(GLOBAL, PROTECTED),
                    "gone": None,
                },
            ),
        ),
        # A robot: its grants; no role or ownership, even on a namespace whose user id equals its own id.
        (
            ROBOT,
            [
                CI + ("web", "team", "private", None, "pull,push"),
                CI + ("pub", "team", "public", None, None),
                CI + ("carol", "personal", "private", 3, "pull"),
            ],
            {"web", "pub", "carol"},
            Standing(
                Account(ROBOT, "ci", "$2b$secret", True),
                {
                    "web": NamespaceView(TEAM, PRIVATE, robot_actions=frozenset({"pull", "push"})),
                    "pub": NamespaceView(TEAM, PUBLIC),
                    "carol": NamespaceView(PERSONAL, PRIVATE, robot_actions=frozenset({"pull"})),
                },
            ),
        ),
        # A robot's expiry: usable until it, not at it; disabled is disabled.
        (ROBOT, [("$2b$s", 1, SOON, 3, *NO_NAMESPACE)], set(), Standing(Account(ROBOT, "ci", "$2b$s", True), {})),
        (ROBOT, [("$2b$s", 1, NOW, 3, *NO_NAMESPACE)], set(), Standing(Account(ROBOT, "ci", "$2b$s", False), {})),
        (ROBOT, [("$2b$s", 0, None, 3, *NO_NAMESPACE)], set(), Standing(Account(ROBOT, "ci", "$2b$s", False), {})),
    ],
)  # fmt: skip
def test_rows_to_standing(kind, rows, asked, expected):
    name = "alice" if kind == USER else "ci"
    assert standing_from_rows(kind, name, rows, asked, NOW) == expected


def test_anonymous_views():
    rows = [("pub", "team", "public"), ("", "global", "protected")]
    assert anonymous_views(rows, {"pub", "", "gone"}) == {
        "pub": NamespaceView(TEAM, PUBLIC),
        "": NamespaceView(GLOBAL, PROTECTED),
        "gone": None,
    }


@pytest.mark.parametrize(
    ("account", "subject"),
    [
        (Account(USER, "alice", "h", True), Subject(USER, "alice")),
        (Account(USER, "root", "h", True, admin=True), Subject(USER, "root", admin=True)),
        (Account(ROBOT, "ci", "h", True), Subject(ROBOT, "ci")),
    ],
)
def test_subjects(account, subject):
    assert account.subject() == subject


def test_the_statements_take_the_namespaces_only_when_some_are_asked_for():
    for (_kind, asked), statement in _STATEMENTS.items():
        assert ("%(namespaces)s" in statement) == asked
        assert "%(name)s" in statement
    assert "%(namespaces)s" in ANONYMOUS_STATEMENT

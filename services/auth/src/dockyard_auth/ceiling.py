# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ceiling on what a robot may do through the admin API, so that a leaked CI secret stays bounded.

A robot with ``api_admin`` manages users, teams, namespaces and other robots
below it, which is what automation needs. It can never rise above that:

* admins are out of its reach: it creates no admin, promotes nobody, and
  changes or deletes no admin user (a new password would be a takeover);
* it changes nothing of its own: not its grants, expiry, flags or
  description, and it cannot delete itself; it may only rotate its own secret;
* it never touches another robot's secret;
* robots with ``api_admin`` are out of its reach: it creates none, gives the
  flag to none, and changes or deletes none (another such robot could
  otherwise change its grants for it);
* what it grants another robot on a namespace is at most what it holds there
  itself, so it cannot reach a namespace through a robot it made.

Admin users have no ceiling. Pure functions, no I/O: the API looks up the
robots and users concerned and asks :func:`refusal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Op(StrEnum):
    CREATE_USER = "create-user"
    UPDATE_USER = "update-user"
    DELETE_USER = "delete-user"
    CREATE_ROBOT = "create-robot"
    UPDATE_ROBOT = "update-robot"
    DELETE_ROBOT = "delete-robot"
    ROTATE_SECRET = "rotate-secret"  # noqa: S105 - an operation, not a secret
    SET_GRANT = "set-grant"
    DELETE_GRANT = "delete-grant"


@dataclass(frozen=True)
class RobotCaller:
    """An ``api_admin`` robot calling the API: its name and its own grants, by namespace."""

    name: str
    grants: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One change the API is asked to make.

    ``target`` is the user or robot changed (for a grant, the robot);
    ``target_admin`` whether that user is an admin, or that robot has
    ``api_admin``, now; ``makes_admin`` whether the change makes one (a user
    created or updated with ``admin: true``, a robot with ``api_admin: true``);
    ``namespace`` and ``actions`` describe a grant.
    """

    op: Op
    target: str = ""
    target_admin: bool = False
    makes_admin: bool = False
    namespace: str = ""
    actions: frozenset[str] = frozenset()


def refusal(caller: RobotCaller, change: Change) -> str | None:
    """Why the robot may not make ``change`` (None: it may); the message names the rule."""
    who = f"robot+{caller.name}"
    if change.op in (Op.CREATE_USER, Op.UPDATE_USER, Op.DELETE_USER):
        return _user_refusal(who, change)
    if change.op == Op.ROTATE_SECRET:
        if change.target != caller.name:
            return f"{who} may not touch the secret of robot {change.target!r}: only its own"
        return None
    return _robot_refusal(who, caller, change)


def _user_refusal(who: str, change: Change) -> str | None:
    if change.makes_admin:
        return f"{who} may not create or promote admins: ask an admin user"
    if change.target_admin:
        return f"{who} may not change or delete the admin {change.target!r}: ask an admin user"
    return None


def _robot_refusal(who: str, caller: RobotCaller, change: Change) -> str | None:
    if change.target == caller.name:
        return f"{who} may not change its own grants, expiry or flags: ask an admin user"
    if change.makes_admin:
        return f"{who} may not give a robot api_admin: ask an admin user"
    if change.target_admin:
        return f"{who} may not change or delete robot {change.target!r}, which has api_admin: ask an admin user"
    beyond = change.actions - caller.grants.get(change.namespace, frozenset())
    if change.op == Op.SET_GRANT and beyond:
        return (
            f"{who} may not grant on namespace {change.namespace!r} more than it holds there itself; "
            f"it does not hold {', '.join(sorted(beyond))}"
        )
    return None

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who may do what to a repository: the permission model, as pure functions.

The model follows Portus. Every repository lies in a namespace, the first
component of its name; a name without '/' lies in the global namespace.

* Pull comes from the namespace's visibility: ``public`` lets anyone pull,
  anonymous callers too; ``protected`` lets any logged-in user or robot pull;
  ``private`` only those given access below.
* A user's personal namespace (``<user>/...``) is theirs: pull, delete, and
  push unless the push policy is ``admin-only``.
* In a team's namespace a member's role decides: viewer pulls; contributor
  pulls and pushes; owner pulls, pushes and deletes. Pushing into a team's
  namespace needs the push policy ``allow-teams``; contributors delete only
  under the delete policy ``contributors``.
* The global namespace is for admins to push to; others pull per its
  visibility (``protected`` unless changed).
* A robot has the actions it was granted on each namespace, whatever the
  policies say, on top of what the visibility gives every logged-in caller.
* Admins may do everything, in every namespace, existing or not; nobody else
  gets anything in a namespace that does not exist.
* The registry catalog is for admins and the server's own sync account.

Nothing here touches the database: the caller looks up what the subject is to
the namespace (:class:`NamespaceView`) and asks :func:`allowed_actions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

PULL = "pull"
PUSH = "push"
DELETE = "delete"
ANY = "*"
REPOSITORY_ACTIONS = frozenset({PULL, PUSH, DELETE})
ROBOT_PREFIX = "robot+"  # robots log in as robot+<name>; '+' cannot occur in a user's name


class Visibility(StrEnum):
    PRIVATE = "private"
    PROTECTED = "protected"
    PUBLIC = "public"


class Role(StrEnum):
    VIEWER = "viewer"
    CONTRIBUTOR = "contributor"
    OWNER = "owner"


class NamespaceKind(StrEnum):
    GLOBAL = "global"
    PERSONAL = "personal"
    TEAM = "team"


class PushPolicy(StrEnum):
    ALLOW_TEAMS = "allow-teams"
    ALLOW_PERSONAL = "allow-personal"
    ADMIN_ONLY = "admin-only"


class DeletePolicy(StrEnum):
    OWNERS = "owners"
    CONTRIBUTORS = "contributors"


class SubjectKind(StrEnum):
    ANONYMOUS = "anonymous"
    USER = "user"
    ROBOT = "robot"
    SYNC = "sync"


@dataclass(frozen=True)
class Policy:
    push: PushPolicy = PushPolicy.ALLOW_TEAMS
    delete: DeletePolicy = DeletePolicy.OWNERS


@dataclass(frozen=True)
class Subject:
    """The caller, once authenticated (``ANONYMOUS`` when no credentials came)."""

    kind: SubjectKind
    name: str = ""
    admin: bool = False

    @property
    def logged_in(self) -> bool:
        return self.kind in (SubjectKind.USER, SubjectKind.ROBOT)

    @property
    def login(self) -> str:
        """The name the subject logs in with, and the one its tokens and activities carry.

        ``robot+<name>`` for a robot, so that robot ``ci`` and user ``ci`` never look alike.
        """
        return ROBOT_PREFIX + self.name if self.kind == SubjectKind.ROBOT else self.name


ANONYMOUS = Subject(SubjectKind.ANONYMOUS)
SYNC = Subject(SubjectKind.SYNC, name="dockyard-sync")


@dataclass(frozen=True)
class NamespaceView:
    """A namespace as seen by one subject. ``None`` stands for a namespace that does not exist."""

    kind: NamespaceKind
    visibility: Visibility
    role: Role | None = None  # the subject's role in the owning team
    is_owner: bool = False  # the personal namespace is the subject's own
    robot_actions: frozenset[str] = field(default_factory=frozenset)  # a robot's explicit grants here


def allowed_actions(subject: Subject, namespace: NamespaceView | None, policy: Policy) -> frozenset[str]:
    """The repository actions (pull, push, delete) the subject may take in the namespace."""
    if subject.kind == SubjectKind.SYNC:
        return frozenset({PULL})
    if subject.kind == SubjectKind.USER and subject.admin:
        return REPOSITORY_ACTIONS
    if namespace is None:
        return frozenset()

    allowed: set[str] = set()
    if namespace.visibility == Visibility.PUBLIC or (
        namespace.visibility == Visibility.PROTECTED and subject.logged_in
    ):
        allowed.add(PULL)

    if subject.kind == SubjectKind.ROBOT:
        allowed |= namespace.robot_actions & REPOSITORY_ACTIONS
    elif subject.kind == SubjectKind.USER:
        allowed |= _user_actions(namespace, policy)
    return frozenset(allowed)


def _user_actions(namespace: NamespaceView, policy: Policy) -> set[str]:
    if namespace.kind == NamespaceKind.PERSONAL and namespace.is_owner:
        actions = {PULL, DELETE}
        if policy.push != PushPolicy.ADMIN_ONLY:
            actions.add(PUSH)
        return actions
    if namespace.kind != NamespaceKind.TEAM or namespace.role is None:
        return set()
    actions = {PULL}
    if namespace.role in (Role.CONTRIBUTOR, Role.OWNER) and policy.push == PushPolicy.ALLOW_TEAMS:
        actions.add(PUSH)
    if namespace.role == Role.OWNER or (
        namespace.role == Role.CONTRIBUTOR and policy.delete == DeletePolicy.CONTRIBUTORS
    ):
        actions.add(DELETE)
    return actions


def catalog_allowed(subject: Subject) -> bool:
    """``registry:catalog:*`` is for admins and the sync account only."""
    return subject.kind == SubjectKind.SYNC or (subject.kind == SubjectKind.USER and subject.admin)


def grant(requested: tuple[str, ...] | frozenset[str], allowed: frozenset[str]) -> list[str]:
    """The actions to put in the token: the requested ones the subject may take, sorted.

    ``*`` asks for every action; it is granted as ``*`` only when every action is
    allowed, otherwise as the allowed ones. Unknown actions are dropped.
    """
    wanted = set(requested)
    if ANY in wanted:
        if allowed >= REPOSITORY_ACTIONS:
            return [ANY]
        wanted = (wanted - {ANY}) | REPOSITORY_ACTIONS
    return sorted(wanted & allowed)

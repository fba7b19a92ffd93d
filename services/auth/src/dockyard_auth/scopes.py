# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scopes of a token request: ``type[(class)]:name:action[,action]*``.

The type is everything before the first ``:``, the actions everything after the
last one and the name what lies between, so a repository name may carry a
registry host with a port (``repository:localhost:5000/foo:pull``). A class on
the type (``repository(plugin)``) is dropped: the registry matches access on
type and name only.

* ``repository`` names must be valid repository names (:mod:`dockyard_auth.names`);
* ``registry`` names must match ``[a-z0-9]+`` (only ``catalog`` means anything);
* other types that fit the grammar are kept with any name free of white space
  and control characters; the server grants nothing for them.

Actions are ``[a-z]+`` or ``*``, at least one, sorted and without repeats; ``*``
is kept as it came. Pure functions, no I/O; a bad scope raises
:class:`ScopeError`, a ``ValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard_auth.names import InvalidName, parse_repository, quote

REPOSITORY = "repository"
REGISTRY = "registry"
SCOPE_MAX_LENGTH = 512
MAX_SCOPES = 64
EXPECTED = "expected type:name:actions"

_TYPE_RE = re.compile(r"([a-z0-9]+)(?:\(([a-z0-9]+)\))?")
_ACTION_RE = re.compile(r"[a-z]+|\*")
_REGISTRY_NAME_RE = re.compile(r"[a-z0-9]+")
_UNSAFE_RE = re.compile(r"[\x00-\x20\x7f-\x9f]|\s")


class ScopeError(ValueError):
    """A scope that breaks the grammar; the message quotes it and says what was expected."""


@dataclass(frozen=True)
class Scope:
    """One parsed scope; ``actions`` is sorted and has no repeats (normalised on construction)."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(sorted(set(self.actions))))

    def text(self) -> str:
        """The scope as ``type:name:a,b``."""
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def _error(text: str, problem: str) -> ScopeError:
    return ScopeError(f"scope {quote(text)}: {problem}")


def _parse_actions(text: str, part: str) -> tuple[str, ...]:
    if not part:
        raise _error(text, f"no actions; {EXPECTED}, actions being pull, push, delete or * separated by ','")
    if "/" in part:
        raise _error(text, f"actions {quote(part)} contain '/'; {EXPECTED}")
    actions = part.split(",")
    for action in actions:
        if not _ACTION_RE.fullmatch(action):
            what = "an empty action" if not action else f"action {quote(action)}"
            raise _error(text, f"{what}; actions are lowercase words or * separated by ','")
    return tuple(actions)


def _check_name(text: str, type_: str, name: str) -> None:
    if not name:
        raise _error(text, f"empty name; {EXPECTED}")
    if type_ == REPOSITORY:
        try:
            parse_repository(name)
        except InvalidName as exc:
            raise _error(text, str(exc)) from exc
    elif type_ == REGISTRY and not _REGISTRY_NAME_RE.fullmatch(name):
        raise _error(text, f"registry name {quote(name)} must be lowercase letters and digits, e.g. catalog")


def parse_scope(text: str) -> Scope:
    """Parse one scope; raise :class:`ScopeError`."""
    if len(text) > SCOPE_MAX_LENGTH:
        raise _error(text, f"{len(text)} characters, at most {SCOPE_MAX_LENGTH} allowed")
    if _UNSAFE_RE.search(text):
        raise _error(text, "contains white space or control characters")
    first, last = text.find(":"), text.rfind(":")
    if first < 0 or first == last:
        raise _error(text, EXPECTED)
    type_part, name, actions_part = text[:first], text[first + 1 : last], text[last + 1 :]
    match = _TYPE_RE.fullmatch(type_part)
    if match is None:
        raise _error(text, f"type {quote(type_part)} must be lowercase letters and digits, optionally with a (class)")
    type_ = match.group(1)
    actions = _parse_actions(text, actions_part)
    _check_name(text, type_, name)
    return Scope(type_, name, actions)


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Parse the ``scope`` values of a request, each holding scopes separated by white space.

    Empty values and pieces are skipped. Scopes with the same type and name are
    merged (their actions joined) where the first of them stood. More than 64
    scopes in all, counted before merging, raise :class:`ScopeError`.
    """
    if isinstance(values, str):
        raise TypeError("parse_scopes takes an iterable of scope values, not one string")
    merged: dict[tuple[str, str], Scope] = {}
    count = 0
    for value in values:
        for piece in value.split():
            count += 1
            if count > MAX_SCOPES:
                raise ScopeError(f"more than {MAX_SCOPES} scopes in one request")
            scope = parse_scope(piece)
            key = (scope.type, scope.name)
            seen = merged.get(key)
            merged[key] = scope if seen is None else Scope(scope.type, scope.name, seen.actions + scope.actions)
    return list(merged.values())

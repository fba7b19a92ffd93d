# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names the registry and the token server deal in: repositories, accounts, tags and digests.

The repository grammar is distribution's reference grammar (registry 2.8):
``[domain/]path-component[/path-component]*``, at most 255 characters, where a
path component is lowercase letters and digits with ``.``, ``_``, ``__`` or a
run of ``-`` between them, and a domain is dot-separated host labels with an
optional ``:port``. As in docker, the first component is a domain only if it
contains ``.`` or ``:`` or is ``localhost``, and a domain must be followed by
at least one path component.

The registry stores a repository under the name in the request's URL, whole:
a push to ``evil.example/web/app`` makes the repository ``evil.example/web/app``
(docker strips its own registry host before it asks, but any other client may
send one). So the namespace of a repository is the first component of that
whole name, host-like or not, when the name has more than one; a
single-component name lies in the global namespace. Nothing is stripped: a
grant on ``web`` never reaches ``evil.example/web/app``, whose namespace is
``evil.example`` (a name no team or user can have).

Pure functions, no I/O. Every check raises :class:`InvalidName`, a
``ValueError``, whose message quotes the bad value and says what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_MAX_LENGTH = 255
ACCOUNT_MIN_LENGTH = 2
ACCOUNT_MAX_LENGTH = 64
QUOTE_MAX = 80

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"

PATH_COMPONENT_RE = re.compile(_PATH_COMPONENT)
DOMAIN_RE = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?")
# Go's \w is ASCII only; Python's is not, hence the explicit class.
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST_RE = re.compile(r"([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]{32,})")
# The registered algorithms (go-digest) are checked more strictly: lowercase hex of the hash's length.
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_LOWER_HEX_RE = re.compile(r"[0-9a-f]+")

PATH_COMPONENT_RULE = "lowercase letters and digits, with '.', '_', '__' or a run of '-' between them"
DOMAIN_RULE = "host labels of letters, digits and inner '-', joined by '.', with an optional ':port'"
TAG_RULE = "a letter, digit or '_', then up to 127 letters, digits, '_', '.' or '-'"
DIGEST_RULE = "algorithm:hex, e.g. sha256 and 64 lowercase hex digits"


class InvalidName(ValueError):
    """A name, tag or digest that breaks the registry's grammar; the message quotes it and gives the rule."""


def quote(value: str) -> str:
    """``value`` quoted for an error message, cut to 80 characters; control characters show escaped."""
    text = value if len(value) <= QUOTE_MAX else value[:QUOTE_MAX] + "..."
    return repr(text)


@dataclass(frozen=True)
class RepositoryName:
    """A valid repository name, split up.

    ``full`` is the name as given (the registry's own name for it);
    ``namespace`` its first component when it has more than one (``None`` for
    the global namespace), a registry host included; ``repository`` the rest,
    or the whole name.
    """

    full: str
    namespace: str | None
    repository: str


def _is_domain(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def _check_path_component(name: str, component: str) -> None:
    if not component:
        raise InvalidName(f"repository name {quote(name)}: empty path component (a leading, trailing or double '/')")
    if not PATH_COMPONENT_RE.fullmatch(component):
        raise InvalidName(
            f"repository name {quote(name)}: path component {quote(component)} must be {PATH_COMPONENT_RULE}"
        )


def parse_repository(name: str) -> RepositoryName:
    """Check a repository name against distribution's grammar and split it; raise :class:`InvalidName`."""
    if not name:
        raise InvalidName("repository name '': empty; expected [host[:port]/]component[/component]*")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidName(f"repository name {quote(name)}: {len(name)} characters, at most {NAME_MAX_LENGTH} allowed")
    parts = name.split("/")
    domain = None
    if len(parts) > 1 and _is_domain(parts[0]):
        domain = parts.pop(0)
        if not DOMAIN_RE.fullmatch(domain):
            raise InvalidName(f"repository name {quote(name)}: registry host {quote(domain)} must be {DOMAIN_RULE}")
    elif ":" in parts[0]:
        # A lone host[:port]: no repository path follows it.
        raise InvalidName(
            f"repository name {quote(name)}: ':' is allowed only in a registry host, which needs a path after it"
        )
    for component in parts:
        _check_path_component(name, component)
    first, _, rest = name.partition("/")
    return RepositoryName(name, first, rest) if rest else RepositoryName(name, None, name)


def check_account_name(kind: str, name: str) -> str:
    """Check the name of a user, team, namespace or robot (``kind`` says which, for the message); return it.

    The name must be one repository path component (lowercase letters and digits
    with ``_``, ``__`` or runs of ``-`` between them), 2 to 64 characters long.
    A ``.`` is refused, and so is ``localhost``: as the first component of a
    repository name either would be read as a registry host, so a namespace of
    that name could never hold a repository.
    """
    rule = (
        f"use {ACCOUNT_MIN_LENGTH} to {ACCOUNT_MAX_LENGTH} lowercase letters and digits, "
        "with '_', '__' or a run of '-' between them"
    )
    if not name:
        raise InvalidName(f"{kind} name '': empty; {rule}")
    if not ACCOUNT_MIN_LENGTH <= len(name) <= ACCOUNT_MAX_LENGTH:
        raise InvalidName(f"{kind} name {quote(name)}: {len(name)} characters; {rule}")
    if not PATH_COMPONENT_RE.fullmatch(name) or "." in name:
        raise InvalidName(f"{kind} name {quote(name)}: {rule}")
    if _is_domain(name):
        raise InvalidName(f"{kind} name {quote(name)}: reserved, a registry reads it as a host name; {rule}")
    return name


def check_tag(tag: str) -> str:
    """Check a tag (case-sensitive: ``v1`` and ``V1`` are different tags); return it."""
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        raise InvalidName(f"tag {quote(str(tag))}: expected {TAG_RULE}")
    return tag


def check_digest(digest: str) -> str:
    """Check a content digest ``algorithm:encoded``; return it.

    Any algorithm that fits the grammar passes with an encoded part of 32 or more
    ``[a-zA-Z0-9=_-]``; sha256, sha384 and sha512 need exactly their length of
    lowercase hex.
    """
    match = DIGEST_RE.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise InvalidName(f"digest {quote(str(digest))}: expected {DIGEST_RULE}")
    algorithm, encoded = match.groups()
    length = DIGEST_HEX_LENGTHS.get(algorithm)
    if length is not None and (len(encoded) != length or not _LOWER_HEX_RE.fullmatch(encoded)):
        raise InvalidName(f"digest {quote(digest)}: {algorithm} needs {length} lowercase hex digits")
    return digest

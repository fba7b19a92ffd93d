# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An htpasswd file as data: parse it strictly, decide what each user needs, render the result.

Pure logic without I/O or hashing library: the caller passes the functions
that verify and make bcrypt hashes. Private to the collection: the interface
may change without notice.

The file format is the one Apache's htpasswd writes and the distribution
registry (Go), nginx and Apache's mod_authn_file read: one `name:hash` entry a
line. Lines starting with `#` and blank lines are ignored by all of those
readers and kept by Apache's htpasswd; they are kept here too, in place.
Everything else that those readers would understand differently is refused
(see `parse`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# bcrypt hashes at most this many bytes of a password and silently ignores the rest.
MAX_PASSWORD_BYTES = 72

# The bcrypt variants every reader accepts: Go's x/crypto/bcrypt (the registry) takes $2a$/$2b$/$2y$,
# glibc/libxcrypt crypt(3) (nginx on Debian) and Apache take them too. Cost 04..31, 22 salt + 31 hash characters.
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_DES_CRYPT = re.compile(r"[./A-Za-z0-9]{13}")
_PREFIXES = (
    ("$apr1$", "apr1"),
    ("{SHA}", "sha1"),
    ("$1$", "md5-crypt"),
    ("$5$", "sha256-crypt"),
    ("$6$", "sha512-crypt"),
)
# C0 controls and DEL, and C1 controls; a tab is a control character too.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

BCRYPT = "bcrypt"


class HtpasswdError(ValueError):
    """Input the module refuses; the message says where and how to fix it."""


def scheme_of(hashed: str) -> str:
    """The hash scheme of an entry: bcrypt, apr1, sha1, md5-crypt, sha256-crypt, sha512-crypt, crypt or unknown.

    `unknown` covers plain text (htpasswd -p), empty hashes, malformed bcrypt
    strings and anything else: none of them is a bcrypt hash the registry accepts.
    """
    if _BCRYPT.fullmatch(hashed):
        return BCRYPT
    for prefix, scheme in _PREFIXES:
        if hashed.startswith(prefix):
            return scheme
    if _DES_CRYPT.fullmatch(hashed):
        return "crypt"
    return "unknown"


@dataclass(frozen=True)
class Line:
    """One line of the file, without its line ending. `name` is None for a blank or comment line."""

    number: int
    text: str
    name: str | None = None
    hashed: str = ""

    @property
    def scheme(self) -> str:
        return scheme_of(self.hashed)


def _control_in(text: str) -> str | None:
    match = _CONTROL.search(text)
    return None if match is None else f"U+{ord(match.group()):04X}"


def parse(content: bytes) -> list[Line]:
    """The lines of an htpasswd file, or HtpasswdError naming the first line it cannot take whole.

    Accepted: `name:hash` entries (the hash is everything after the first
    ':'), blank lines and lines starting with '#'. Refused, because a reader
    would take them differently or not at all: a line that is not UTF-8, a
    control character anywhere (including the CR of Windows line endings and
    tabs), leading or trailing white space on an entry (the registry strips
    it, nginx does not), an entry without ':' or with an empty name, and the
    same name twice (the registry takes the last, nginx the first). The
    messages name line numbers, never the line's text (it may hold a hash or a
    pasted password).
    """
    lines: list[Line] = []
    seen: dict[str, int] = {}
    raw_lines = content.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the final line ending, or an empty file
    for number, raw in enumerate(raw_lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HtpasswdError(f"line {number} is not valid UTF-8") from None
        control = _control_in(text)
        if control is not None:
            if control == "U+000D":
                raise HtpasswdError(f"line {number} ends in a carriage return (Windows line ending)")
            raise HtpasswdError(f"line {number} contains the control character {control}")
        if text.strip(" ") == "" or text.startswith("#"):
            lines.append(Line(number, text))
            continue
        if text != text.strip():
            raise HtpasswdError(
                f"line {number} has leading or trailing white space, which the registry and nginx read differently"
            )
        name, colon, hashed = text.partition(":")
        if not colon:
            raise HtpasswdError(f"line {number} has no ':' between a user name and a hash")
        if not name:
            raise HtpasswdError(f"line {number} has an empty user name")
        if name in seen:
            raise HtpasswdError(
                f"user {name!r} appears on lines {seen[name]} and {number}; readers disagree on which one counts"
            )
        seen[name] = number
        lines.append(Line(number, text, name, hashed))
    return lines


def check_users(users: Sequence[dict]) -> None:
    """HtpasswdError for the first bad entry of the `users` option, naming it and how to fix it.

    Each entry has `name`, `password` (may be None) and `state` (present or absent).
    """
    first_index: dict[str, int] = {}
    for index, user in enumerate(users):
        where = f"users[{index}]"
        name = user.get("name")
        if not name:
            raise HtpasswdError(f"{where}.name is empty: give every user a name")
        control = _control_in(name)
        if control is not None:
            raise HtpasswdError(f"{where}.name {name!r} contains the control character {control}: remove it")
        if ":" in name:
            raise HtpasswdError(
                f"{where}.name {name!r} contains ':', which separates a name from its hash: choose another name"
            )
        if name.startswith("#"):
            raise HtpasswdError(
                f"{where}.name {name!r} starts with '#', which every reader takes for a comment: choose another name"
            )
        if name != name.strip():
            raise HtpasswdError(f"{where}.name {name!r} has leading or trailing white space: remove it")
        if name in first_index:
            raise HtpasswdError(
                f"{where}.name {name!r} is listed twice (also users[{first_index[name]}]): list each user once"
            )
        first_index[name] = index
        if user.get("state", "present") != "present":
            continue
        password = user.get("password")
        if not password:
            raise HtpasswdError(f"{where}.password is empty for user {name!r} with state=present: give a password")
        if "\x00" in password:
            raise HtpasswdError(f"{where}.password of user {name!r} contains a NUL character, which bcrypt cannot hash")
        if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            raise HtpasswdError(
                f"{where}.password of user {name!r} is longer than {MAX_PASSWORD_BYTES} bytes in UTF-8; bcrypt would "
                f"silently ignore the rest: use at most {MAX_PASSWORD_BYTES} bytes"
            )


@dataclass(frozen=True)
class _Out:
    """A line of the resulting file: kept as it was (`text`), or a new hash for `password` (`note` says why)."""

    name: str | None
    text: str | None = None
    password: str | None = None
    note: str = ""


@dataclass
class Plan:
    """What the resulting file holds and what happened to whom (lists of user names)."""

    out: list[_Out] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    upgraded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    legacy_users: list[str] = field(default_factory=list)
    before: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        """True when any user's line is added, replaced or removed."""
        return bool(self.added or self.updated or self.upgraded or self.removed)

    @property
    def users(self) -> list[str]:
        """The user names of the resulting file, in file order."""
        return [item.name for item in self.out if item.name is not None]

    def result(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "upgraded": self.upgraded,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "legacy_users": self.legacy_users,
            "users": self.users,
        }

    def diff(self) -> tuple[str, str]:
        """Before and after as text, one user a line: names and notes, never a hash or a password."""
        after = [item.name + (f" ({item.note})" if item.note else "") for item in self.out if item.name is not None]
        return "".join(f"{line}\n" for line in self.before), "".join(f"{line}\n" for line in after)

    def render(self, make_hash: Callable[[str], str]) -> bytes:
        """The resulting file: kept lines byte for byte, new entries `name:hash`, one line each, ending in a newline."""
        texts = [item.text if item.text is not None else f"{item.name}:{make_hash(item.password)}" for item in self.out]
        return "".join(f"{text}\n" for text in texts).encode("utf-8")


def _label(line: Line) -> str:
    return line.name if line.scheme == BCRYPT else f"{line.name} ({line.scheme})"


def plan(lines: Sequence[Line], users: Sequence[dict], exclusive: bool, verify: Callable[[str, str], bool]) -> Plan:
    """Decide, for every user of the file and of `users`, to keep, add, update, upgrade or remove.

    - listed, present, bcrypt entry that `verify(password, hash)` accepts: kept as it is (whatever its cost);
    - listed, present, bcrypt entry that does not verify: a new hash ("updated");
    - listed, present, any other scheme: a new bcrypt hash ("upgraded");
    - listed, present, not in the file: appended in the order of `users` ("added");
    - listed, absent, or not listed when `exclusive`: its line goes ("removed");
    - not listed: kept, and reported in `legacy_users` when it is not bcrypt.
    Blank and comment lines stay where they are.
    """
    wanted = {user["name"]: user for user in users}
    result = Plan()
    in_file = set()
    for line in lines:
        if line.name is None:
            result.out.append(_Out(None, text=line.text))
            continue
        in_file.add(line.name)
        result.before.append(_label(line))
        user = wanted.get(line.name)
        if (user is None and exclusive) or (user is not None and user.get("state", "present") == "absent"):
            result.removed.append(line.name)
        elif user is None:
            result.out.append(_Out(line.name, text=line.text, note="" if line.scheme == BCRYPT else line.scheme))
            result.unchanged.append(line.name)
            if line.scheme != BCRYPT:
                result.legacy_users.append(line.name)
        elif line.scheme != BCRYPT:
            result.out.append(_Out(line.name, password=user["password"], note=f"rehashed from {line.scheme}"))
            result.upgraded.append(line.name)
        elif verify(user["password"], line.hashed):
            result.out.append(_Out(line.name, text=line.text))
            result.unchanged.append(line.name)
        else:
            result.out.append(_Out(line.name, password=user["password"], note="new password"))
            result.updated.append(line.name)
    for user in users:
        if user.get("state", "present") == "present" and user["name"] not in in_file:
            result.out.append(_Out(user["name"], password=user["password"]))
            result.added.append(user["name"])
    return result

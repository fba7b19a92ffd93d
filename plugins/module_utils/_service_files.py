# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service's files as one set: compared with the live ones, validated as a whole copy, then put in place.

Private to the collection: the interface may change without notice.

The module dockyard.registry.service_files is a thin layer over this file:
`plan()` reads the live state and decides, `build_candidate()` lays out a copy
of the whole new set for a validation command, `install()` puts the changes in
place. Nothing here talks to Ansible, so every step is testable on its own.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass, field

from ansible_collections.dockyard.registry.plugins.module_utils import _files

ROOT_PLACEHOLDER = "{root}"
DEFAULT_FILE_MODE = "0644"
DEFAULT_DIR_MODE = "0755"
DEFAULT_OWNER = "root"
DEFAULT_GROUP = "root"
CANDIDATE_MODE = 0o700


class ServiceFilesError(Exception):
    """An input or a live file the module cannot take; the message says which and what to do."""


# ---------------------------------------------------------------- inputs


def octal_mode(what: str, value) -> str:
    """`value` as a four-digit octal string ("0644"); an int is taken as YAML's unquoted 0644 (420)."""
    try:
        return _files.octal_mode(what, value)
    except _files.ModeError as exc:
        raise ServiceFilesError(str(exc)) from None


def relative_path(what: str, value: str, allow_root: bool = False) -> str:
    """`value` checked as a plain relative path below root: no '..', '.', empty part or leading '/'."""
    if not isinstance(value, str) or value == "":
        raise ServiceFilesError(f"{what} is empty: give a path relative to root, such as 'tls/server.crt'")
    if allow_root and value == ".":
        return "."
    if "\x00" in value:
        raise ServiceFilesError(f"{what} {value!r} has a NUL character")
    if value.startswith("/"):
        raise ServiceFilesError(f"{what} {value!r} is absolute: give a path relative to root, such as 'tls/server.crt'")
    parts = value.split("/")
    if ".." in parts:
        raise ServiceFilesError(f"{what} {value!r} has a '..' part: every path must stay below root")
    if "" in parts or "." in parts:
        raise ServiceFilesError(f"{what} {value!r} is not a plain relative path: write it without '//', './' or '/.'")
    return value


def parent_dirs(path: str) -> list[str]:
    """The directories between root and `path`, outermost first ('a/b/c' -> ['a', 'a/b'])."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def resolve_owner(name: str) -> int | None:
    """A user name or numeric uid as a uid; None when there is no such user."""
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def resolve_group(name: str) -> int | None:
    """A group name or numeric gid as a gid; None when there is no such group."""
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


@dataclass
class Attributes:
    """Mode, owner and group, as given (for the digest and messages) and as numbers (for the file system)."""

    mode: str
    owner: str
    group: str
    uid: int | None = None
    gid: int | None = None

    @property
    def mode_bits(self) -> int:
        return int(self.mode, 8)

    def text(self) -> str:
        return f"mode {self.mode}, owner {self.owner}, group {self.group}"


@dataclass
class FileEntry:
    path: str
    content: bytes
    attributes: Attributes
    secret: bool = False
    # The live state, filled by plan():
    exists: bool = False
    content_changed: bool = True
    attributes_changed: bool = False
    live_content: bytes | None = None
    live_attributes: str | None = None

    @property
    def changed(self) -> bool:
        return self.content_changed or self.attributes_changed


@dataclass
class DirEntry:
    path: str  # "." for root
    attributes: Attributes | None  # None: not listed, created with the defaults when missing, else left alone
    exists: bool = False
    changed: bool = False
    live_attributes: Attributes | None = None


@dataclass
class Plan:
    root: str
    files: list[FileEntry]
    directories: list[DirEntry]  # root first, then outermost first
    warnings: list[str] = field(default_factory=list)

    @property
    def changed_files(self) -> list[str]:
        return [f.path for f in self.files if f.changed]

    @property
    def changed_directories(self) -> list[str]:
        return [d.path for d in self.directories if d.changed]

    @property
    def changed(self) -> bool:
        return bool(self.changed_files or self.changed_directories)

    @property
    def files_differ(self) -> bool:
        return any(f.changed for f in self.files)


def attributes(what: str, mode, owner: str, group: str, secret: bool = False) -> Attributes:
    mode_text = octal_mode(f"{what}.mode", mode)
    if secret and int(mode_text, 8) & 0o007:
        raise ServiceFilesError(
            f"{what} is secret but its mode {mode_text} lets others read or use it: use '0600' or '0640'"
        )
    for label, value in (("owner", owner), ("group", group)):
        if not isinstance(value, str) or value == "":
            raise ServiceFilesError(f"{what}.{label} is empty: give a name or a numeric id")
    return Attributes(mode=mode_text, owner=owner, group=group, uid=resolve_owner(owner), gid=resolve_group(group))


def digest(files: list[FileEntry]) -> str:
    """sha256 (hex) of the whole set: its sorted (path, mode, owner, group, content), as canonical JSON.

    The same inputs give the same digest on any host and in check mode; any change of a path, attribute or
    byte of content gives another one. The content is hashed first, so the JSON stays small and text-only.
    """
    rows = sorted(
        [f.path, f.attributes.mode, f.attributes.owner, f.attributes.group, hashlib.sha256(f.content).hexdigest()]
        for f in files
    )
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode("ascii")).hexdigest()


# ---------------------------------------------------------------- the live state


def _live_attributes(st: os.stat_result) -> Attributes:
    def name_of(lookup, ident: int) -> str:
        try:
            return lookup(ident)[0]
        except KeyError:
            return str(ident)

    return Attributes(
        mode=format(stat.S_IMODE(st.st_mode), "04o"),
        owner=name_of(pwd.getpwuid, st.st_uid),
        group=name_of(grp.getgrgid, st.st_gid),
        uid=st.st_uid,
        gid=st.st_gid,
    )


def _attributes_differ(wanted: Attributes, st: os.stat_result) -> bool:
    return (
        stat.S_IMODE(st.st_mode) != wanted.mode_bits
        or (wanted.uid is None or st.st_uid != wanted.uid)
        or (wanted.gid is None or st.st_gid != wanted.gid)
    )


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def plan(root: str, files: list[FileEntry], listed_dirs: dict[str, Attributes], check_mode: bool) -> Plan:
    """Compare the wanted set with the live one under `root`; nothing is written.

    `listed_dirs` maps a relative directory path ('.' for root) to the attributes it must have. Every other
    directory that a file needs is created with 0755 root:root when missing, and left alone when it exists.
    """
    if not os.path.isabs(root):
        raise ServiceFilesError(f"root {root!r} is not an absolute path")
    seen: set[str] = set()
    for entry in files:
        if entry.path in seen:
            raise ServiceFilesError(f"files lists {entry.path!r} twice: each file may be listed once")
        seen.add(entry.path)
    dir_paths = {d for entry in files for d in parent_dirs(entry.path)} | (set(listed_dirs) - {"."})
    for listed in listed_dirs:
        dir_paths.update(parent_dirs(listed))
    clash = sorted(seen & dir_paths)
    if clash:
        raise ServiceFilesError(f"{clash[0]!r} is listed as a file and used as a directory: it can be only one")

    warnings: list[str] = []
    unknown = []
    for entry in files:
        unknown += _unknown_ids(entry.path, entry.attributes)
    for path, attrs in listed_dirs.items():
        unknown += _unknown_ids(path, attrs)
    if unknown and not check_mode:
        raise ServiceFilesError(f"{'; '.join(unknown)}: create them first, or give numeric ids")
    warnings += [f"{text}; check mode predicts a change" for text in unknown]

    directories = [_plan_dir(root, ".", listed_dirs.get("."))]
    for path in sorted(dir_paths, key=lambda p: (p.count("/"), p)):
        directories.append(_plan_dir(root, path, listed_dirs.get(path)))
    for entry in files:
        _plan_file(root, entry)
    return Plan(root=root, files=files, directories=directories, warnings=warnings)


def _unknown_ids(path: str, attrs: Attributes) -> list[str]:
    missing = []
    if attrs.uid is None:
        missing.append(f"{path}: there is no user {attrs.owner!r} on this host")
    if attrs.gid is None:
        missing.append(f"{path}: there is no group {attrs.group!r} on this host")
    return missing


def _plan_dir(root: str, path: str, attrs: Attributes | None) -> DirEntry:
    full = root if path == "." else os.path.join(root, path)
    st = _lstat(full)
    entry = DirEntry(path=path, attributes=attrs)
    if st is None:
        entry.changed = True
        return entry
    if stat.S_ISLNK(st.st_mode) and path != ".":
        raise ServiceFilesError(f"{full} is a symbolic link: service_files does not follow links below root")
    if path == ".":
        st = os.stat(full)  # root itself may be a link to a directory
    if not stat.S_ISDIR(st.st_mode):
        raise ServiceFilesError(f"{full} exists and is not a directory: move it away first")
    entry.exists = True
    entry.live_attributes = _live_attributes(st)
    entry.changed = attrs is not None and _attributes_differ(attrs, st)
    return entry


def _plan_file(root: str, entry: FileEntry) -> None:
    full = os.path.join(root, entry.path)
    st = _lstat(full)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        raise ServiceFilesError(f"{full} is a directory, listed as a file: move it away first")
    entry.exists = True
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        # A link or a special file is replaced by a regular file.
        entry.content_changed = True
        return
    entry.live_content = _files.read_file(full)
    entry.content_changed = entry.live_content != entry.content
    entry.live_attributes = _live_attributes(st).text()
    entry.attributes_changed = _attributes_differ(entry.attributes, st)


# ---------------------------------------------------------------- writing


def _set_attributes(path: str, attrs: Attributes, fd: int | None = None) -> None:
    """Owner and group first (chown may clear mode bits), then the mode."""
    if fd is not None:
        os.fchown(fd, attrs.uid, attrs.gid)
        os.fchmod(fd, attrs.mode_bits)
    else:
        os.chown(path, attrs.uid, attrs.gid, follow_symlinks=False)
        os.chmod(path, attrs.mode_bits)


def _write_new(directory: str, name: str, content: bytes, attrs: Attributes) -> str:
    """A temporary file in `directory` holding `content` with `attrs`, flushed to disk; its path.

    It is created 0600 (never readable by others while it is written) and gets its final owner, group and mode
    before anyone can see it under its real name.
    """
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            _set_attributes(tmp, attrs, handle.fileno())
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _dir_attributes(entry: DirEntry) -> Attributes:
    """What a directory has after install: its listed attributes, else its live ones, else 0755 root:root."""
    if entry.attributes is not None:
        return entry.attributes
    if entry.live_attributes is not None:
        return entry.live_attributes
    return Attributes(mode=DEFAULT_DIR_MODE, owner=DEFAULT_OWNER, group=DEFAULT_GROUP, uid=0, gid=0)


def _make_dir(path: str, attrs: Attributes) -> None:
    os.mkdir(path, 0o700)
    _set_attributes(path, attrs)


def candidate_parent(root: str) -> str:
    """Where the candidate goes: beside root, or in root's nearest existing ancestor on a fresh host."""
    parent = os.path.dirname(root.rstrip("/")) or "/"
    while not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    return parent


def build_candidate(the_plan: Plan) -> tuple[str, str]:
    """A private copy of the whole new set, laid out exactly as root will be after install.

    Returns (outer, candidate_root): `outer` is a new 0700 directory beside root,
    `<dirname>/.<basename>.candidate-XXXXXXXX`, that only its owner can enter (it holds the secret files too);
    the candidate root is `outer/<basename>`, with root's attributes after install, holding every listed file
    (changed or not) with its attributes and every directory the set needs. The caller removes `outer`.
    """
    base = os.path.basename(the_plan.root.rstrip("/")) or "root"
    outer = tempfile.mkdtemp(prefix=f".{base}.candidate-", dir=candidate_parent(the_plan.root))
    try:
        os.chmod(outer, CANDIDATE_MODE)
        candidate_root = os.path.join(outer, base)
        for entry in the_plan.directories:
            path = candidate_root if entry.path == "." else os.path.join(candidate_root, entry.path)
            _make_dir(path, _dir_attributes(entry))
        for entry in the_plan.files:
            path = os.path.join(candidate_root, entry.path)
            tmp = _write_new(os.path.dirname(path), os.path.basename(path), entry.content, entry.attributes)
            os.rename(tmp, path)
    except BaseException:
        remove_tree(outer)
        raise
    return outer, candidate_root


def remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def substitute(argv: list[str], candidate_root: str) -> list[str]:
    return [arg.replace(ROOT_PLACEHOLDER, candidate_root) for arg in argv]


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(the_plan: Plan) -> None:
    """Put the changes in place: directories, then every new content staged, then renamed, then attributes.

    Every changed file's new content is written to a temporary file in its own directory first; only when all
    of them are written are they renamed over the live files, one after the other (each rename is atomic, so a
    reader sees a file's old or new content, never half of it). A failure while staging removes the
    temporary files and leaves every live file as it was.
    """
    root = the_plan.root
    for entry in the_plan.directories:
        path = root if entry.path == "." else os.path.join(root, entry.path)
        if not entry.exists:
            if entry.path == ".":
                os.makedirs(os.path.dirname(root.rstrip("/")) or "/", mode=0o755, exist_ok=True)
            _make_dir(path, _dir_attributes(entry))
        elif entry.changed:
            _set_attributes(path, entry.attributes)
    staged: list[tuple[str, str]] = []
    try:
        for entry in the_plan.files:
            if entry.content_changed:
                path = os.path.join(root, entry.path)
                staged.append(
                    (_write_new(os.path.dirname(path), os.path.basename(path), entry.content, entry.attributes), path)
                )
    except BaseException:
        for tmp, _path in staged:
            os.unlink(tmp)
        raise
    for tmp, path in staged:
        os.replace(tmp, path)
    for directory in sorted({os.path.dirname(path) for _tmp, path in staged}):
        _fsync_dir(directory)
    for entry in the_plan.files:
        if entry.attributes_changed and not entry.content_changed:
            _set_attributes(os.path.join(root, entry.path), entry.attributes)


# ---------------------------------------------------------------- diff


# What the diff shows for a secret file, instead of its content.
SECRET_BEFORE = "(secret content, not shown)\n"  # noqa: S105 - a placeholder, not a password
SECRET_AFTER_CHANGED = "(secret content, changed, not shown)\n"  # noqa: S105


def _text(content: bytes | None) -> str:
    if content is None:
        return ""
    return content.decode("utf-8", errors="replace")


def diff(the_plan: Plan) -> list[dict]:
    """One entry per change, in the callback's format; a secret file's content is never in it."""
    result = []
    for entry in the_plan.files:
        full = os.path.join(the_plan.root, entry.path)
        if entry.content_changed:
            if entry.secret:
                before = SECRET_BEFORE if entry.exists else ""
                after = SECRET_AFTER_CHANGED if entry.exists else SECRET_BEFORE
            else:
                before, after = _text(entry.live_content), _text(entry.content)
            result.append({"before_header": full, "after_header": full, "before": before, "after": after})
        if entry.attributes_changed:
            result.append(
                {
                    "before_header": f"{full} (attributes)",
                    "after_header": f"{full} (attributes)",
                    "before": f"{entry.live_attributes}\n",
                    "after": f"{entry.attributes.text()}\n",
                }
            )
    for entry in the_plan.directories:
        if entry.changed:
            full = the_plan.root if entry.path == "." else os.path.join(the_plan.root, entry.path)
            after = _dir_attributes(entry)
            before = "" if not entry.exists else f"directory, {entry.live_attributes.text()}\n"
            result.append(
                {
                    "before_header": f"{full}/",
                    "after_header": f"{full}/",
                    "before": before,
                    "after": f"directory, {after.text()}\n",
                }
            )
    return result


def secret_values(files: list[FileEntry]) -> set[str]:
    """Texts to mask in every result and message: each secret content whole, stripped and line by line.

    Single lines shorter than 16 characters are left out (a PEM body line is 64), so that masking does not eat
    common words of other output.
    """
    values: set[str] = set()
    for entry in files:
        if not entry.secret:
            continue
        text = entry.content.decode("utf-8", errors="replace")
        values.update(v for v in (text, text.strip()) if v)
        values.update(line.strip() for line in text.splitlines() if len(line.strip()) >= 16)
    return values

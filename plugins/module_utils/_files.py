# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How every module of this collection writes a file: predicted, atomic, never too open.

Private to the collection: the interface may change without notice.
"""

from __future__ import annotations

import os
import re
import tempfile

_OCTAL_MODE = re.compile(r"^0?[0-7]{3}$")


class ModeError(ValueError):
    """A mode option that is no octal mode, or that opens a file of secrets to others; the text says which."""


def octal_mode(option: str, value, private: str | None = None) -> str:
    """`value` of the mode option `option` (an int, or a string such as '0640') as four octal digits.

    `private` names what the file holds when it must stay closed to others ("private keys",
    "password hashes"): a mode that gives others any access is then refused; the group may read,
    for a service that reads the file through its group. ModeError says what is wrong and what to use.
    """
    text = format(value, "04o") if isinstance(value, int) and not isinstance(value, bool) else str(value)
    if not _OCTAL_MODE.match(text):
        examples = "'0600' or '0640'" if private else "'0600' or '0644'"
        raise ModeError(f"{option} {value!r} is not an octal mode such as {examples}")
    if private and int(text, 8) & 0o007:
        raise ModeError(f"{option} {text.rjust(4, '0')} lets others access {private}: use 0600 or 0640")
    return text.rjust(4, "0")


def read_file(path: str) -> bytes | None:
    """The file's content, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def file_args_for(module, path: str, default_mode: str) -> dict:
    """The module's file attributes for `path`, with the module's own default mode."""
    params = dict(module.params)
    if params.get("mode") is None:
        params["mode"] = default_mode
    return module.load_file_common_arguments(params, path=path)


def write_file(module, path: str, content: bytes, file_args: dict) -> bool:
    """Make `path` hold `content` with the attributes in `file_args`; True when anything changed.

    In check mode nothing is written and the return value predicts the change;
    a missing directory fails in check mode as it does in a real run.
    The new content goes to a temporary file in the same directory, created
    0600 (never readable by others while it is written), flushed to disk and
    renamed over the target, so a reader sees the old file or the new one,
    never half of one. The requested mode, owner and group are applied to the
    temporary file before the rename (from 0600 towards them, never from
    something more open), so readers never meet the file with other ones.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        module.fail_json(msg=f"cannot write {path}: the directory {directory} does not exist; create it first")
    changed = read_file(path) != content
    if changed and not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            # The final mode, owner and group before the rename: a reader that may read the file through its group
            # (nginx's workers and the htpasswd file) never meets a 0600 root:root file in between.
            module.set_fs_attributes_if_different(dict(file_args, path=tmp), False)
            os.replace(tmp, path)
        except OSError as exc:
            module.fail_json(msg=f"cannot write {path}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if module.check_mode and not os.path.exists(path):
        # Nothing to compare attributes with: the file is new, which is a change already.
        return True
    return module.set_fs_attributes_if_different(file_args, changed)

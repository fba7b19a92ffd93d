# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How every module of this collection writes a file: predicted, atomic, never too open.

Private to the collection: the interface may change without notice.
"""

from __future__ import annotations

import os
import tempfile


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

    In check mode nothing is written and the return value predicts the change.
    The new content goes to a temporary file in the same directory, created
    0600 (never readable by others while it is written), flushed to disk and
    renamed over the target, so a reader sees the old file or the new one,
    never half of one. The requested mode, owner and group are applied after
    the rename: from 0600 towards them, never from something more open.
    """
    changed = read_file(path) != content
    if changed and not module.check_mode:
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            module.fail_json(msg=f"cannot write {path}: the directory {directory} does not exist; create it first")
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
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

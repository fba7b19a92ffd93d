"""The shared file writer: predicted in check mode, atomic, never more open than asked."""

from __future__ import annotations

import os
import stat

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.dockyard.registry.plugins.module_utils import _files


def make_module(check_mode: bool = False):
    args = {"path": "x", "_ansible_check_mode": check_mode}
    with patch_module_args(args):
        return basic.AnsibleModule(
            argument_spec={"path": {"type": "path"}}, add_file_common_args=True, supports_check_mode=True
        )


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_is_written_with_the_default_mode(tmp_path):
    module = make_module()
    target = tmp_path / "users"
    args = _files.file_args_for(module, str(target), "0640")
    assert _files.write_file(module, str(target), b"alice:x\n", args) is True
    assert target.read_bytes() == b"alice:x\n"
    assert mode_of(target) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["users"]  # no temporary file left


def test_same_content_and_mode_is_no_change(tmp_path):
    module = make_module()
    target = tmp_path / "users"
    args = _files.file_args_for(module, str(target), "0640")
    _files.write_file(module, str(target), b"a\n", args)
    inode = os.stat(target).st_ino
    assert _files.write_file(module, str(target), b"a\n", args) is False
    assert os.stat(target).st_ino == inode


def test_a_mode_change_alone_is_a_change(tmp_path):
    target = tmp_path / "key.pem"
    target.write_bytes(b"k")
    target.chmod(0o644)
    module = make_module()
    assert _files.write_file(module, str(target), b"k", _files.file_args_for(module, str(target), "0600")) is True
    assert mode_of(target) == 0o600


def test_new_content_replaces_the_file_not_its_inode(tmp_path):
    module = make_module()
    target = tmp_path / "config.yml"
    args = _files.file_args_for(module, str(target), "0640")
    _files.write_file(module, str(target), b"old\n", args)
    inode = os.stat(target).st_ino
    assert _files.write_file(module, str(target), b"new\n", args) is True
    assert target.read_bytes() == b"new\n"
    assert os.stat(target).st_ino != inode  # renamed over, never truncated in place


@pytest.mark.parametrize("existing", [None, b"old\n"])
def test_check_mode_predicts_and_writes_nothing(tmp_path, existing):
    target = tmp_path / "f"
    if existing is not None:
        target.write_bytes(existing)
        target.chmod(0o640)
    module = make_module(check_mode=True)
    args = _files.file_args_for(module, str(target), "0640")
    assert _files.write_file(module, str(target), b"new\n", args) is True
    assert (target.read_bytes() if target.exists() else None) == existing


def test_check_mode_predicts_no_change_when_nothing_differs(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"same\n")
    target.chmod(0o640)
    module = make_module(check_mode=True)
    assert _files.write_file(module, str(target), b"same\n", _files.file_args_for(module, str(target), "0640")) is False

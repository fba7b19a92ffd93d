"""The shared file writer: predicted in check mode, atomic, never more open than asked."""

from __future__ import annotations

import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.dockyard.registry.plugins.module_utils import _files

from tests.unit.plugins.conftest import mode_of


def make_module(check_mode: bool = False):
    args = {"path": "x", "_ansible_check_mode": check_mode}
    with patch_module_args(args):
        return basic.AnsibleModule(
            argument_spec={"path": {"type": "path"}}, add_file_common_args=True, supports_check_mode=True
        )


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


def test_the_new_file_has_its_mode_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    # A reader that reads the file through its group (nginx and the htpasswd file) never meets it 0600.
    module = make_module()
    target = tmp_path / "htpasswd"
    args = _files.file_args_for(module, str(target), "0640")
    _files.write_file(module, str(target), b"alice:x\n", args)
    seen = []
    replace = os.replace

    def watching_replace(source, destination):
        seen.append(mode_of(source))
        replace(source, destination)

    monkeypatch.setattr(_files.os, "replace", watching_replace)
    assert _files.write_file(module, str(target), b"alice:y\n", args) is True
    assert seen == [0o640]
    assert mode_of(target) == 0o640


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


class Failed(Exception):
    """fail_json, raising as Ansible's exit would end the module."""


def raise_failed(self, msg, **kwargs):
    raise Failed(msg)


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_missing_directory_fails_in_check_mode_as_in_a_real_run(tmp_path, monkeypatch, check_mode):
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", raise_failed)
    module = make_module(check_mode=check_mode)
    target = tmp_path / "absent" / "config.yml"
    with pytest.raises(Failed) as failed:
        _files.write_file(module, str(target), b"new\n", _files.file_args_for(module, str(target), "0640"))
    directory = tmp_path / "absent"
    assert str(failed.value) == f"cannot write {target}: the directory {directory} does not exist; create it first"
    assert not directory.exists()


GOOD_MODES = [
    ("0600", None, "0600"),
    ("600", None, "0600"),
    (0o640, None, "0640"),
    ("0644", None, "0644"),
    ("0640", "password hashes", "0640"),
    ("0440", "password hashes", "0440"),
    (0o600, "private keys", "0600"),
]


@pytest.mark.parametrize(("value", "secret", "expected"), GOOD_MODES)
def test_octal_mode_gives_four_digits(value, secret, expected):
    assert _files.octal_mode("mode", value, secret) == expected


BAD_MODES = [
    ("rw-r--r--", None, "mode 'rw-r--r--' is not an octal mode such as '0600' or '0644'"),
    ("u=rw,g=r", "password hashes", "mode 'u=rw,g=r' is not an octal mode such as '0600' or '0640'"),
    (640, None, "mode 640 is not an octal mode such as '0600' or '0644'"),  # decimal 640 is 0o1200
    ("0666", "password hashes", "mode 0666 lets others access password hashes: use 0600 or 0640"),
    ("0644", "private keys", "mode 0644 lets others access private keys: use 0600 or 0640"),
    (0o602, "password hashes", "mode 0602 lets others access password hashes: use 0600 or 0640"),
    ("0641", "password hashes", "mode 0641 lets others access password hashes: use 0600 or 0640"),
]


@pytest.mark.parametrize(("value", "secret", "message"), BAD_MODES)
def test_octal_mode_refuses_what_is_not_one_or_too_open(value, secret, message):
    with pytest.raises(_files.ModeError) as refused:
        _files.octal_mode("mode", value, secret)
    assert str(refused.value) == message

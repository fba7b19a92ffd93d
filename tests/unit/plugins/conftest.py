"""Run a module's main() in-process, the way Ansible would, and catch its result.

`run_module(module, args, check_mode=..., diff=...)` returns the result dict
of exit_json, or raises ModuleFailed (with the result) when the module calls
fail_json. Both happen through the module's own entry point.
"""

from __future__ import annotations

import os
import stat
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExited(Exception):
    def __init__(self, result: dict):
        super().__init__(result)
        self.result = result


class ModuleFailed(Exception):
    def __init__(self, result: dict):
        super().__init__(result.get("msg"))
        self.result = result
        self.msg = result.get("msg", "")


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise ModuleExited(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs["failed"] = True
    kwargs["msg"] = msg
    raise ModuleFailed(kwargs)


def call_module(module, args: dict, check_mode: bool = False, diff: bool = False) -> dict:
    full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with (
        patch_module_args(full),
        mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json),
        mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json),
    ):
        try:
            module.main()
        except ModuleExited as done:
            return done.result
    raise AssertionError(f"{module.__name__}.main() returned without exit_json or fail_json")


@pytest.fixture
def run_module():
    return call_module


def mode_of(path) -> int:
    """A file's permission bits, as the modules' tests compare them."""
    return stat.S_IMODE(os.stat(path).st_mode)

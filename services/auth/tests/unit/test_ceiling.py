# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ceiling on an api_admin robot, against a table typed out by hand from the rules in ceiling.py's docstring.

The caller is robot ``deployer`` holding pull and push on ``web`` and pull on ``_global``. Each row is one
change it asks for and whether it may; a refusal must say why in words that name the rule.
"""

from __future__ import annotations

import pytest

from dockyard_auth.ceiling import Change, Op, RobotCaller, refusal

DEPLOYER = RobotCaller("deployer", {"web": frozenset({"pull", "push"}), "_global": frozenset({"pull"})})
PULL, PUSH, DELETE = "pull", "push", "delete"

TABLE = [
    # op, target, target is admin / api_admin, makes an admin, namespace, actions, allowed, words of the refusal
    (Op.CREATE_USER, "carol", False, False, "", set(), True, ""),
    (Op.CREATE_USER, "mallory", False, True, "", set(), False, "create or promote admins"),
    (Op.UPDATE_USER, "carol", False, False, "", set(), True, ""),
    (Op.UPDATE_USER, "carol", False, True, "", set(), False, "create or promote admins"),
    (Op.UPDATE_USER, "root", True, False, "", set(), False, "the admin 'root'"),
    (Op.UPDATE_USER, "root", True, True, "", set(), False, "create or promote admins"),
    (Op.DELETE_USER, "carol", False, False, "", set(), True, ""),
    (Op.DELETE_USER, "root", True, False, "", set(), False, "the admin 'root'"),
    (Op.CREATE_ROBOT, "builder", False, False, "", set(), True, ""),
    (Op.CREATE_ROBOT, "builder", False, True, "", set(), False, "give a robot api_admin"),
    (Op.UPDATE_ROBOT, "builder", False, False, "", set(), True, ""),
    (Op.UPDATE_ROBOT, "builder", False, True, "", set(), False, "give a robot api_admin"),
    (Op.UPDATE_ROBOT, "deployer", True, False, "", set(), False, "its own grants, expiry"),
    (Op.UPDATE_ROBOT, "other", True, False, "", set(), False, "which has api_admin"),
    (Op.DELETE_ROBOT, "builder", False, False, "", set(), True, ""),
    (Op.DELETE_ROBOT, "deployer", True, False, "", set(), False, "its own grants, expiry"),
    (Op.DELETE_ROBOT, "other", True, False, "", set(), False, "which has api_admin"),
    (Op.ROTATE_SECRET, "deployer", True, False, "", set(), True, ""),
    (Op.ROTATE_SECRET, "builder", False, False, "", set(), False, "the secret of robot 'builder'"),
    (Op.ROTATE_SECRET, "other", True, False, "", set(), False, "the secret of robot 'other'"),
    (Op.SET_GRANT, "builder", False, False, "web", {PULL}, True, ""),
    (Op.SET_GRANT, "builder", False, False, "web", {PULL, PUSH}, True, ""),
    (Op.SET_GRANT, "builder", False, False, "web", set(), True, ""),
    (Op.SET_GRANT, "builder", False, False, "web", {PULL, DELETE}, False, "does not hold delete"),
    (Op.SET_GRANT, "builder", False, False, "_global", {PULL}, True, ""),
    (Op.SET_GRANT, "builder", False, False, "_global", {PUSH}, False, "does not hold push"),
    (Op.SET_GRANT, "builder", False, False, "ops", {PULL}, False, "namespace 'ops' more than"),
    (Op.SET_GRANT, "deployer", True, False, "ops", {PULL}, False, "its own grants, expiry"),
    (Op.SET_GRANT, "deployer", True, False, "web", {PULL}, False, "its own grants, expiry"),
    (Op.SET_GRANT, "other", True, False, "web", {PULL}, False, "which has api_admin"),
    (Op.DELETE_GRANT, "builder", False, False, "ops", set(), True, ""),
    (Op.DELETE_GRANT, "deployer", True, False, "web", set(), False, "its own grants, expiry"),
    (Op.DELETE_GRANT, "other", True, False, "web", set(), False, "which has api_admin"),
]  # fmt: skip


@pytest.mark.parametrize("row", TABLE, ids=lambda row: f"{row[0]}-{row[1]}-{row[4] or '-'}-{sorted(row[5])}")
def test_the_ceiling(row):
    op, target, target_admin, makes_admin, namespace, actions, allowed, words = row
    change = Change(op, target, target_admin, makes_admin, namespace, frozenset(actions))
    reason = refusal(DEPLOYER, change)
    if allowed:
        assert reason is None
    else:
        assert reason is not None and words in reason and reason.startswith("robot+deployer may not")


def test_every_operation_is_in_the_table():
    assert {row[0] for row in TABLE} == set(Op)

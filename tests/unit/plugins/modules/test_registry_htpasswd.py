"""dockyard.registry.registry_htpasswd through its own entry point: good and bad inputs, check mode, diff, files."""

from __future__ import annotations

import grp
import json
import os
import shutil
import subprocess

import pytest
from ansible_collections.dockyard.registry.plugins.modules import registry_htpasswd
from passlib.hash import bcrypt

from tests.unit.plugins.conftest import ModuleFailed, mode_of

SHA_HASH = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="  # htpasswd -s of "password"
HTPASSWD = shutil.which("htpasswd")
RESULT_LISTS = ("added", "updated", "upgraded", "removed", "unchanged", "legacy_users")


def user(name: str, password: str | None = None, state: str = "present") -> dict:
    return {"name": name, "password": password if password is not None else f"{name}-pw", "state": state}


def entries(path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture
def path(tmp_path):
    return tmp_path / "htpasswd"


@pytest.fixture
def run(run_module, path):
    def _run(users, check_mode=False, diff=False, **options):
        return run_module(registry_htpasswd, dict(path=str(path), users=users, **options), check_mode, diff)

    return _run


# ---------------------------------------------------------------- the story


def test_new_file(run, path):
    result = run([user("alice"), user("bob")])
    assert result["changed"] is True
    assert result["added"] == ["alice", "bob"]
    assert result["users"] == ["alice", "bob"]
    assert all(result[key] == [] for key in RESULT_LISTS if key != "added")
    hashes = entries(path)
    assert list(hashes) == ["alice", "bob"]
    assert all(h.startswith("$2y$10$") for h in hashes.values())
    assert bcrypt.verify("alice-pw", hashes["alice"]) and bcrypt.verify("bob-pw", hashes["bob"])
    assert not bcrypt.verify("bob-pw", hashes["alice"])
    assert mode_of(path) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["htpasswd"]  # no temporary file left


@pytest.mark.skipif(HTPASSWD is None, reason="Apache's htpasswd is not installed")
def test_apache_htpasswd_accepts_every_user(run, path):
    users = [user("alice"), user("j\u00fcrgen", "p\u00e4ss w\u00f6rd"), user("max", "x" * 72)]
    run(users)
    for entry in users:
        proc = subprocess.run(
            [HTPASSWD, "-vb", str(path), entry["name"], entry["password"]], capture_output=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        wrong = subprocess.run([HTPASSWD, "-vb", str(path), entry["name"], "wrong"], capture_output=True, check=False)
        assert wrong.returncode != 0


def test_four_runs_then_one_user_added(run, path):
    users = [user("alice"), user("bob")]
    first_check = run(users, check_mode=True)
    assert first_check["changed"] is True and first_check["added"] == ["alice", "bob"]
    assert not path.exists()
    assert run(users)["changed"] is True
    content, inode = path.read_bytes(), os.stat(path).st_ino
    second_check = run(users, check_mode=True)
    assert second_check["changed"] is False
    assert second_check["unchanged"] == ["alice", "bob"]
    again = run(users)
    assert again["changed"] is False and again["added"] == [] and again["unchanged"] == ["alice", "bob"]
    assert path.read_bytes() == content and os.stat(path).st_ino == inode

    users.append(user("carol"))
    predicted = run(users, check_mode=True)
    assert path.read_bytes() == content
    applied = run(users)
    for result in (predicted, applied):
        assert result["changed"] is True
        assert result["added"] == ["carol"]
        assert result["unchanged"] == ["alice", "bob"]
        assert result["users"] == ["alice", "bob", "carol"]
    assert path.read_bytes().startswith(content)  # alice's and bob's lines byte for byte
    assert bcrypt.verify("carol-pw", entries(path)["carol"])


def test_check_mode_when_the_file_does_not_exist(run, path):
    result = run([user("alice")], check_mode=True)
    assert result["changed"] is True and result["added"] == ["alice"]
    assert not path.exists()


@pytest.mark.parametrize("check_mode", [False, True])
def test_missing_directory_fails_in_check_mode_as_in_a_real_run(run_module, tmp_path, check_mode):
    target = tmp_path / "missing" / "htpasswd"
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_htpasswd, {"path": str(target), "users": [user("alice")]}, check_mode=check_mode)
    assert failed.value.msg == f"cannot write {target}: the directory {target.parent} does not exist; create it first"
    assert not target.parent.exists()


def test_changed_password_is_updated(run, path):
    run([user("alice"), user("bob")])
    alice_line = path.read_text().splitlines()[0]
    result = run([user("alice"), user("bob", "new-pw")])
    assert result["changed"] is True
    assert result["updated"] == ["bob"] and result["unchanged"] == ["alice"]
    assert path.read_text().splitlines()[0] == alice_line
    assert bcrypt.verify("new-pw", entries(path)["bob"])


def test_existing_bcrypt_of_other_cost_and_prefix_is_left_alone(run, path):
    path.write_text(f"alice:{bcrypt.using(rounds=4, ident='2b').hash('alice-pw')}\n")
    path.chmod(0o640)
    before = path.read_bytes()
    result = run([user("alice")], cost=12)
    assert result["changed"] is False and result["unchanged"] == ["alice"]
    assert path.read_bytes() == before


def test_cost_of_new_hashes(run, path):
    run([user("alice")], cost=11)
    assert entries(path)["alice"].startswith("$2y$11$")


def test_legacy_entries(run, path):
    apr1 = "$apr1$RAnIaqNw$J81Zz5rMAeU8MIGrajzpM/"
    path.write_text(f"dave:{SHA_HASH}\nerin:{apr1}\n")
    path.chmod(0o640)
    result = run([user("dave", "password")])
    assert result["changed"] is True
    assert result["upgraded"] == ["dave"]
    assert result["legacy_users"] == ["erin"] and result["unchanged"] == ["erin"]
    hashes = entries(path)
    assert bcrypt.verify("password", hashes["dave"]) and hashes["dave"].startswith("$2y$")
    assert hashes["erin"] == apr1
    assert run([user("dave", "password")])["changed"] is False
    exclusive = run([user("dave", "password")], exclusive=True)
    assert exclusive["removed"] == ["erin"] and exclusive["legacy_users"] == []
    assert list(entries(path)) == ["dave"]


def test_absent_and_exclusive(run, path):
    run([user("alice"), user("bob"), user("carol")])
    result = run([user("bob", state="absent"), user("nobody", state="absent")])
    assert result["changed"] is True and result["removed"] == ["bob"]
    assert result["users"] == ["alice", "carol"]
    assert run([user("bob", state="absent")])["changed"] is False
    exclusive = run([user("carol")], exclusive=True)
    assert exclusive["removed"] == ["alice"] and exclusive["users"] == ["carol"]
    assert list(entries(path)) == ["carol"]


def test_comments_and_blank_lines_are_kept(run, path):
    path.write_text("# registry users\n\n")
    path.chmod(0o640)
    run([user("alice")])
    lines = path.read_text().splitlines()
    assert lines[:2] == ["# registry users", ""] and lines[2].startswith("alice:$2y$")


def test_file_without_final_newline_is_left_alone(run, path):
    content = f"alice:{bcrypt.using(rounds=4).hash('alice-pw')}".encode()
    path.write_bytes(content)
    path.chmod(0o640)
    assert run([user("alice")])["changed"] is False
    assert path.read_bytes() == content


def test_mode_and_group(run, path):
    try:
        group = grp.getgrnam("www-data")
    except KeyError:
        pytest.skip("no group www-data here")
    result = run([user("alice")], group="www-data")
    assert result["changed"] is True
    assert os.stat(path).st_gid == group.gr_gid and mode_of(path) == 0o640
    assert run([user("alice")], group="www-data")["changed"] is False
    assert run([user("alice")], group="www-data", mode="0600")["changed"] is True
    assert mode_of(path) == 0o600


@pytest.mark.parametrize(("mode", "expected"), [("0600", 0o600), ("0440", 0o440), (0o640, 0o640), ("640", 0o640)])
def test_modes_closed_to_others_are_accepted(run, path, mode, expected):
    assert run([user("alice")], mode=mode)["changed"] is True
    assert mode_of(path) == expected
    assert run([user("alice")], mode=mode)["changed"] is False


def test_mode_drift_alone_is_a_change(run, path):
    run([user("alice")])
    path.chmod(0o644)
    assert run([user("alice")], check_mode=True)["changed"] is True
    assert mode_of(path) == 0o644
    result = run([user("alice")])
    assert result["changed"] is True and result["unchanged"] == ["alice"]
    assert mode_of(path) == 0o640


def test_no_users_makes_an_empty_file(run, path):
    result = run([])
    assert result["changed"] is True and result["users"] == []
    assert path.read_bytes() == b""
    assert run([])["changed"] is False


# ---------------------------------------------------------------- diff and secrets


def test_diff_has_names_and_never_hashes_or_passwords(run, path):
    run([user("alice"), user("bob")])
    with path.open("a") as handle:
        handle.write(f"dave:{SHA_HASH}\n")
    old_bob_hash = entries(path)["bob"]
    result = run([user("alice"), user("bob", "Secr3t-new"), user("carol", "Secr3t-carol")], diff=True)
    assert result["diff"]["before"] == "alice\nbob\ndave (sha1)\n"
    assert result["diff"]["after"] == "alice\nbob (new password)\ndave (sha1)\ncarol\n"
    assert result["diff"]["before_header"] == str(path)
    dumped = json.dumps(result)
    for secret in ("Secr3t", "alice-pw", "$2y$", old_bob_hash, SHA_HASH):
        assert secret not in dumped


def test_no_diff_unless_asked(run):
    assert "diff" not in run([user("alice")])


# ---------------------------------------------------------------- bad input


BAD_INPUTS = [
    pytest.param({"users": [user("")]}, "users[0].name is empty", id="empty-name"),
    pytest.param({"users": [user("a:b")]}, "users[0].name 'a:b' contains ':'", id="colon"),
    pytest.param({"users": [user("a\nb")]}, "control character U+000A", id="newline-in-name"),
    pytest.param({"users": [user("#a")]}, "starts with '#'", id="comment-name"),
    pytest.param({"users": [user(" a")]}, "leading or trailing white space", id="space-name"),
    pytest.param({"users": [user("a"), user("a", state="absent")]}, "users[1].name 'a' is listed twice", id="dupe"),
    pytest.param({"users": [user("a", "")]}, "users[0].password is empty for user 'a'", id="empty-password"),
    pytest.param({"users": [{"name": "a"}]}, "users[0].password is empty", id="no-password"),
    pytest.param({"users": [user("a", "x" * 73)]}, "longer than 72 bytes", id="long-password"),
    pytest.param({"users": [user("a", "\u00e9" * 37)]}, "longer than 72 bytes", id="long-utf8-password"),
    pytest.param({"users": [user("a", "x\x00y")]}, "NUL character", id="nul-password"),
    pytest.param({"users": [{"password": "pw"}]}, "missing required arguments: name", id="name-missing"),
    pytest.param({"users": [user("a", state="gone")]}, "value of state must be one of", id="bad-state"),
    pytest.param({"users": [user("a")], "cost": 9}, "cost is 9: use a bcrypt cost from 10 to 16", id="cost-low"),
    pytest.param({"users": [user("a")], "cost": 17}, "cost is 17", id="cost-high"),
    pytest.param(
        {"users": [user("a")], "mode": "0666"},
        "mode 0666 lets others access password hashes: use 0600 or 0640",
        id="mode-world-writable",
    ),
    pytest.param(
        {"users": [user("a")], "mode": "0644"},
        "mode 0644 lets others access password hashes: use 0600 or 0640",
        id="mode-world-readable",
    ),
    pytest.param(
        {"users": [user("a")], "mode": 0o604},
        "mode 0604 lets others access password hashes: use 0600 or 0640",
        id="mode-int-world-readable",
    ),
    pytest.param(
        {"users": [user("a")], "mode": "u=rw,g=r,o=r"},
        "mode 'u=rw,g=r,o=r' is not an octal mode such as '0600' or '0640'",
        id="mode-symbolic",
    ),
]


@pytest.mark.parametrize("existing", [None, b"keep:me\n"])
@pytest.mark.parametrize(("options", "message"), BAD_INPUTS)
def test_bad_input_fails_before_touching_anything(run_module, path, existing, options, message):
    if existing is not None:
        path.write_bytes(existing)
        path.chmod(0o644)
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_htpasswd, dict(path=str(path), **options))
    assert message in failed.value.msg
    if existing is None:
        assert not path.exists()
    else:
        assert path.read_bytes() == existing and mode_of(path) == 0o644


BAD_FILES = [
    pytest.param(b"alice:x\ngarbage\n", "line 2 has no ':'", id="no-colon"),
    pytest.param(b"# c\n:x\n", "line 2 has an empty user name", id="empty-name"),
    pytest.param(b"alice:x\r\nbob:y\r\n", "line 1 ends in a carriage return", id="crlf"),
    pytest.param(b"alice:x\nbob:y\nalice:z\n", "'alice' appears on lines 1 and 3", id="duplicate"),
    pytest.param(b" alice:x\n", "line 1 has leading or trailing white space", id="indented"),
    pytest.param(b"\xffalice:x\n", "line 1 is not valid UTF-8", id="latin1"),
]


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_unparsable_file_is_never_rewritten(run_module, path, content, message, check_mode):
    path.write_bytes(content)
    path.chmod(0o600)
    args = {"path": str(path), "users": [user("alice"), user("bob")], "exclusive": True}
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_htpasswd, args, check_mode=check_mode)
    assert message in failed.value.msg
    assert str(path) in failed.value.msg and "left as it is" in failed.value.msg
    assert path.read_bytes() == content and mode_of(path) == 0o600


def test_create_false(run, path):
    with pytest.raises(ModuleFailed) as failed:
        run([user("alice")], create=False)
    assert "does not exist and create=false" in failed.value.msg
    assert not path.exists()
    path.write_text("")
    assert run([user("alice")], create=False)["added"] == ["alice"]


def test_path_is_a_directory(run_module, tmp_path):
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_htpasswd, {"path": str(tmp_path), "users": [user("alice")]})
    assert f"cannot read {tmp_path}" in failed.value.msg


def test_missing_passlib_names_both_ways_to_install_it(run, path, monkeypatch):
    monkeypatch.setattr(registry_htpasswd, "PASSLIB_IMPORT_ERROR", "Traceback: No module named 'passlib'")
    with pytest.raises(ModuleFailed) as failed:
        run([user("alice")])
    for name in ("passlib", "libpass", "python3-passlib", "bcrypt", "python3-bcrypt"):
        assert name in failed.value.msg
    assert not path.exists()

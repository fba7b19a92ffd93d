"""dockyard.registry.service_files through its own entry point: the set, its validation, check mode, diff, secrets."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.dockyard.registry.plugins.module_utils import _service_files
from ansible_collections.dockyard.registry.plugins.modules import service_files

from tests.unit.plugins.conftest import ModuleFailed

KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7secretsecret1\n"
    "c2VjcmV0IGtleSBtYXRlcmlhbCB0aGF0IG11c3QgbmV2ZXIgYmUgbG9nZ2VkIQ==\n"
    "-----END PRIVATE KEY-----\n"
)
KEY_LINES = [line for line in KEY.splitlines() if "BEGIN" not in line and "END" not in line]


def mode_of(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def tree(path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry below `path`: relative path -> (mode, content or None for a directory)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, path)
            found[rel] = (mode_of(full), None if os.path.isdir(full) else open(full, "rb").read())  # noqa: SIM115
    return found


@pytest.fixture
def parent(tmp_path):
    directory = tmp_path / "etc"
    directory.mkdir()
    return directory


@pytest.fixture
def root(parent):
    return parent / "svc"


@pytest.fixture
def records(tmp_path):
    directory = tmp_path / "records"
    directory.mkdir()
    return directory


def the_set(a: str = "good a\n", b: str = "b\n", key: str = KEY) -> list[dict]:
    return [
        {"path": "a.conf", "content": a},
        {"path": "sub/b.conf", "content": b, "mode": "0640"},
        {"path": "tls/server.key", "content": key, "mode": "0600", "secret": True},
    ]


DIRS = [{"path": "tls", "mode": "0700"}]


@pytest.fixture
def run(run_module, root):
    def _run(files=None, check_mode=False, diff=False, **options):
        args = {"root": str(root), "files": the_set() if files is None else files, "directories": DIRS}
        args.update(options)
        return run_module(service_files, args, check_mode, diff)

    return _run


# ---------------------------------------------------------------- the story


def test_new_set_is_written_with_its_attributes(run, root, parent):
    result = run()
    assert result["changed"] is True
    assert result["changed_files"] == ["a.conf", "sub/b.conf", "tls/server.key"]
    assert result["changed_directories"] == [".", "sub", "tls"]
    assert result["validated"] is False
    assert tree(root) == {
        "a.conf": (0o644, b"good a\n"),
        "sub": (0o755, None),
        "sub/b.conf": (0o640, b"b\n"),
        "tls": (0o700, None),
        "tls/server.key": (0o600, KEY.encode()),
    }
    assert os.listdir(parent) == ["svc"]  # no candidate, no temporary file


def test_four_runs(run, root, parent):
    first_check = run(check_mode=True)
    assert first_check["changed"] is True
    assert first_check["changed_files"] == ["a.conf", "sub/b.conf", "tls/server.key"]
    assert os.listdir(parent) == []
    applied = run()
    assert applied["changed"] is True
    before = tree(root)
    inodes = {p: os.stat(root / p).st_ino for p in before}
    second_check = run(check_mode=True)
    again = run()
    for result in (second_check, again):
        assert result["changed"] is False
        assert result["changed_files"] == [] and result["changed_directories"] == []
        assert result["digest"] == applied["digest"] == first_check["digest"]
    assert tree(root) == before
    assert {p: os.stat(root / p).st_ino for p in before} == inodes


def test_unlisted_files_are_left_alone(run, root):
    run()
    (root / "htpasswd").write_text("alice:x\n")
    (root / "htpasswd").chmod(0o640)
    result = run(the_set(a="good a, new\n"))
    assert result["changed_files"] == ["a.conf"]
    assert (root / "htpasswd").read_text() == "alice:x\n"
    assert mode_of(root / "htpasswd") == 0o640


def test_a_changed_file_gets_a_new_inode_and_the_others_keep_theirs(run, root):
    run()
    inode_a, inode_b = os.stat(root / "a.conf").st_ino, os.stat(root / "sub/b.conf").st_ino
    result = run(the_set(a="good a, new\n"))
    assert result["changed_files"] == ["a.conf"]
    assert (root / "a.conf").read_text() == "good a, new\n"
    assert os.stat(root / "a.conf").st_ino != inode_a
    assert os.stat(root / "sub/b.conf").st_ino == inode_b


def test_a_mode_change_alone_is_a_change_made_in_place(run, root):
    run()
    inode = os.stat(root / "a.conf").st_ino
    files = the_set()
    files[0]["mode"] = "0600"
    predicted = run(files, check_mode=True)
    assert mode_of(root / "a.conf") == 0o644
    result = run(files)
    for outcome in (predicted, result):
        assert outcome["changed"] is True and outcome["changed_files"] == ["a.conf"]
    assert mode_of(root / "a.conf") == 0o600
    assert os.stat(root / "a.conf").st_ino == inode


def test_a_listed_directory_gets_its_mode_when_it_exists(run, root):
    (root / "tls").mkdir(parents=True)
    (root / "tls").chmod(0o755)
    result = run()
    assert "tls" in result["changed_directories"]
    assert mode_of(root / "tls") == 0o700


def test_an_unlisted_existing_directory_is_left_as_it_is(run, root):
    (root / "sub").mkdir(parents=True)
    (root / "sub").chmod(0o750)
    result = run()
    assert "sub" not in result["changed_directories"]
    assert mode_of(root / "sub") == 0o750


def test_a_symlink_at_a_file_path_is_replaced_by_a_file(run, root, tmp_path):
    outside = tmp_path / "outside.conf"
    outside.write_text("good a\n")
    root.mkdir()
    (root / "a.conf").symlink_to(outside)
    result = run()
    assert "a.conf" in result["changed_files"]
    assert not os.path.islink(root / "a.conf")
    assert outside.read_text() == "good a\n"


def test_a_symlinked_directory_below_root_is_refused(run, root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.mkdir()
    (root / "sub").symlink_to(elsewhere)
    with pytest.raises(ModuleFailed) as failed:
        run()
    assert "symbolic link" in failed.value.msg
    assert os.listdir(elsewhere) == []


# ---------------------------------------------------------------- check mode writes nothing


def test_check_mode_writes_nothing_anywhere_and_does_not_validate(run, root, parent, records):
    marker = records / "validated"
    validate = ["sh", "-c", f"touch {marker}"]
    result = run(check_mode=True, diff=True, validate=validate, validate_always=True)
    assert result["changed"] is True and result["validated"] is False
    assert os.listdir(parent) == []  # no root, no candidate
    assert not marker.exists()

    run()
    before = tree(root)
    result = run(the_set(a="good a, new\n"), check_mode=True, validate=validate)
    assert result["changed_files"] == ["a.conf"] and result["validated"] is False
    assert tree(root) == before
    assert os.listdir(parent) == ["svc"]
    assert not marker.exists()


def test_check_mode_on_a_fresh_host_predicts_a_missing_group_as_a_change(run_module, root):
    files = [{"path": "a.conf", "content": "x\n", "group": "no-such-group-dockyard"}]
    result = run_module(service_files, {"root": str(root), "files": files}, check_mode=True)
    assert result["changed"] is True
    with pytest.raises(ModuleFailed) as failed:
        run_module(service_files, {"root": str(root), "files": files})
    assert "no group 'no-such-group-dockyard'" in failed.value.msg
    assert not root.exists()


# ---------------------------------------------------------------- validation


def test_validation_sees_the_whole_new_set_in_a_private_candidate(run, root, parent, records):
    run()
    copy = records / "copy"
    validate = [
        "sh",
        "-c",
        f'cp -a {{root}} {copy} && stat -c %a "$(dirname {{root}})" > {records}/outer-mode '
        f"&& dirname {{root}} > {records}/outer && echo {{root}} > {records}/candidate",
    ]
    result = run(the_set(a="good a, new\n"), validate=validate)
    assert result["validated"] is True and result["changed_files"] == ["a.conf"]
    # The unchanged files are in the candidate too, with their attributes, and the changed one is new.
    assert tree(copy) == tree(root)
    assert (copy / "a.conf").read_text() == "good a, new\n"
    assert (copy / "sub/b.conf").read_text() == "b\n"
    # Beside root, private, named after root, and gone afterwards.
    outer = (records / "outer").read_text().strip()
    assert os.path.dirname(outer) == str(parent)
    assert os.path.basename(outer).startswith(".svc.candidate-")
    assert (records / "candidate").read_text().strip() == os.path.join(outer, "svc")
    assert (records / "outer-mode").read_text().strip() == "700"
    assert not os.path.exists(outer)
    assert os.listdir(parent) == ["svc"]


def test_a_refused_set_changes_nothing_and_leaves_no_candidate(run, root, parent):
    validate = ["sh", "-c", "grep -q good {root}/a.conf || { echo 'a.conf is not good' >&2; exit 3; }"]
    run(validate=validate)
    before = tree(root)
    inodes = {p: os.stat(root / p).st_ino for p in before}
    files = the_set(a="bad a\n", b="b, new\n")
    files[2]["mode"] = "0640"
    with pytest.raises(ModuleFailed) as failed:
        run(files, validate=validate)
    assert "a.conf is not good" in failed.value.msg
    assert "rc 3" in failed.value.msg
    assert failed.value.result["changed"] is False
    assert tree(root) == before
    assert {p: os.stat(root / p).st_ino for p in before} == inodes
    assert os.listdir(parent) == ["svc"]


def test_validation_runs_only_when_a_file_differs_unless_always(run, root, records):
    marker = records / "ran"
    validate = ["sh", "-c", f"echo ran >> {marker}"]
    run(validate=validate)
    assert marker.read_text() == "ran\n"
    assert run(validate=validate)["validated"] is False
    assert marker.read_text() == "ran\n"
    result = run(validate=validate, validate_always=True)
    assert result["validated"] is True and result["changed"] is False
    assert marker.read_text() == "ran\nran\n"


def test_validate_always_refusing_an_unchanged_set_fails(run, root):
    run()
    with pytest.raises(ModuleFailed) as failed:
        run(validate=["false"], validate_always=True)
    assert "refused" in failed.value.msg


def test_a_validation_command_that_does_not_exist_fails_clearly(run, root, parent):
    with pytest.raises(ModuleFailed) as failed:
        run(validate=["/nonexistent/dockyard-check", "{root}"])
    assert "cannot run the validation command" in failed.value.msg
    assert os.listdir(parent) == []


def test_a_failure_while_staging_leaves_every_live_file(run, root, parent, monkeypatch):
    run()
    before = tree(root)
    real = _service_files._write_new
    calls = []

    def failing(directory, name, content, attrs):
        calls.append(name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(directory, name, content, attrs)

    monkeypatch.setattr(_service_files, "_write_new", failing)
    with pytest.raises(ModuleFailed) as failed:
        run(the_set(a="good a, new\n", b="b, new\n"))
    assert "No space left on device" in failed.value.msg
    assert tree(root) == before  # the first file was staged, not renamed; no temporary file is left


# ---------------------------------------------------------------- digest


def test_digest_is_stable_and_follows_every_input(run, root):
    base = run(check_mode=True)["digest"]
    assert len(base) == 64 and int(base, 16) >= 0
    assert run()["digest"] == base
    assert run(list(reversed(the_set())), check_mode=True)["digest"] == base  # order does not matter
    variants = []
    for change in (
        lambda s: s[0].update(content="good a!\n"),
        lambda s: s[0].update(mode="0600"),
        lambda s: s[0].update(owner="0"),
        lambda s: s[1].update(group="0"),
        lambda s: s[0].update(path="a2.conf"),
        lambda s: s[2].update(content=KEY.replace("secret", "SECRET")),
    ):
        files = the_set()
        change(files)
        variants.append(run(files, check_mode=True)["digest"])
    assert base not in variants
    assert len(set(variants)) == len(variants)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../escape.conf", "'..'"),
        ("sub/../../escape.conf", "'..'"),
        ("/etc/passwd", "absolute"),
        ("", "empty"),
        ("./a.conf", "plain relative path"),
        ("sub//a.conf", "plain relative path"),
        ("sub/", "plain relative path"),
        (".", "plain relative path"),
    ],
)
def test_bad_paths_are_refused_before_anything_is_written(run, root, parent, path, message):
    with pytest.raises(ModuleFailed) as failed:
        run([{"path": path, "content": "x\n"}])
    assert message in failed.value.msg
    assert os.listdir(parent) == []


@pytest.mark.parametrize(
    ("files", "directories", "message"),
    [
        ([{"path": "a", "content": ""}, {"path": "a", "content": ""}], [], "twice"),
        ([{"path": "a", "content": ""}, {"path": "a/b", "content": ""}], [], "file and used as a directory"),
        ([{"path": "a", "content": ""}], [{"path": "a"}], "file and used as a directory"),
        ([{"path": "a", "content": ""}], [{"path": "../d"}], "'..'"),
        ([{"path": "a", "content": ""}], [{"path": "d"}, {"path": "d"}], "twice"),
        ([{"path": "a", "content": "", "mode": "0664x"}], [], "not an octal mode"),
        ([{"path": "a", "content": "", "mode": "u=rw"}], [], "not an octal mode"),
        ([{"path": "k", "content": "s", "mode": "0644", "secret": True}], [], "lets others read"),
        ([{"path": "k", "content": "s", "mode": "0604", "secret": True}], [], "lets others read"),
    ],
)
def test_bad_sets_are_refused(run_module, root, parent, files, directories, message):
    with pytest.raises(ModuleFailed) as failed:
        run_module(service_files, {"root": str(root), "files": files, "directories": directories})
    assert message in failed.value.msg
    assert os.listdir(parent) == []


def test_a_relative_root_is_refused(run_module):
    with pytest.raises(ModuleFailed) as failed:
        run_module(service_files, {"root": "etc/svc", "files": []})
    assert "not an absolute path" in failed.value.msg


def test_an_unquoted_yaml_octal_mode_is_read_as_octal(run_module, root):
    run_module(service_files, {"root": str(root), "files": [{"path": "a", "content": "", "mode": 0o640}]})
    assert mode_of(root / "a") == 0o640


def test_a_directory_where_a_file_goes_is_refused(run, root):
    (root / "a.conf").mkdir(parents=True)
    with pytest.raises(ModuleFailed) as failed:
        run()
    assert "is a directory" in failed.value.msg


# ---------------------------------------------------------------- diff and secrets


def test_diff_shows_text_changes_and_never_a_secret(run, root):
    result = run(diff=True)
    by_header = {d["before_header"]: d for d in result["diff"]}
    assert by_header[f"{root}/a.conf"]["after"] == "good a\n"
    assert by_header[f"{root}/tls/server.key"]["after"] == "(secret content, not shown)\n"
    new_key = KEY.replace("secret", "other0")
    result = run(the_set(a="good a, new\n", key=new_key), diff=True)
    by_header = {d["before_header"]: d for d in result["diff"]}
    assert by_header[f"{root}/a.conf"]["before"] == "good a\n"
    assert by_header[f"{root}/a.conf"]["after"] == "good a, new\n"
    assert by_header[f"{root}/tls/server.key"]["before"] == "(secret content, not shown)\n"
    assert by_header[f"{root}/tls/server.key"]["after"] == "(secret content, changed, not shown)\n"
    text = json.dumps(result)
    for secret in (KEY, new_key, *KEY_LINES, *new_key.splitlines()[1:-1]):
        assert secret not in text


def test_diff_of_an_attribute_change(run, root):
    run()
    files = the_set()
    files[1]["mode"] = "0600"
    result = run(files, diff=True)
    assert result["diff"] == [
        {
            "before_header": f"{root}/sub/b.conf (attributes)",
            "after_header": f"{root}/sub/b.conf (attributes)",
            "before": "mode 0640, owner root, group root\n",
            "after": "mode 0600, owner root, group root\n",
        }
    ]


def real_run(capsys, args: dict, check_mode: bool = False, diff: bool = False) -> dict:
    """The module with Ansible's own exit_json/fail_json, which mask no_log values: the JSON it prints."""
    with (
        patch_module_args(dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)),
        pytest.raises(SystemExit),
    ):
        service_files.main()
    return json.loads(capsys.readouterr().out)


def test_secret_content_is_masked_in_the_real_output_also_when_a_check_prints_it(capsys, root):
    args = {"root": str(root), "files": the_set(), "directories": DIRS}
    done = real_run(capsys, args, diff=True)
    assert done["changed"] is True
    text = json.dumps(done)
    assert "good a\\n" in text  # non-secret content is shown (arguments and diff)
    for secret in (KEY, *KEY_LINES):
        assert secret not in text
    # A validation command that prints the key, then fails: the message carries its output, masked.
    args["files"] = the_set(a="good a, new\n")
    args["validate"] = ["sh", "-c", "cat {root}/tls/server.key; exit 1"]
    failed = real_run(capsys, args)
    assert failed["failed"] is True and "refused" in failed["msg"]
    text = json.dumps(failed)
    assert "********" in failed["msg"]
    for secret in (KEY, *KEY_LINES):
        assert secret not in text
    assert (root / "a.conf").read_text() == "good a\n"


def test_a_long_validation_script_is_shortened_in_the_message(run):
    script = "echo checking\n" + "true\n" * 50 + "echo 'not accepted' >&2; exit 1"
    with pytest.raises(ModuleFailed) as failed:
        run(validate=["sh", "-c", script])
    assert "sh -c 'echo checking[...]'" in failed.value.msg
    assert "true\ntrue" not in failed.value.msg
    assert "not accepted" in failed.value.msg

"""dockyard.registry.docker_daemon_json through its own entry point: merge, refusals, check mode, diff, action."""

from __future__ import annotations

import json
import os

import pytest
from ansible_collections.dockyard.registry.plugins.modules import docker_daemon_json

from tests.unit.plugins.conftest import ModuleFailed, mode_of

# The flags of Debian's and Ubuntu's docker.service.
SERVICE_FLAGS = ["/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"]


@pytest.fixture
def path(tmp_path):
    return tmp_path / "daemon.json"


@pytest.fixture
def run(run_module, path):
    def _run(check_mode=False, diff=False, **options):
        options.setdefault("dockerd_flags", SERVICE_FLAGS)
        return run_module(docker_daemon_json, dict(path=str(path), **options), check_mode, diff)

    return _run


def config_of(path) -> dict:
    return json.loads(path.read_bytes())


# ---------------------------------------------------------------- the story


def test_new_file(run, path):
    result = run(settings={"max-concurrent-uploads": 3}, insecure_registries=["registry.example.com:5000"])
    assert result["changed"] is True
    assert result["action"] == "reload"
    assert result["changed_keys"] == ["insecure-registries", "max-concurrent-uploads"]
    assert result["flag_keys"] == ["containerd", "hosts"]
    assert path.read_text() == (
        '{\n  "insecure-registries": [\n    "registry.example.com:5000"\n  ],\n  "max-concurrent-uploads": 3\n}\n'
    )
    assert mode_of(path) == 0o644
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (0, 0)
    assert [p.name for p in path.parent.iterdir()] == ["daemon.json"]  # no temporary file left


def test_new_file_with_no_keys_is_written_and_needs_nothing(run, path):
    result = run()
    assert result["changed"] is True and result["action"] == "none" and result["changed_keys"] == []
    assert path.read_text() == "{}\n"


def test_merge_keeps_the_keys_it_is_not_given(run, path):
    path.write_text('{"log-driver": "journald", "debug": false, "runtimes": {"crun": {"path": "/usr/bin/crun"}}}')
    result = run(settings={"debug": True, "log-opts": {"tag": "{{.Name}}"}})
    assert result["changed"] is True
    assert result["changed_keys"] == ["debug", "log-opts"]
    assert config_of(path) == {
        "log-driver": "journald",
        "debug": True,
        "runtimes": {"crun": {"path": "/usr/bin/crun"}},
        "log-opts": {"tag": "{{.Name}}"},
    }


def test_insecure_registries_union_keeps_the_existing_entries(run, path):
    path.write_text('{"insecure-registries": ["old.example.com:5000", "10.0.0.0/8"]}')
    result = run(
        settings={"insecure-registries": ["mine.example.com:5000"]},
        insecure_registries=["10.0.0.0/8", "new.example.com:5000", "mine.example.com:5000"],
    )
    assert result["changed"] is True and result["action"] == "reload"
    assert config_of(path)["insecure-registries"] == [
        "old.example.com:5000",
        "10.0.0.0/8",
        "mine.example.com:5000",
        "new.example.com:5000",
    ]
    again = run(insecure_registries=["new.example.com:5000"])
    assert again["changed"] is False and again["action"] == "none"


def test_four_runs(run, path):
    path.write_text('{"log-driver": "journald"}\n')
    options = {"settings": {"live-restore": True}, "insecure_registries": ["registry.example.com:5000"]}
    first_check = run(check_mode=True, **options)
    assert first_check["changed"] is True and first_check["action"] == "reload"
    assert path.read_text() == '{"log-driver": "journald"}\n'
    applied = run(**options)
    assert applied["changed"] is True and applied["action"] == "reload"
    content, inode = path.read_bytes(), os.stat(path).st_ino
    second_check = run(check_mode=True, **options)
    assert second_check["changed"] is False and second_check["action"] == "none"
    again = run(**options)
    assert again["changed"] is False and again["action"] == "none" and again["changed_keys"] == []
    assert path.read_bytes() == content and os.stat(path).st_ino == inode


def test_a_file_with_the_same_keys_stays_byte_for_byte(run, path):
    path.write_text('{"debug":true,  "insecure-registries":["r:5000"]}')  # not how the module would write it
    result = run(settings={"debug": True}, insecure_registries=["r:5000"])
    assert result["changed"] is False and result["action"] == "none"
    assert path.read_text() == '{"debug":true,  "insecure-registries":["r:5000"]}'


@pytest.mark.parametrize("content", [b"", b"\n  \n"])
def test_an_empty_file_holds_no_keys(run, path, content):
    path.write_bytes(content)
    assert run(insecure_registries=["r:5000"])["changed_keys"] == ["insecure-registries"]
    assert config_of(path) == {"insecure-registries": ["r:5000"]}


def test_an_empty_file_given_no_keys_is_left_empty(run, path):
    path.write_bytes(b"")
    result = run(diff=True)
    assert result["changed"] is False and result["action"] == "none"
    assert result["diff"]["before"] == result["diff"]["after"] == ""
    assert path.read_bytes() == b""


def test_attributes_alone_change_nothing_for_dockerd(run, path):
    path.write_text('{"debug": true}\n')
    path.chmod(0o600)
    result = run(settings={"debug": True})
    assert result["changed"] is True and result["action"] == "none"
    assert mode_of(path) == 0o644


def test_mode_owner_and_group_can_be_given(run, path):
    run(mode="0640", owner="root", group="0")
    assert mode_of(path) == 0o640


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"debug": true,}', "is not valid JSON"),
        (b"{", "is not valid JSON"),
        (b'{"labels": ["\xff"]}', "is not valid JSON"),
        (b'["debug"]', "holds a JSON list, not an object"),
    ],
)
def test_invalid_json_is_refused_without_writing(run, path, check_mode, content, message):
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ModuleFailed) as failed:
        run(check_mode=check_mode, settings={"debug": True}, insecure_registries=["r:5000"])
    assert failed.value.msg.startswith(f"cannot read {path}: ")
    assert message in failed.value.msg
    assert "Fix or remove it by hand and rerun; nothing was changed." in failed.value.msg
    assert path.read_bytes() == content and mode_of(path) == 0o600


def test_insecure_registries_that_is_not_a_list_is_refused(run, path):
    path.write_text('{"insecure-registries": "r:5000"}')
    with pytest.raises(ModuleFailed) as failed:
        run(insecure_registries=["s:5000"])
    assert failed.value.msg == (
        f"cannot merge into {path}: insecure-registries in the file is a str, not a list. Nothing was changed."
    )
    assert path.read_text() == '{"insecure-registries": "r:5000"}'


@pytest.mark.parametrize("check_mode", [False, True])
def test_flag_conflict_is_refused_without_writing(run, path, check_mode):
    path.write_text('{"pidfile": "/run/docker.pid"}\n')
    with pytest.raises(ModuleFailed) as failed:
        run(
            check_mode=check_mode,
            settings={"hosts": ["unix:///run/docker.sock"], "debug": True},
            dockerd_flags=["/usr/bin/dockerd", "-H", "fd://", "-p", "/run/docker.pid", "--debug=false"],
        )
    msg = failed.value.msg
    assert msg.startswith(f"refusing to write {path}: dockerd gets debug, hosts, pidfile as command-line flags")
    assert "debug: a flag of dockerd_flags, a key from settings" in msg
    assert "pidfile: a flag of dockerd_flags, a key from the file" in msg
    assert "The flags: dockerd_flags: /usr/bin/dockerd -H fd:// -p /run/docker.pid --debug=false." in msg
    assert "Remove each key from where it comes from (settings, insecure_registries or the file), or its flag" in msg
    assert "from dockerd's service (ExecStart) or DOCKER_OPTS in /etc/default/docker, and rerun." in msg
    assert msg.endswith("Nothing was changed.")
    assert failed.value.result["conflicts"] == ["debug", "hosts", "pidfile"]
    assert path.read_text() == '{"pidfile": "/run/docker.pid"}\n'


def test_flag_conflict_from_insecure_registries(run, path):
    with pytest.raises(ModuleFailed) as failed:
        run(insecure_registries=["r:5000"], dockerd_flags=["dockerd", "--insecure-registry=q:5000"])
    assert "insecure-registries: a flag of dockerd_flags, a key from insecure_registries" in failed.value.msg
    assert not path.exists()


def test_no_flags_no_conflicts(run, path):
    result = run(settings={"hosts": ["unix:///run/docker.sock"]}, dockerd_flags=[])
    assert result["changed"] is True and result["flag_keys"] == [] and result["action"] == "restart"


# ---------------------------------------------------------------- flags read on the host


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A /proc with dockerd processes, and /etc/default/docker, both under tmp_path."""
    proc = tmp_path / "proc"

    def process(pid, comm: str, cmdline: list[str], namespace: str | None = "mnt:[4026531832]"):
        directory = proc / str(pid)
        (directory / "ns").mkdir(parents=True)
        (directory / "comm").write_text(comm + "\n")
        (directory / "cmdline").write_bytes(b"".join(arg.encode() + b"\0" for arg in cmdline))
        if namespace:
            (directory / "ns" / "mnt").symlink_to(namespace)

    (proc / "self" / "ns").mkdir(parents=True)
    (proc / "self" / "ns" / "mnt").symlink_to("mnt:[4026531832]")
    defaults = tmp_path / "default-docker"
    monkeypatch.setattr(docker_daemon_json, "PROC", str(proc))
    monkeypatch.setattr(docker_daemon_json, "DOCKER_DEFAULTS", str(defaults))
    return process, defaults


def test_running_dockerds_are_those_of_this_mount_namespace(host, tmp_path):
    process = host[0]
    process(40, "dockerd", ["/usr/sbin/dockerd", "-H", "fd://"])
    process(41, "dockerd", ["dockerd", "--data-root=/inner"], namespace="mnt:[4026532000]")  # in a container
    process(42, "containerd", ["/usr/bin/containerd"])
    process(43, "dockerd", [])  # a zombie
    process(7, "dockerd", ["dockerd", "--label", "a b"], namespace=None)  # namespace unreadable: counted
    found = docker_daemon_json.running_dockerds(str(tmp_path / "proc"))
    assert found == [(7, ["dockerd", "--label", "a b"]), (40, ["/usr/sbin/dockerd", "-H", "fd://"])]


def test_no_proc_no_dockerd(tmp_path):
    assert docker_daemon_json.running_dockerds(str(tmp_path / "missing")) == []


def test_flags_of_the_running_dockerd_and_docker_opts(run_module, host, path):
    process, defaults = host
    process(40, "dockerd", ["/usr/sbin/dockerd", "-H", "fd://"])
    defaults.write_text("# comment\nexport DOCKER_OPTS=\"--label 'team=a b' --log-level=warn\"\n")
    args = {"path": str(path), "settings": {"labels": ["x=y"]}}
    with pytest.raises(ModuleFailed) as failed:
        run_module(docker_daemon_json, args)
    msg = failed.value.msg
    assert "dockerd gets labels as command-line flags" in msg
    assert f"labels: a flag of DOCKER_OPTS in {defaults}, a key from settings" in msg
    assert "The flags: the running dockerd (pid 40): /usr/sbin/dockerd -H fd://; " in msg
    assert f"DOCKER_OPTS in {defaults}: --label 'team=a b' --log-level=warn." in msg
    assert not path.exists()

    result = run_module(docker_daemon_json, {"path": str(path), "settings": {"debug": True}})
    assert result["flag_keys"] == ["hosts", "labels", "log-level"]
    assert result["changed"] is True and result["action"] == "reload"


def test_no_dockerd_and_no_defaults_file(run_module, host, path):
    result = run_module(docker_daemon_json, {"path": str(path), "settings": {"hosts": ["fd://"]}})
    assert result["flag_keys"] == [] and result["changed"] is True


# ---------------------------------------------------------------- check mode and diff


def test_check_mode_writes_nothing_and_predicts(run, path):
    path.write_text('{"debug": true}\n')
    path.chmod(0o600)
    predicted = run(check_mode=True, settings={"log-level": "warn"})
    assert predicted["changed"] is True
    assert predicted["action"] == "restart"
    assert predicted["changed_keys"] == ["log-level"]
    assert path.read_text() == '{"debug": true}\n' and mode_of(path) == 0o600
    applied = run(settings={"log-level": "warn"})
    assert {key: applied[key] for key in predicted} == predicted


def test_check_mode_when_the_file_does_not_exist(run, path):
    result = run(check_mode=True, insecure_registries=["r:5000"])
    assert result["changed"] is True and result["action"] == "reload"
    assert not path.exists()


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_missing_directory_fails_as_in_a_real_run(run_module, tmp_path, check_mode):
    target = tmp_path / "missing" / "daemon.json"
    with pytest.raises(ModuleFailed) as failed:
        run_module(docker_daemon_json, {"path": str(target), "dockerd_flags": []}, check_mode=check_mode)
    assert "does not exist; create it first" in failed.value.msg
    assert not (tmp_path / "missing").exists()


def test_diff_shows_the_json_before_and_after(run, path):
    path.write_text('{"log-driver":"journald","debug":false}')
    result = run(diff=True, settings={"debug": True}, insecure_registries=["r:5000"])
    assert result["diff"] == {
        "before": '{\n  "debug": false,\n  "log-driver": "journald"\n}\n',
        "after": '{\n  "debug": true,\n  "insecure-registries": [\n    "r:5000"\n  ],\n  "log-driver": "journald"\n}\n',
        "before_header": str(path),
        "after_header": str(path),
    }


def test_diff_of_a_new_file(run, path):
    result = run(check_mode=True, diff=True, settings={"debug": True})
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"] == '{\n  "debug": true\n}\n'


def test_no_diff_unless_asked(run):
    assert "diff" not in run(settings={"debug": True})


# ---------------------------------------------------------------- how dockerd takes the change

# (the file before, settings, insecure_registries) -> (changed, action), typed out by hand.
ACTIONS = [
    (None, {}, [], True, "none"),
    ('{"debug": true}', {"debug": True}, [], False, "none"),
    ('{"insecure-registries": ["r:5000"]}', {}, ["r:5000"], False, "none"),
    ('{"log-driver": "journald"}', {"log-driver": "journald"}, [], False, "none"),
    (None, {}, ["r:5000"], True, "reload"),
    ('{"insecure-registries": ["a:5000"]}', {}, ["b:5000"], True, "reload"),
    ('{"debug": false}', {"debug": True}, [], True, "reload"),
    ("{}", {"max-concurrent-uploads": 3}, [], True, "reload"),
    ("{}", {"registry-mirrors": ["https://mirror.example.com"]}, [], True, "reload"),
    ("{}", {"labels": ["site=a"], "live-restore": True, "shutdown-timeout": 30}, [], True, "reload"),
    ('{"log-level": "info"}', {"log-level": "warn"}, [], True, "restart"),
    ("{}", {"log-driver": "journald"}, [], True, "restart"),
    ("{}", {"data-root": "/srv/docker"}, ["r:5000"], True, "restart"),
    ('{"debug": true}', {"debug": False, "storage-driver": "overlay2"}, [], True, "restart"),
]


@pytest.mark.parametrize(("before", "settings", "insecure", "changed", "action"), ACTIONS)
def test_action(run, path, before, settings, insecure, changed, action):
    if before is not None:
        path.write_text(before)
    result = run(settings=settings, insecure_registries=insecure)
    assert (result["changed"], result["action"]) == (changed, action)

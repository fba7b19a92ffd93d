"""The registry role's filters, and the role's wiring of them."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.dockyard.registry.plugins.filter import registry_role as flt
from ansible_collections.dockyard.registry.plugins.module_utils import _registry_role as rr

ROLE = pathlib.Path(__file__).resolve().parents[4] / "roles" / "registry"


def test_every_filter_is_registered():
    assert set(flt.FilterModule().filters()) == {
        "registry_role_config",
        "registry_role_config_errors",
        "registry_role_module_deps",
        "registry_role_tls_files",
        "registry_role_token_files",
        "registry_inputs_digest",
        "registry_tls_key_matches",
    }


def test_config_filter_takes_the_roles_variables_by_name():
    config = flt.registry_role_config(
        {"catalog": {"maxentries": 500}},
        tls=True,
        client_ca="",
        auth="htpasswd",
        realm="Dockyard Registry",
        http_secret="",
        delete_enabled=False,
        mount="/etc/docker/registry",
    )
    assert config["catalog"] == {"maxentries": 500}
    assert config["auth"] == {"htpasswd": {"realm": "Dockyard Registry", "path": "/etc/docker/registry/auth/htpasswd"}}


def test_config_filter_refuses_what_is_not_a_dict():
    with pytest.raises(AnsibleFilterError, match="registry_config must be a dict of sections, got str"):
        flt.registry_role_config("catalog")


def test_errors_filter_names_the_key():
    [message] = flt.registry_role_config_errors({"nosuch": {}})
    assert message.startswith("registry_config.nosuch: ")
    assert "catalog" in message and "replicas" in message


def test_tls_filter_says_which_input_is_wrong():
    with pytest.raises(AnsibleFilterError, match="cannot compare the TLS key with the certificate: the certificate is"):
        flt.registry_tls_key_matches("nothing", "nothing")


def _tasks(path: pathlib.Path) -> list[dict]:
    """The tasks of a task file, those inside blocks included, in order."""
    out = []
    for task in yaml.safe_load(path.read_text()):
        out.extend(_tasks_of(task))
    return out


def _tasks_of(task: dict) -> list[dict]:
    if "block" not in task:
        return [task]
    return [inner for part in ("block", "rescue", "always") for t in task.get(part, []) for inner in _tasks_of(t)]


def _action(task: dict) -> str:
    return next(key for key in task if "." in key)


def test_configure_passes_every_option_registry_config_takes():
    """Nothing the user gives in registry_config is dropped on the way to the module (the known list is Python's)."""
    tasks = [t for t in _tasks(ROLE / "tasks" / "configure.yml") if _action(t) == "dockyard.registry.registry_config"]
    assert len(tasks) == 2  # the dry run, then the write
    for task in tasks:
        options = task["dockyard.registry.registry_config"]
        for name in rr.KNOWN_KEYS:
            assert options.get(name) == f"{{{{ __registry_final_config.{name} | default(omit) }}}}", name
    assert tasks[0]["check_mode"] is True
    assert "check_mode" not in tasks[1]
    # The same options; the path is each task's own: a path in /tmp for the dry run in check mode on a new host.
    dry_run, write = (dict(t["dockyard.registry.registry_config"]) for t in tasks)
    assert dry_run == write
    assert dry_run["path"] == "{{ __registry_config_path }}"
    assert tasks[0]["vars"]["__registry_config_path"].strip().endswith("'/tmp/dockyard-registry-config-check.yml') }}")
    assert tasks[1]["vars"]["__registry_config_path"] == "{{ registry_config_dir }}/config.yml"


def test_the_dry_run_comes_before_any_live_write():
    actions = [_action(t) for t in _tasks(ROLE / "tasks" / "configure.yml")]
    assert actions.count("dockyard.registry.registry_config") == 2
    dry_run = actions.index("dockyard.registry.registry_config")
    for writer in ("dockyard.registry.service_files", "dockyard.registry.registry_htpasswd"):
        assert actions.index(writer) > dry_run, writer

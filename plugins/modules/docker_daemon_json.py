#!/usr/bin/python
# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_daemon_json
short_description: Merge keys into dockerd's daemon.json and say whether dockerd must reload or restart
version_added: 0.1.0
description:
  - Sets top-level keys of dockerd's configuration file (O(settings)) and adds registries to its
    C(insecure-registries) (O(insecure_registries)). Keys the file has and O(settings) does not name are kept, so
    the file can be shared with other tools and hand edits.
  - Refuses, before anything is written, a result with a key that dockerd also gets as a command-line flag, since
    dockerd does not start when a key is set both ways (C(-H fd://) of docker.service and C(hosts), for example).
    The flags are read on the host (see O(dockerd_flags)).
  - Returns RV(action), how dockerd takes the change, for a handler to act on; the module never signals dockerd.
  - A missing, empty or blank file holds no keys. A file that is not a JSON object is never rewritten; see O(path).
  - The file is rewritten only when a key's value changes (or the file does not exist), with sorted keys and a
    two-space indent; otherwise it stays byte for byte. It is written atomically (a temporary file renamed over it).
author:
  - Dockyard contributors (@dockyard)
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description:
      - Predicts exactly what a real run does, RV(action) included, also when the file does not exist yet.
      - Fails as a real run would when the file's directory does not exist.
  diff_mode:
    support: full
    description:
      - Returns the configuration before and after as JSON text with sorted keys, so that only changed keys differ.
        Values are shown as they are, as with M(ansible.builtin.copy).
  idempotent:
    support: full
    description: A second run with the same input changes nothing and returns RV(action=none).
options:
  path:
    description:
      - dockerd's configuration file, as its C(--config-file) names it.
      - An existing file must hold a JSON object; the module fails otherwise and leaves the file as it is, as it does
        when C(insecure-registries) in the file is not a list.
      - Its directory must exist, in check mode too.
    type: path
    default: /etc/docker/daemon.json
  settings:
    description:
      - Top-level keys to set, with their values, replacing the file's values of those keys. Other keys of the file
        are kept.
      - C(insecure-registries) is the exception, whose entries are added to the file's as with O(insecure_registries).
    type: dict
    default: {}
  insecure_registries:
    description:
      - Registries (C(host:port), or a CIDR) to add to C(insecure-registries). Entries the file already lists are
        kept, with their order; the module never removes an insecure registry.
    type: list
    elements: str
    default: []
  dockerd_flags:
    description:
      - dockerd's command-line arguments, one per element as in C(/proc/PID/cmdline) (the program name may come
        first), to check the result's keys against. V([]) checks nothing.
      - Without it, the module reads them on the host. They are the arguments of each running C(dockerd) that sees
        the same files (the same mount namespace, so not a dockerd in a container), and C(DOCKER_OPTS) from
        C(/etc/default/docker) (read by a shell, as Debian's sysvinit script reads it). A dockerd that is not
        running has no flags to read, so only C(DOCKER_OPTS) counts then.
    type: list
    elements: str
  mode:
    description:
      - The file's permissions. Without it, V("0644"), as dockerd's own packages make it.
  owner:
    description:
      - The file's owner. Without it, V(root).
  group:
    description:
      - The file's group. Without it, V(root).
notes:
  - dockerd re-reads only some keys on C(SIGHUP) (C(systemctl reload docker)); RV(action) is V(reload) when every
    changed key is one of them, V(restart) otherwise.
  - Run it as root (C(become)), which owns the file and can read other processes' command lines.
seealso:
  - name: dockerd's configuration file
    description: The keys of daemon.json, the flags they match, and which keys a reload takes.
    link: https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file
  - name: Insecure registries
    description: What C(insecure-registries) changes in how docker talks to a registry.
    link: https://docs.docker.com/reference/cli/dockerd/#insecure-registries
"""

EXAMPLES = r"""
- name: Trust a plain-HTTP registry and cap parallel uploads
  dockyard.registry.docker_daemon_json:
    insecure_registries: [registry.example.com:5000]
    settings:
      max-concurrent-uploads: 3
  register: daemon_json
  notify: Apply dockerd's configuration

- name: Remember how dockerd takes the change, for the handlers
  ansible.builtin.set_fact:
    dockerd_action: "{{ daemon_json.action }}"

# In the handlers:
- name: Reload dockerd
  ansible.builtin.service:
    name: docker
    state: reloaded
  when: dockerd_action == 'reload'
  listen: Apply dockerd's configuration

- name: Restart dockerd
  ansible.builtin.service:
    name: docker
    state: restarted
  when: dockerd_action == 'restart'
  listen: Apply dockerd's configuration

- name: Preview a new log driver without touching the file
  dockyard.registry.docker_daemon_json:
    settings:
      log-driver: journald
  check_mode: true
  diff: true
  register: daemon_json_preview
"""

RETURN = r"""
action:
  description:
    - How dockerd takes the change of configuration. V(none) when no key changed (also when only the file's
      attributes did), V(reload) when every changed key is one dockerd re-reads on C(SIGHUP), V(restart) otherwise.
    - In check mode, what a real run would need.
  returned: always
  type: str
  choices: [none, reload, restart]
  sample: reload
changed_keys:
  description: The top-level keys the run adds or whose value it changes, sorted.
  returned: always
  type: list
  elements: str
  sample: [insecure-registries, max-concurrent-uploads]
flag_keys:
  description: The keys that dockerd gets as command-line flags (from O(dockerd_flags) or read on the host), sorted.
  returned: always
  type: list
  elements: str
  sample: [containerd, hosts]
"""

# The documentation comes first, as in every Ansible module, so the imports cannot.
import os  # noqa: E402
import shlex  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.dockyard.registry.plugins.module_utils import _dockerd, _files  # noqa: E402

DEFAULT_MODE = "0644"
DEFAULT_OWNER = "root"
DEFAULT_GROUP = "root"
# Where the flags of dockerd are read from when dockerd_flags is not given (tests point them elsewhere).
PROC = "/proc"
DOCKER_DEFAULTS = "/etc/default/docker"
_READ_DOCKER_OPTS = '. "$1" && printf %s "${DOCKER_OPTS:-}"'


def running_dockerds(proc: str = PROC) -> list[tuple[int, list[str]]]:
    """(pid, arguments) of each running dockerd in this process's mount namespace, by pid.

    A dockerd in another mount namespace (a container's, rootless docker's)
    reads another daemon.json. When a namespace cannot be read, the dockerd is
    counted: a conflict reported too many beats a dockerd that does not start.
    """
    if not os.path.isdir(proc):
        return []  # not Linux: no dockerd to ask
    try:
        own_namespace = os.readlink(os.path.join(proc, "self", "ns", "mnt"))
    except OSError:
        own_namespace = None
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "comm"), "rb") as handle:
                if handle.read().strip() != b"dockerd":
                    continue
            with open(os.path.join(proc, entry, "cmdline"), "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue  # gone meanwhile
        try:
            namespace = os.readlink(os.path.join(proc, entry, "ns", "mnt"))
        except OSError:
            namespace = None
        if own_namespace is not None and namespace is not None and namespace != own_namespace:
            continue
        args = [arg.decode("utf-8", "replace") for arg in cmdline.split(b"\0") if arg]
        if args:  # a zombie has none
            found.append((int(entry), args))
    return sorted(found)


class DaemonJsonManager:
    """dockerd's daemon.json at `path`: reads it, merges the keys, checks them against dockerd's flags, writes it."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        self.params = module.params
        self.path = self.params["path"]

    def read(self) -> tuple[bytes | None, dict]:
        try:
            content = _files.read_file(self.path)
        except OSError as exc:
            self.module.fail_json(msg=f"cannot read {self.path}: {exc}")
        try:
            return content, _dockerd.parse(content)
        except _dockerd.DaemonJsonError as exc:
            self.module.fail_json(
                msg=f"cannot read {self.path}: {exc}, so dockerd cannot read it either. "
                "Fix or remove it by hand and rerun; nothing was changed."
            )

    def merge(self, before: dict) -> dict:
        try:
            return _dockerd.merge(before, self.params["settings"], self.params["insecure_registries"])
        except _dockerd.DaemonJsonError as exc:
            self.module.fail_json(msg=f"cannot merge into {self.path}: {exc}. Nothing was changed.")

    def flag_sources(self) -> list[tuple[str, list[str]]]:
        """Where dockerd's command-line flags come from, each with its arguments."""
        if self.params["dockerd_flags"] is not None:
            return [("dockerd_flags", self.params["dockerd_flags"])]
        sources = [(f"the running dockerd (pid {pid})", args) for pid, args in running_dockerds(PROC)]
        if os.path.isfile(DOCKER_DEFAULTS):
            rc, out, err = self.module.run_command(["sh", "-c", _READ_DOCKER_OPTS, "sh", DOCKER_DEFAULTS])
            if rc != 0:
                self.module.warn(f"cannot read DOCKER_OPTS from {DOCKER_DEFAULTS} (rc={rc}): {err.strip()}")
            elif out.strip():
                try:
                    args = shlex.split(out)
                except ValueError:  # unbalanced quotes: dockerd's init script splits on white space anyway
                    args = out.split()
                sources.append((f"DOCKER_OPTS in {DOCKER_DEFAULTS}", args))
        return sources

    def check_conflicts(self, before: dict, after: dict, sources: list[tuple[str, list[str]]]) -> list[str]:
        """The keys dockerd gets as flags; fails when `after` sets any of them."""
        keys_of = {label: set(_dockerd.flag_keys(args)) for label, args in sources}
        flag_keys = sorted(set().union(*keys_of.values()))
        conflicts = [key for key in flag_keys if key in after]
        if conflicts:
            origins = "; ".join(self.describe_conflict(key, before, keys_of) for key in conflicts)
            flags = "; ".join(f"{label}: {shlex.join(args)}" for label, args in sources if keys_of[label])
            self.module.fail_json(
                msg=f"refusing to write {self.path}: dockerd gets {', '.join(conflicts)} as command-line flags and "
                f"would not start with the same keys in its configuration file ({origins}). The flags: {flags}. "
                "Remove each key from where it comes from (settings, insecure_registries or the file), or its flag "
                f"from dockerd's service (ExecStart) or DOCKER_OPTS in {DOCKER_DEFAULTS}, and rerun. "
                "Nothing was changed.",
                flag_keys=flag_keys,
                conflicts=conflicts,
            )
        return flag_keys

    def describe_conflict(self, key: str, before: dict, keys_of: dict[str, set[str]]) -> str:
        flagged_by = [label for label, keys in keys_of.items() if key in keys]
        given_by = []
        if key in self.params["settings"]:
            given_by.append("settings")
        if key == _dockerd.INSECURE_REGISTRIES and self.params["insecure_registries"]:
            given_by.append("insecure_registries")
        if key in before:
            given_by.append("the file")
        return f"{key}: a flag of {' and '.join(flagged_by)}, a key from {' and '.join(given_by)}"

    def file_args(self) -> dict:
        file_args = _files.file_args_for(self.module, self.path, DEFAULT_MODE)
        if self.params["owner"] is None:
            file_args["owner"] = DEFAULT_OWNER
        if self.params["group"] is None:
            file_args["group"] = DEFAULT_GROUP
        return file_args

    def run(self) -> dict:
        existing, before = self.read()
        after = self.merge(before)
        flag_keys = self.check_conflicts(before, after, self.flag_sources())
        # No key changes: the file stays byte for byte, whatever its formatting.
        content = existing if existing is not None and after == before else _dockerd.render(after)
        changed = _files.write_file(self.module, self.path, content, self.file_args())
        result = {
            "changed": changed,
            "action": _dockerd.apply_action(before, after),
            "changed_keys": _dockerd.changed_keys(before, after),
            "flag_keys": flag_keys,
        }
        if self.module._diff:
            result["diff"] = {
                # A file with nothing in it shows as empty (a missing one, an empty one kept as it is).
                "before": _dockerd.render(before).decode("utf-8") if existing and existing.strip() else "",
                "after": _dockerd.render(after).decode("utf-8") if content.strip() else "",
                "before_header": self.path,
                "after_header": self.path,
            }
        return result


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/docker/daemon.json"},
            "settings": {"type": "dict", "default": {}},
            "insecure_registries": {"type": "list", "elements": "str", "default": []},
            "dockerd_flags": {"type": "list", "elements": "str"},
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    module.exit_json(**DaemonJsonManager(module).run())


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: service_files
short_description: Put a service's files in place as one set, validated together before any of them goes live
version_added: 0.1.0
description:
  - Makes the directory O(root) hold O(files) (a service's configuration, certificates, keys...) as B(one set) - what
    a service reads together, such as nginx's site with its certificate and key.
  - When any listed file differs from the live one (content, mode, owner or group), and O(validate) is given, the
    whole new set - the changed B(and) the unchanged files - is first written to a candidate directory laid out
    exactly like O(root), and O(validate) runs on it. Only when it succeeds do the changed files replace the live
    ones. When it fails, the module fails with the command's output and nothing under O(root) has changed.
  - "The candidate: a new directory C(<dirname>/.<basename>.candidate-XXXXXXXX) beside O(root) (on a fresh host whose
    O(root) has no parent yet, in its nearest existing ancestor), mode C(0700) so that only its owner can enter it
    (it holds the secret files too). The candidate root that replaces C({root}) in O(validate) is the directory
    C(<basename>) inside it, with the attributes O(root) has after the run. It is removed afterwards, whatever
    happens; only a run killed with SIGKILL during the validation can leave one behind (remove it by hand)."
  - "Install: every changed file's new content is written to a temporary file in its own directory (created
    C(0600), then given its owner, group and mode, then flushed to disk); once all of them are written they are
    renamed over the live files, each rename atomic. A reader sees a file's old or new content, never half of
    one, and never a new file with the wrong mode or owner. A file whose attributes alone changed gets them in
    place. Files under O(root) that O(files) does not list are left alone."
  - Mount B(directories) of O(root) into a container, not single files; an atomic rename replaces the file's inode
    and a single-file bind mount keeps showing the old one.
  - RV(digest) identifies the whole set. A role keeps the digest of the set its service has loaded (as a marker file
    or a container label) and compares it on every run with RV(digest), so that a reload or restart that did not
    happen (a later task failed, the play was interrupted) is done by the next run even though the files no longer
    change.
author:
  - Dockyard contributors (@dockyard)
attributes:
  check_mode:
    support: full
    description:
      - Compares with the live files and predicts C(changed), RV(changed_files), RV(changed_directories) and
        RV(digest) exactly. Writes nothing anywhere - no candidate directory, no temporary file - and does not run
        O(validate).
      - A user or group that does not exist yet (created by an earlier task that check mode did not run) is
        predicted as a change, with a warning, instead of failing.
  diff_mode:
    support: full
    description:
      - One diff per changed file (its text before and after), per attribute change and per new or changed
        directory. A secret file (O(files[].secret=true)) shows only that its content changed, never the content.
  idempotent:
    support: full
    description:
      - A second run with the same input changes nothing and does not run O(validate) (unless O(validate_always)).
options:
  root:
    description:
      - The service's configuration directory on the target, as an absolute path. Every path in O(files) and
        O(directories) is relative to it.
      - It is created (with its parents, C(0755)) when missing, with the attributes O(directories) gives to V(.), or
        else C(0755) C(root:root).
    type: path
    required: true
  files:
    description:
      - The set, each file once. Files of O(root) not listed here are never touched, read or validated.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description:
          - The file's path relative to O(root), such as V(conf.d/registry.conf). No leading C(/), no C(..), C(.) or
            empty part.
          - A symbolic link at that path is replaced by a regular file; a directory there is an error. A directory on
            the way that is a symbolic link is an error (the module never writes outside O(root)).
        type: str
        required: true
      content:
        description:
          - The file's content, text (written as UTF-8). Templates go through P(ansible.builtin.template#lookup)
            first, for example C("{{ lookup('ansible.builtin.template', 'registry.conf.j2') }}").
          - Written as given, byte for byte; nothing adds or removes a final newline.
        type: str
        required: true
      mode:
        description:
          - Permissions, as a quoted octal string such as V("0644") (an unquoted YAML C(0644) is read as octal too).
        type: raw
        default: "0644"
      owner:
        description:
          - Owner, a user name or a numeric uid.
        type: str
        default: root
      group:
        description:
          - Group, a group name or a numeric gid, for example the group a container's service runs as.
        type: str
        default: root
      secret:
        description:
          - The content is secret (a private key, a password file). It never appears in the diff, in the result or in
            a message, and its text (whole, and each line of 16 characters or more) is masked as C(********) wherever
            it would appear in the module's output, including the output of O(validate).
          - O(files[].mode) must not give others any permission (V("0600") or V("0640")).
          - The task itself should still have C(no_log) set to V(true) when it passes secrets, so that Ansible does not
            show or log the task's arguments (at C(-vvv), or in a failure of the task before the module runs).
        type: bool
        default: false
  directories:
    description:
      - Directories with the attributes they must have, each once; V(.) is O(root) itself. Their attributes are set
        also when they exist already.
      - Any other directory a file needs is created, when missing, with mode C(0755), owner and group C(root); an
        existing one is left as it is. Make a directory that holds secret files C(0700) or C(0750) here.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description:
          - The directory's path relative to O(root), as for O(files[].path), or V(.) for O(root).
        type: str
        required: true
      mode:
        description:
          - Permissions, as a quoted octal string such as V("0750").
        type: raw
        default: "0755"
      owner:
        description:
          - Owner, a user name or a numeric uid.
        type: str
        default: root
      group:
        description:
          - Group, a group name or a numeric gid.
        type: str
        default: root
  validate:
    description:
      - A command (argv, no shell) run on the target when any listed file differs from the live one, or on every run
        with O(validate_always=true). Every occurrence of the literal C({root}) in an argument is replaced by the
        candidate root, which holds the whole new set; see the description.
      - It must exit 0 to accept the set. Any other exit code fails the module with the command's standard error and
        output in the message, and nothing under O(root) changes.
      - "Example: C([docker, run, --rm, -v, '{root}/conf.d:/etc/nginx/conf.d:ro', nginx:stable, nginx, -t]) checks the
        set in the real image with the real mounts."
      - Not run in check mode.
    type: list
    elements: str
  validate_always:
    description:
      - Run O(validate) even when no file differs (a check of the whole set on every run).
    type: bool
    default: false
notes:
  - The owner, group and mode of a file are applied to the temporary file before it is renamed into place, so the
    module needs to run as root (C(become)) whenever a file belongs to another user than the one running it.
seealso:
  - module: dockyard.registry.registry_htpasswd
    description: A user file that a service reads at each request, managed on its own.
  - name: nginx -t
    description: nginx's configuration test, the usual O(validate) for nginx.
    link: https://nginx.org/en/docs/switches.html
"""

EXAMPLES = r"""
- name: Site, certificate and key of nginx in a container, checked together by nginx -t in the real image
  dockyard.registry.service_files:
    root: /etc/dockyard/example-proxy
    directories:
      - { path: conf.d, mode: "0755" }
      - { path: tls, mode: "0700" }
    files:
      - path: conf.d/registry.conf
        content: "{{ lookup('ansible.builtin.template', 'registry.conf.j2') }}"
      - path: tls/server.crt
        content: "{{ example_certificate_pem }}"
      - path: tls/server.key
        content: "{{ example_key_pem }}"
        mode: "0600"
        secret: true
    validate:
      - docker
      - run
      - --rm
      - --volume={root}/conf.d:/etc/nginx/conf.d:ro
      - --volume={root}/tls:/etc/dockyard/tls:ro
      - dockyard/nginx:latest
      - nginx
      - -t
  no_log: true  # the key is in the task's arguments
  register: example_proxy_files

- name: Reload the service when the set it loaded is not the set on disk
  ansible.builtin.command: docker exec example-proxy nginx -s reload
  changed_when: true
  when: example_proxy_files.digest != (example_applied_digest | default(''))

- name: A configuration file that a shell check must accept, with the unchanged files beside it
  dockyard.registry.service_files:
    root: /srv/example-app
    files:
      - path: app.conf
        content: "listen = 8080\n"
      - path: limits.conf
        content: "max_connections = 100\n"
    validate: [sh, -c, "grep -q '^listen = ' {root}/app.conf && test -s {root}/limits.conf"]
"""

RETURN = r"""
changed_files:
  description: The files whose content or attributes changed (predicted in check mode), in the order of O(files).
  returned: always
  type: list
  elements: str
  sample: [tls/server.crt, tls/server.key]
changed_directories:
  description: The directories created or whose attributes changed (V(.) is O(root)), outermost first.
  returned: always
  type: list
  elements: str
  sample: [tls]
digest:
  description:
    - sha256 (hex) of the whole set as given - its sorted path, mode, owner, group and the sha256 of each content -
      the same in check mode and whether or not anything changed.
    - Keep it beside the service (a marker file, a container label) once the service has loaded the set, and compare
      it on every run, so that a reload or restart that did not happen is done by the next run.
  returned: always
  type: str
  sample: 3b1f0e6c5a4d2b8e9f7c1a0d6e5b4c3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c
validated:
  description: Whether O(validate) ran and accepted the set (false in check mode and when nothing differed).
  returned: always
  type: bool
  sample: true
root:
  description: O(root), as an absolute path.
  returned: always
  type: str
  sample: /etc/dockyard/proxy
"""

# The documentation comes first, as in every Ansible module, so the imports cannot.
import os  # noqa: E402
import shlex  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.common.text.converters import to_bytes  # noqa: E402
from ansible_collections.dockyard.registry.plugins.module_utils import _service_files as sf  # noqa: E402

# How much of the validation command's output goes into the failure message.
MAX_OUTPUT = 4000
# Longer arguments of the validation command (a script, a configuration text) are shortened in messages.
MAX_SHOWN_ARGUMENT = 80


def describe(argv: list[str]) -> str:
    """The command as a shell line for messages, each long or multi-line argument cut to its start."""
    shown = []
    for arg in argv:
        first = arg.splitlines()[0] if arg else arg
        long = first != arg or len(arg) > MAX_SHOWN_ARGUMENT
        shown.append(first[:MAX_SHOWN_ARGUMENT] + "[...]" if long else arg)
    return shlex.join(shown)


class ServiceFilesManager:
    """The set of files under `root`: plans it, validates a candidate copy, installs the changes."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        self.params = module.params
        self.root = os.path.abspath(self.params["root"]) if os.path.isabs(self.params["root"]) else None

    def fail(self, msg: str, **kwargs) -> None:
        self.module.fail_json(msg=msg, **kwargs)

    def entries(self) -> tuple[list[sf.FileEntry], dict[str, sf.Attributes]]:
        files = []
        for index, item in enumerate(self.params["files"]):
            what = f"files[{index}]"
            path = sf.relative_path(f"{what}.path", item["path"])
            attrs = sf.attributes(f"{what} ({path})", item["mode"], item["owner"], item["group"], item["secret"])
            content = to_bytes(item["content"], errors="surrogate_or_strict")
            files.append(sf.FileEntry(path=path, content=content, attributes=attrs, secret=item["secret"]))
        directories: dict[str, sf.Attributes] = {}
        for index, item in enumerate(self.params["directories"]):
            what = f"directories[{index}]"
            path = sf.relative_path(f"{what}.path", item["path"], allow_root=True)
            if path in directories:
                raise sf.ServiceFilesError(f"directories lists {path!r} twice: each directory may be listed once")
            directories[path] = sf.attributes(f"{what} ({path})", item["mode"], item["owner"], item["group"])
        return files, directories

    def validate(self, plan: sf.Plan) -> bool:
        argv = self.params["validate"]
        if not argv or self.module.check_mode:
            return False
        if not (plan.files_differ or self.params["validate_always"]):
            return False
        outer, candidate_root = sf.build_candidate(plan)
        try:
            command = sf.substitute(argv, candidate_root)
            try:
                rc, out, err = self.module.run_command(command, handle_exceptions=False)
            except OSError as exc:
                self.fail(
                    f"cannot run the validation command {describe(argv)}: {exc}; nothing under {self.root} was "
                    "changed. Install the command on the target, or fix validate."
                )
        finally:
            sf.remove_tree(outer)
        if rc != 0:
            output = "\n".join(part.strip() for part in (err, out) if part.strip())
            if len(output) > MAX_OUTPUT:
                output = output[:MAX_OUTPUT] + " [...]"
            self.fail(
                f"the validation command refused the new files for {self.root} (rc {rc}), so none of them was put in "
                f"place and the live files are as they were; fix the input it names. Command: {describe(argv)} "
                f"(with {sf.ROOT_PLACEHOLDER} a copy of the whole new set). Output: {output or '(none)'}",
                rc=rc,
                stdout=out,
                stderr=err,
                changed=False,
            )
        return True

    def run(self) -> dict:
        if self.root is None:
            self.fail(f"root {self.params['root']!r} is not an absolute path: give the service's directory in full")
        try:
            files, directories = self.entries()
        except sf.ServiceFilesError as exc:
            self.fail(str(exc))
        # Before anything could print them: mask the secret contents in every result and message.
        self.module.no_log_values.update(sf.secret_values(files))
        try:
            plan = sf.plan(self.root, files, directories, self.module.check_mode)
        except (sf.ServiceFilesError, OSError) as exc:
            self.fail(f"cannot compare the set with the live files under {self.root}: {exc}")
        for warning in plan.warnings:
            self.module.warn(warning)
        try:
            validated = self.validate(plan)
        except OSError as exc:
            self.fail(f"cannot lay out the candidate copy of the set beside {self.root}: {exc}; nothing was changed")
        if plan.changed and not self.module.check_mode:
            try:
                sf.install(plan)
            except OSError as exc:
                self.fail(f"cannot put the new files in place under {self.root}: {exc}")
        result = {
            "changed": plan.changed,
            "changed_files": plan.changed_files,
            "changed_directories": plan.changed_directories,
            "digest": sf.digest(files),
            "validated": validated,
            "root": self.root,
        }
        if self.module._diff:
            result["diff"] = sf.diff(plan)
        return result


def main():
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "str", "required": True},
                    "content": {"type": "str", "required": True},
                    "mode": {"type": "raw", "default": sf.DEFAULT_FILE_MODE},
                    "owner": {"type": "str", "default": sf.DEFAULT_OWNER},
                    "group": {"type": "str", "default": sf.DEFAULT_GROUP},
                    "secret": {"type": "bool", "default": False},
                },
            },
            "directories": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "str", "required": True},
                    "mode": {"type": "raw", "default": sf.DEFAULT_DIR_MODE},
                    "owner": {"type": "str", "default": sf.DEFAULT_OWNER},
                    "group": {"type": "str", "default": sf.DEFAULT_GROUP},
                },
            },
            "validate": {"type": "list", "elements": "str"},
            "validate_always": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    module.exit_json(**ServiceFilesManager(module).run())


if __name__ == "__main__":
    main()

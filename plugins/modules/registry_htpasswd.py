#!/usr/bin/python
# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_htpasswd
short_description: Manage the users of an htpasswd file with bcrypt hashes
version_added: 0.1.0
description:
  - Makes an htpasswd file hold the listed users, for the distribution registry's C(htpasswd) auth or nginx's
    C(auth_basic_user_file).
  - New hashes are bcrypt with the C($2y$) prefix, as Apache's C(htpasswd -B) writes them. The registry accepts
    bcrypt only and ignores every other scheme silently; nginx on Debian (crypt(3) of libxcrypt) reads bcrypt too.
  - Idempotent without rehashing. A bcrypt entry that verifies with the given password is left as it is, even when
    its cost differs from O(cost). A bcrypt entry that does not verify gets a new hash (RV(updated)). A listed user
    whose entry has another scheme (C($apr1$), C({SHA}), C(crypt), C($1$), C($5$), C($6$), plain text) is rehashed
    with bcrypt (RV(upgraded)); an unlisted one is kept and reported in RV(legacy_users) (removed with O(exclusive)).
  - Existing users keep their order and their lines byte for byte; new users are appended in the order of O(users).
    Lines starting with C(#) and blank lines are kept where they are, as Apache's C(htpasswd) keeps them (the
    registry, nginx and Apache's mod_authn_file all ignore them). The file is rewritten only when a user is added,
    updated, upgraded or removed.
  - Bad input fails before anything is touched, naming the option or the line number. An existing file with a line
    the module cannot take whole is never rewritten; see O(path).
  - The file is written atomically (a temporary file renamed over it). Mount the B(directory) holding it into a
    container, not the file itself, or the container keeps reading the old file.
author:
  - Dockyard contributors (@dockyard)
requirements:
  - passlib >= 1.7 on the host that runs the module (PyPI C(libpass), its maintained fork, or Debian's
    C(python3-passlib))
  - bcrypt, the backend of passlib (PyPI C(bcrypt); or Debian's C(python3-bcrypt))
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description:
      - Predicts exactly what a real run does, also when the file does not exist yet.
      - Fails as a real run would when the file's directory does not exist.
  diff_mode:
    support: full
    description:
      - Returns the user names before and after, one a line, with what happened to each; never a hash or a password.
  idempotent:
    support: full
    description: A second run with the same input changes nothing; existing bcrypt hashes are verified, not rehashed.
options:
  path:
    description:
      - The htpasswd file.
      - An existing file must consist of C(name:hash) lines, blank lines and lines starting with C(#). The module fails,
        naming the line number, on a line that is not UTF-8, has a control character (including the carriage return of
        Windows line endings) or leading or trailing white space, has no C(:) or an empty name, and on a name that
        appears twice; the file is then left as it is.
      - Its directory must exist, in check mode too.
    type: path
    required: true
  users:
    description:
      - The users to manage. Users of the file that are not listed are kept, unless O(exclusive=true).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The user name. It must not be empty, contain C(:) or a control character, start with C(#) or have leading
            or trailing white space. Each name may be listed once.
        type: str
        required: true
      password:
        description:
          - The password, required and not empty with O(users[].state=present); ignored with O(users[].state=absent).
          - At most 72 bytes in UTF-8 (bcrypt ignores the rest silently, so longer passwords are refused).
        type: str
      state:
        description:
          - V(present) makes the user exist with this password, V(absent) removes the user.
        type: str
        choices: [present, absent]
        default: present
  exclusive:
    description:
      - Remove every user of the file that O(users) does not list.
    type: bool
    default: false
  cost:
    description:
      - The bcrypt cost (log2 of the rounds) of new hashes. Existing bcrypt hashes that verify keep their cost.
      - 10 to 16. The registry and nginx verify the hash on B(every) request (nginx in its event loop, stalling the
        worker's other connections), and each step doubles that time (about 80 ms at 10, 300 ms at 12, 1.2 s at 14
        on one core), so the default is 10, the default of Go's bcrypt package.
    type: int
    default: 10
  create:
    description:
      - Create the file when it does not exist. With V(false), a missing file is an error.
    type: bool
    default: true
  mode:
    description:
      - The file's permissions, an octal mode such as V("0640") or V("0600") (quoted, or an unquoted YAML octal
        number). Without it, V("0640"), so that a group (see O(group)) can read it and others cannot.
      - The file holds password hashes, so a mode that gives others any access (read, write or execute, for example
        V("0644") or V("0666")) is refused, and so is a symbolic mode (V(u=rw,g=r)), which could not be checked.
        The group may read, for a service that reads the file through its group (nginx's workers).
notes:
  - Give the file the group of the service that reads it (O(group)), for example C(www-data) for Debian's nginx, whose
    workers are not root.
  - The registry re-reads the file when its modification time changes, so new users work without a restart.
seealso:
  - name: Distribution registry htpasswd auth
    description: The registry's C(auth.htpasswd) configuration.
    link: https://distribution.github.io/distribution/about/configuration/#htpasswd
  - name: nginx auth_basic_user_file
    description: The file format nginx reads.
    link: https://nginx.org/en/docs/http/ngx_http_auth_basic_module.html#auth_basic_user_file
"""

EXAMPLES = r"""
- name: Registry users, readable by nginx's workers
  dockyard.registry.registry_htpasswd:
    path: /etc/dockyard/auth/htpasswd
    users:
      - name: ci
        password: "{{ vault_registry_ci_password }}"
      - name: alice
        password: "{{ vault_registry_alice_password }}"
      - name: bob
        state: absent
    group: www-data
    mode: "0640"

- name: Exactly these users, nobody else
  dockyard.registry.registry_htpasswd:
    path: /etc/dockyard/auth/htpasswd
    users: "{{ registry_users }}"
    exclusive: true
  register: registry_htpasswd_result

- name: Tell about users the registry cannot authenticate (not bcrypt)
  ansible.builtin.debug:
    msg: "Not bcrypt, list them with a password to rehash: {{ registry_htpasswd_result.legacy_users | join(', ') }}"
  when: registry_htpasswd_result.legacy_users | length > 0
"""

RETURN = r"""
added:
  description: Users appended to the file, in the order of O(users).
  returned: always
  type: list
  elements: str
  sample: [carol]
updated:
  description: Users whose bcrypt entry did not verify with the given password and got a new hash.
  returned: always
  type: list
  elements: str
  sample: [bob]
upgraded:
  description: Listed users whose entry had another scheme than bcrypt and got a bcrypt hash.
  returned: always
  type: list
  elements: str
  sample: [dave]
removed:
  description: Users removed, with O(users[].state=absent) or by O(exclusive).
  returned: always
  type: list
  elements: str
  sample: [erin]
unchanged:
  description: Users of the resulting file whose line is kept as it was, listed or not.
  returned: always
  type: list
  elements: str
  sample: [alice]
legacy_users:
  description:
    - Users kept in the resulting file with another scheme than bcrypt, which the registry cannot authenticate.
    - List them in O(users) with their password to rehash them, or remove them.
  returned: always
  type: list
  elements: str
  sample: [frank]
users:
  description: The user names of the resulting file, in file order.
  returned: always
  type: list
  elements: str
  sample: [alice, bob, dave, frank, carol]
"""

# The documentation comes first, as in every Ansible module, so the imports cannot.
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
from ansible.module_utils.compat.version import LooseVersion  # noqa: E402
from ansible_collections.dockyard.registry.plugins.module_utils import _files, _htpasswd  # noqa: E402

MIN_PASSLIB_VERSION = "1.7"
MIN_COST = 10
MAX_COST = 16
DEFAULT_MODE = "0640"
PASSLIB_HELP = "passlib (PyPI: libpass; Debian: python3-passlib) with bcrypt (PyPI: bcrypt; Debian: python3-bcrypt)"
# Stands for a new hash in check mode, where nothing is hashed: it only has to differ from every
# line a file can hold, and no line holds a NUL (parse refuses control characters).
_CHECK_MODE_HASH = "\x00new bcrypt hash\x00"

PASSLIB_IMPORT_ERROR = None
try:
    import passlib
    from passlib.hash import bcrypt as passlib_bcrypt
except ImportError:
    PASSLIB_IMPORT_ERROR = traceback.format_exc()


class HtpasswdManager:
    """The htpasswd file at `path`: reads it, plans the users, writes the result."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        self.params = module.params
        self.path = self.params["path"]

    def check_input(self) -> None:
        cost = self.params["cost"]
        if not MIN_COST <= cost <= MAX_COST:
            self.module.fail_json(msg=f"cost is {cost}: use a bcrypt cost from {MIN_COST} to {MAX_COST}")
        if self.params["mode"] is not None:
            try:
                _files.octal_mode("mode", self.params["mode"], private="password hashes")
            except _files.ModeError as exc:
                self.module.fail_json(msg=str(exc))
        try:
            _htpasswd.check_users(self.params["users"])
        except _htpasswd.HtpasswdError as exc:
            self.module.fail_json(msg=str(exc))

    def check_libraries(self) -> None:
        if PASSLIB_IMPORT_ERROR is not None:
            self.module.fail_json(msg=missing_required_lib(PASSLIB_HELP), exception=PASSLIB_IMPORT_ERROR)
        if LooseVersion(passlib.__version__) < LooseVersion(MIN_PASSLIB_VERSION):
            wanted = missing_required_lib(f"passlib >= {MIN_PASSLIB_VERSION}")
            self.module.fail_json(msg=f"passlib {passlib.__version__} is too old: {wanted}")
        if not passlib_bcrypt.has_backend():
            self.module.fail_json(msg=missing_required_lib(f"bcrypt, the backend of passlib's bcrypt ({PASSLIB_HELP})"))

    def read(self) -> bytes | None:
        try:
            existing = _files.read_file(self.path)
        except OSError as exc:
            self.module.fail_json(msg=f"cannot read {self.path}: {exc}")
        if existing is None and not self.params["create"]:
            self.module.fail_json(msg=f"{self.path} does not exist and create=false: create it or set create=true")
        return existing

    @staticmethod
    def verify(password: str, hashed: str) -> bool:
        try:
            return passlib_bcrypt.verify(password, hashed)
        except ValueError:
            # A malformed hash the scheme check let through: it cannot verify, so it gets a new hash.
            return False

    def make_hash(self, password: str) -> str:
        if self.module.check_mode:
            return _CHECK_MODE_HASH
        return passlib_bcrypt.using(rounds=self.params["cost"], ident="2y").hash(password)

    def run(self) -> dict:
        self.check_input()
        self.check_libraries()
        existing = self.read()
        try:
            lines = _htpasswd.parse(existing or b"")
        except _htpasswd.HtpasswdError as exc:
            self.module.fail_json(
                msg=f"cannot read {self.path}: {exc}; fix or remove that line (the file is left as it is)"
            )
        plan = _htpasswd.plan(lines, self.params["users"], self.params["exclusive"], self.verify)
        # Nothing to do for any user: the file stays byte for byte (even without a final newline).
        content = existing if existing is not None and not plan.changes else plan.render(self.make_hash)
        file_args = _files.file_args_for(self.module, self.path, DEFAULT_MODE)
        changed = _files.write_file(self.module, self.path, content, file_args)
        result = dict(plan.result(), changed=changed)
        if self.module._diff:
            before, after = plan.diff()
            result["diff"] = {"before": before, "after": after, "before_header": self.path, "after_header": self.path}
        return result


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "users": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "password": {"type": "str", "no_log": True},
                    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
                },
            },
            "exclusive": {"type": "bool", "default": False},
            "cost": {"type": "int", "default": 10},
            "create": {"type": "bool", "default": True},
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    module.exit_json(**HtpasswdManager(module).run())


if __name__ == "__main__":
    main()

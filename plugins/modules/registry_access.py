#!/usr/bin/python
# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_access
short_description: Declare the users, teams, namespaces and robots of a dockyard-auth token server
version_added: 0.1.0
description:
  - Makes a dockyard-auth token server hold the listed users, teams (with their members), namespaces and robots (with
    their grants), through its admin API. One reconciler for the whole permission model, so that references between
    the kinds (a member is a user, a namespace belongs to a team, a grant is on a namespace) are checked together.
  - The whole declaration is checked before anything changes. Bad names (the server's account grammar, 2 to 64
    lowercase letters and digits with C(_), C(__) or runs of C(-) between them), names listed twice, a member who is
    not a user, a namespace whose team is not a team, a grant on a namespace that does not exist, passwords the
    server would refuse, and removals the server would refuse (a team that still owns a namespace, a namespace or a
    user's personal namespace that holds repositories) fail the module with one message naming B(every) bad item,
    and nothing is changed.
  - Then the server's state is read (every list, page by page), the calls are planned, in this order, and sent.
    Users created, users updated, teams created and updated, members set, members removed, namespaces created and
    updated, robots created and updated, grants set and removed, secrets rotated; last what O(exclusive) removes
    (robots, namespaces, teams, users).
  - Whatever it creates or updates is marked C(managed=true) on the server. Users, teams, namespaces and robots it
    is not told about are left alone, unless O(exclusive) says otherwise for their kind.
  - Runs where the API is reachable, usually on the controller (C(delegate_to=localhost)). Needs no Python library
    beyond Ansible's own.
author:
  - Dockyard contributors (@dockyard)
attributes:
  check_mode:
    support: full
    description:
      - Reads the server's state and predicts the exact calls (RV(actions)) without sending any change. With
        O(update_password=always) the listed passwords are checked at the token endpoint in check mode too, which
        counts a wrong one as a failed login there.
      - No robot secret is made, so RV(robot_secrets) is empty and no secret file is written.
  diff_mode:
    support: full
    description:
      - The kinds this run manages (listed, exclusive, or with secrets to rotate), before and after, as YAML-like text
        of names, flags, descriptions, members with their roles, namespaces with team and visibility, robots with
        their grants. Never a password or a secret; a user whose password would be set shows C(password) with the
        value C((set)).
  idempotent:
    support: full
    description:
      - A second run with the same input sends no change. Passwords are checked, not set again (see
        O(update_password)); a robot's secret is made only when the robot is created or O(rotate_robot_secrets)
        names it, which changes something on every run by design.
options:
  api_url:
    description:
      - The base of the admin API, for example V(http://127.0.0.1:5001/api/v1) or
        V(https://registry.example.com/auth/api/v1).
    type: str
    required: true
  token_url:
    description:
      - The token endpoint, for the password checks of O(update_password=always).
      - Without it, O(api_url) with its trailing C(/api/v1) replaced by C(/token), so
        V(https://registry.example.com/auth/api/v1) gives V(https://registry.example.com/auth/token).
    type: str
  service:
    description:
      - The registry's service name (its C(auth.token.service), the server's C(service)), sent to the token endpoint
        with each password check; the server answers no other.
      - Required when O(update_password=always) and any user in O(users) has a password.
    type: str
  api_username:
    description:
      - An admin user of the server, or an api_admin robot as C(robot+<name>) (which the server holds to its ceiling).
      - With O(exclusive.users=true) this user must be listed, and it must stay an enabled admin.
    type: str
    required: true
  api_password:
    description:
      - The password (or the robot's secret) of O(api_username).
      - When this run sets a new password for that user (listed in O(users)) or rotates that robot's secret, the
        calls after it use the new one.
    type: str
    required: true
  ca_path:
    description:
      - A CA bundle (PEM) to verify the server's certificate with, for an https O(api_url); without it, the system's.
    type: path
  validate_certs:
    description:
      - Verify the server's certificate. Set V(false) only for a test.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each answer.
    type: int
    default: 30
  users:
    description:
      - Users that must exist, each once.
      - Every user gets a private personal namespace of its own name on the server.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The user's name, also its login and its personal namespace.
        type: str
        required: true
      password:
        description:
          - The password, 8 to 256 characters, at most 72 bytes in UTF-8, no NUL. Required to create a user.
          - When it is set on an existing user depends on O(update_password).
        type: str
      admin:
        description:
          - The user is an admin (every action everywhere, and the admin API).
        type: bool
        default: false
      enabled:
        description:
          - The user may log in. A disabled user keeps their memberships and namespace.
        type: bool
        default: true
  teams:
    description:
      - Teams that must exist, each once, with B(exactly) the listed members (any other member is removed).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The team's name.
        type: str
        required: true
      description:
        description:
          - The team's description, at most 255 characters.
        type: str
        default: ''
      members:
        description:
          - The team's members. Each must be a user listed in O(users) or, unless O(exclusive.users=true), one the
            server has.
        type: list
        elements: dict
        default: []
        suboptions:
          user:
            description:
              - The member's user name.
            type: str
            required: true
          role:
            description:
              - V(viewer) pulls; V(contributor) pulls and pushes (and deletes, by the server's delete policy); V(owner)
                pulls, pushes and deletes.
            type: str
            choices: [viewer, contributor, owner]
            default: viewer
  namespaces:
    description:
      - Team namespaces that must exist, each once; the first component of a repository's name is its namespace.
      - The global namespace (repositories without C(/)) may be listed as V(_global), with only
        O(namespaces[].visibility) and O(namespaces[].description).
      - A name must not be a user's (each user has a personal namespace of that name).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The namespace's name, or V(_global).
        type: str
        required: true
      team:
        description:
          - The team that owns the namespace, listed in O(teams) or, unless O(exclusive.teams=true), one the server
            has. Required for every namespace but V(_global), which belongs to no team.
          - A namespace of another team moves to this one.
        type: str
      visibility:
        description:
          - V(private) for its team only, V(protected) for every logged-in user to pull, V(public) for anyone to pull.
        type: str
        choices: [private, protected, public]
        default: private
      description:
        description:
          - The namespace's description, at most 255 characters.
        type: str
        default: ''
  robots:
    description:
      - Robot accounts that must exist, each once, with B(exactly) the listed grants (any other grant is removed).
        A robot logs in as C(robot+<name>) with a generated secret, see RV(robot_secrets) and O(robot_secrets_dir).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The robot's name (its login is C(robot+<name>)).
        type: str
        required: true
      description:
        description:
          - The robot's description, at most 255 characters.
        type: str
        default: ''
      api_admin:
        description:
          - The robot may use the admin API (below the server's ceiling for robots).
        type: bool
        default: false
      expires_at:
        description:
          - When the robot stops working, RFC 3339 with a time zone, for example V(2030-01-31T12:00:00Z); compared to
            the second, in UTC. Omitted or null, it never expires.
        type: str
      enabled:
        description:
          - The robot may log in.
        type: bool
        default: true
      grants:
        description:
          - What the robot may do, per namespace. Each namespace must be listed in O(namespaces), be V(_global), a
            user's personal namespace, or one the server has (unless O(exclusive.namespaces=true)).
        type: list
        elements: dict
        default: []
        suboptions:
          namespace:
            description:
              - The namespace, or V(_global).
            type: str
            required: true
          actions:
            description:
              - The actions granted, at least one.
            type: list
            elements: str
            choices: [pull, push, delete]
            required: true
  exclusive:
    description:
      - Per kind, remove what the server has and the lists do not name. Removals are the last calls of a run.
      - Never the user or robot of O(api_username) (the module fails before any change if that would be needed), never
        the last enabled admin, never a personal namespace (it goes with its user) or V(_global).
      - Members of a listed team and grants of a listed robot are always exact, whatever this option says.
    type: dict
    suboptions:
      users:
        description:
          - Remove every user not listed in O(users), with their personal namespace (which must hold no repository).
        type: bool
        default: false
      teams:
        description:
          - Remove every team not listed in O(teams). A team that would still own a namespace is an error.
        type: bool
        default: false
      namespaces:
        description:
          - Remove every team namespace not listed in O(namespaces) (which must hold no repository).
        type: bool
        default: false
      robots:
        description:
          - Remove every robot not listed in O(robots).
        type: bool
        default: false
  update_password:
    description:
      - V(always) makes every listed password the user's password. Each is checked first at the token endpoint
        (O(token_url), which needs O(service)); only a password the server refuses is set, so a second run changes
        nothing. When the server holds the check back (429), the password is set. A disabled user's password cannot
        be checked (the server refuses even the right one); it is set when the run enables the user, and left as it
        is while the user stays disabled.
      - V(on_create) sets a password only when it creates the user.
    type: str
    choices: [always, on_create]
    default: always
  robot_secrets_dir:
    description:
      - A directory (it must exist, on the host that runs the module) where the secret of each robot created or rotated
        by this run is written, to C(robot+<name>.secret), mode C(0600), atomically, followed by a newline.
      - The server shows a secret only once. A robot that exists already gets no file here; rotate its secret with
        O(rotate_robot_secrets) to get one.
    type: path
  rotate_robot_secrets:
    description:
      - Robots to give a new secret (the old one stops working at once). Each must be listed in O(robots) or exist on
        the server. A robot created by this run is not rotated again. Changes something on every run.
    type: list
    elements: str
    default: []
notes:
  - The task that registers this module's result when a robot secret may be made must have C(no_log=true), because
    RV(robot_secrets) is returned in clear (so that a later task can use it). Passwords and O(api_password) are never
    returned.
  - Removing a user, a team or a namespace is refused by the server while anything still needs it; the module checks
    those cases (a team that owns a namespace, a namespace that holds repositories) before it changes anything.
seealso:
  - name: Token authentication of the distribution registry
    description: The protocol dockyard-auth serves (its permission model is in services/auth/README.md).
    link: https://distribution.github.io/distribution/spec/auth/token/
"""

EXAMPLES = r"""
- name: Users, teams, namespaces and a CI robot of the registry
  dockyard.registry.registry_access:
    api_url: https://registry.example.com/auth/api/v1
    service: registry.example.com
    api_username: admin
    api_password: "{{ vault_registry_admin_password }}"
    ca_path: /etc/dockyard/pki/ca.crt
    users:
      - name: admin
        admin: true
      - name: alice
        password: "{{ vault_alice_password }}"
      - name: bob
        password: "{{ vault_bob_password }}"
    teams:
      - name: web
        description: The web team
        members:
          - user: alice
            role: owner
          - user: bob
            role: viewer
    namespaces:
      - name: web
        team: web
        visibility: protected
      - name: _global
        visibility: protected
    robots:
      - name: ci
        description: Pushes the web images
        grants:
          - namespace: web
            actions: [pull, push]
    robot_secrets_dir: /etc/dockyard/robots
  delegate_to: localhost
  no_log: true
  register: registry_access_result

- name: Nothing else on the server, passwords set only for new users
  dockyard.registry.registry_access:
    api_url: http://127.0.0.1:5001/api/v1
    api_username: admin
    api_password: "{{ vault_registry_admin_password }}"
    update_password: on_create
    users: "{{ registry_users }}"
    teams: "{{ registry_teams }}"
    exclusive:
      users: true
      teams: true

- name: A new secret for the CI robot
  dockyard.registry.registry_access:
    api_url: http://127.0.0.1:5001/api/v1
    api_username: admin
    api_password: "{{ vault_registry_admin_password }}"
    rotate_robot_secrets: [ci]
    robot_secrets_dir: /etc/dockyard/robots
  no_log: true
"""

RETURN = r"""
actions:
  description:
    - What the run did (in check mode, would do), one line per API call, in the order of the calls.
  returned: always
  type: list
  elements: str
  sample:
    - create user alice
    - update user bob (admin true)
    - set role viewer for bob in team web
    - grant pull,push on namespace web to robot ci
    - remove user mallory
robot_secrets:
  description:
    - The secrets made by this run, by robot name (robots created, and those of O(rotate_robot_secrets)); empty in
      check mode and when none was made.
    - The server shows a secret only this once. Register the result with C(no_log=true).
  returned: always
  type: dict
  sample:
    ci: 0123456789abcdefghijklmnopqrstuvwxyzABCDEFG
"""

# The documentation comes first, as in every Ansible module, so the imports cannot.
import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.dockyard.registry.plugins.module_utils import _access, _auth_api, _files  # noqa: E402

FILE_MODE = "0600"  # a robot secret file: its owner only


class AccessManager:
    """The declared access against one server: checks, reads, plans, sends."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        params = module.params
        self.desired = _access.Desired.from_params(params)
        self.api = _auth_api.AuthApi(
            params["api_url"],
            params["api_username"],
            params["api_password"],
            ca_path=params["ca_path"],
            validate_certs=params["validate_certs"],
            timeout=params["timeout"],
        )
        self.token_url = params["token_url"] or _auth_api.token_url_for(params["api_url"])
        self.secrets_dir = params["robot_secrets_dir"]

    # -- checks -------------------------------------------------------------------
    def check_options(self) -> list[str]:
        problems = _access.check_input(self.desired)
        if self.secrets_dir is not None and not os.path.isdir(self.secrets_dir):
            problems.append(f"robot_secrets_dir {self.secrets_dir} is not a directory; create it first")
        checks = self.desired.update_password == _access.ALWAYS and any(u["password"] for u in self.desired.users)
        if checks and self.token_url is None:
            problems.append(
                "token_url is not set and cannot be derived from api_url (which does not end in /api/v1); set it"
            )
        return problems

    def fail_problems(self, problems: list[str]) -> None:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        self.module.fail_json(
            msg=f"{count} in the declared access, nothing was changed: " + "; ".join(problems),
            problems=problems,
        )

    def check_removals(self, calls: list) -> list[str]:
        """The namespaces the plan deletes must hold no repository (the server would refuse, mid-run)."""
        problems = []
        for name, kind in _access.emptied_namespaces(calls).items():
            page = self.api.get("/repositories", {"namespace": name, "limit": 5})
            total = page.get("total", 0) if isinstance(page, dict) else 0
            if not total:
                continue
            names = ", ".join(item.get("name", "?") for item in page.get("items", []))
            held = f"{total} repositor{'y' if total == 1 else 'ies'} ({names}{', ...' if total > 5 else ''})"
            if kind == "user":
                problems.append(
                    f"exclusive.users would remove user {name!r}, whose personal namespace holds {held}; delete them "
                    "first, or keep the user (list it, with enabled false to lock it out)"
                )
            else:
                problems.append(
                    f"exclusive.namespaces would remove namespace {name!r}, which holds {held}; delete them first, "
                    "or list the namespace"
                )
        return problems

    # -- reading ------------------------------------------------------------------
    def read_state(self) -> _access.State:
        scope = self.desired.scope()
        api = self.api
        users, teams = api.list_all("/users"), api.list_all("/teams")
        namespaces, robots = api.list_all("/namespaces"), api.list_all("/robots")
        members = grants = None
        if "teams" in scope:
            members = {t["name"]: api.list_all(_access.api_path("teams", t["name"], "members")) for t in teams}
        if "robots" in scope:
            grants = {r["name"]: api.list_all(_access.api_path("robots", r["name"], "permissions")) for r in robots}
        return _access.State.from_api(users, teams, namespaces, robots, members, grants)

    def check_passwords(self, state: _access.State) -> dict:
        verdicts = {}
        listed = {user["name"]: user for user in self.desired.users}
        for name in _access.passwords_to_check(self.desired, state):
            verdicts[name] = self.api.login_works(self.token_url, self.desired.service, name, listed[name]["password"])
        return verdicts

    # -- acting -------------------------------------------------------------------
    def write_secret(self, robot: str, secret: str) -> None:
        path = os.path.join(self.secrets_dir, f"{_access.ROBOT_PREFIX}{robot}.secret")
        file_args = self.module.load_file_common_arguments({"mode": FILE_MODE}, path=path)
        _files.write_file(self.module, path, (secret + "\n").encode("utf-8"), file_args)

    def send(self, calls: list, secrets: dict) -> None:
        done: list[str] = []
        for call in calls:
            try:
                answer = self.api.request(call.method, call.path, call.body)
            except _auth_api.AuthApiError as exc:
                before = "; done before it: " + ", ".join(done) if done else "; nothing was changed before it"
                kept = ""
                if secrets:
                    kept = (
                        f" (the secrets of {', '.join(sorted(secrets))} were written to {self.secrets_dir})"
                        if self.secrets_dir
                        else f" (rotate the secrets of {', '.join(sorted(secrets))} with rotate_robot_secrets)"
                    )
                self.module.fail_json(
                    msg=f"{call.action}: {exc}{before}{kept}", changed=bool(done), actions=done, robot_secrets={}
                )
            done.append(call.action)
            if call.sets_password and call.target[0] == self.desired.caller_user():
                # The module's own user has a new password: the calls that follow need it.
                self.api.set_credentials(self.desired.caller, call.body["password"])
            robot = call.makes_secret
            if robot is None:
                continue
            secret = answer.get("secret") if isinstance(answer, dict) else None
            if not isinstance(secret, str) or not secret:
                self.module.fail_json(
                    msg=f"{call.action}: {call.method} {self.api.url(call.path)} answered without a secret; "
                    "rotate it with rotate_robot_secrets",
                    changed=True,
                    actions=done,
                    robot_secrets={},
                )
            secrets[robot] = secret
            if robot == self.desired.caller_robot():
                self.api.set_credentials(self.desired.caller, secret)
            if self.secrets_dir is not None:
                self.write_secret(robot, secret)

    def run(self) -> dict:
        problems = self.check_options()
        try:
            state = self.read_state()
        except _auth_api.AuthApiError as exc:
            if problems:
                self.fail_problems([*problems, f"and the server's state could not be read ({exc})"])
            self.module.fail_json(msg=f"cannot read the server's state: {exc}")
        except (KeyError, TypeError, AttributeError) as exc:
            self.module.fail_json(
                msg=f"cannot read the server's state: an answer of {self.api.api_url} is not what dockyard-auth "
                f"answers ({type(exc).__name__}: {exc}); is api_url the admin API of a dockyard-auth server?"
            )
        problems += _access.check_with_state(self.desired, state)
        try:
            problems += self.check_removals(_access.removals(self.desired, state))
            if problems:
                self.fail_problems(problems)
            calls = _access.plan(self.desired, state, self.check_passwords(state))
        except _auth_api.AuthApiError as exc:
            self.module.fail_json(msg=f"{exc}; nothing was changed")
        secrets: dict = {}
        result = {"changed": bool(calls), "actions": [call.action for call in calls], "robot_secrets": secrets}
        if self.module._diff:
            shown = _access.diff(state, calls, self.desired.scope())
            result["diff"] = dict(shown, before_header=self.api.api_url, after_header=self.api.api_url)
        if not self.module.check_mode:
            self.send(calls, secrets)
        return result


def argument_spec() -> dict:
    return {
        "api_url": {"type": "str", "required": True},
        "token_url": {"type": "str", "no_log": False},
        "service": {"type": "str"},
        "api_username": {"type": "str", "required": True},
        "api_password": {"type": "str", "required": True, "no_log": True},
        "ca_path": {"type": "path"},
        "validate_certs": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 30},
        "users": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "name": {"type": "str", "required": True},
                "password": {"type": "str", "no_log": True},
                "admin": {"type": "bool", "default": False},
                "enabled": {"type": "bool", "default": True},
            },
        },
        "teams": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "name": {"type": "str", "required": True},
                "description": {"type": "str", "default": ""},
                "members": {
                    "type": "list",
                    "elements": "dict",
                    "default": [],
                    "options": {
                        "user": {"type": "str", "required": True},
                        "role": {"type": "str", "choices": list(_access.ROLES), "default": "viewer"},
                    },
                },
            },
        },
        "namespaces": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "name": {"type": "str", "required": True},
                "team": {"type": "str"},
                "visibility": {"type": "str", "choices": list(_access.VISIBILITIES), "default": "private"},
                "description": {"type": "str", "default": ""},
            },
        },
        "robots": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "name": {"type": "str", "required": True},
                "description": {"type": "str", "default": ""},
                "api_admin": {"type": "bool", "default": False},
                "expires_at": {"type": "str"},
                "enabled": {"type": "bool", "default": True},
                "grants": {
                    "type": "list",
                    "elements": "dict",
                    "default": [],
                    "options": {
                        "namespace": {"type": "str", "required": True},
                        "actions": {
                            "type": "list",
                            "elements": "str",
                            "choices": list(_access.ACTIONS),
                            "required": True,
                        },
                    },
                },
            },
        },
        "exclusive": {
            "type": "dict",
            "apply_defaults": True,
            "options": {kind: {"type": "bool", "default": False} for kind in _access.KINDS},
        },
        "update_password": {
            "type": "str",
            "choices": list(_access.UPDATE_PASSWORD),
            "default": _access.ALWAYS,
            "no_log": False,
        },
        "robot_secrets_dir": {"type": "path"},
        "rotate_robot_secrets": {"type": "list", "elements": "str", "default": [], "no_log": False},
    }


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.exit_json(**AccessManager(module).run())


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: stack_plan
short_description: Check the stack's top-level choices and work out what each role of site.yml gets
version_added: 0.1.0
description:
  - The decisions of C(site.yml) in one place, run on the controller by the C(dockyard.registry.stack) role. From the
    C(stack_*) choices and the inventory groups it works out the mode (a proxy in front, or the registry alone), the
    certificates to make, and every input of the C(registry), C(proxy) and C(docker_client) roles.
  - Every choice is checked before anything is made or touched, and every problem is reported at once, each naming
    the C(stack_*) variable and the fix. A provided certificate is checked against its key, the registry's name and
    the CA.
  - With O(materials=true) it also reads the certificates and keys the roles need and the generated secrets (user
    passwords, C(http.secret)), generating the missing secrets into files of mode 0600 in O(secrets_dir).
  - In check mode nothing is written. Missing secrets are generated in memory only, and when the certificates of a
    self-signed stack do not exist yet, a throwaway CA and certificates shaped like the ones a real run makes stand
    in for them, so that the roles can predict their changes.
author:
  - Dockyard contributors (@dockyard)
requirements:
  - cryptography >= 3.4 on the controller
attributes:
  check_mode:
    support: full
    description: Writes nothing; see the description for what stands in for files a real run would make.
  diff_mode:
    support: none
    description: The plan holds secrets; what changes shows in the roles that use it.
  idempotent:
    support: full
    description: Secrets are generated once and read back after that.
options:
  registry_name:
    description: The name clients use; empty takes the first proxy host, or the first registry host.
    type: str
  registry_port:
    description: The port clients use; empty takes 443 with a proxy (80 without TLS), 5000 without a proxy.
    type: raw
  registry_aliases:
    description: More DNS names for the server certificate.
    type: list
    elements: str
    default: []
  registry_ip_addresses:
    description: IP addresses for the server certificate.
    type: list
    elements: str
    default: []
  tls:
    description: C(self_signed), C(provided) or C(none).
    type: str
    required: true
  tls_provided_certificate:
    description: The server certificate (with its chain) when O(tls=provided).
    type: path
  tls_provided_key:
    description: Its key when O(tls=provided).
    type: path
  tls_provided_ca:
    description: The CA clients trust when O(tls=provided).
    type: path
  proxy_mode:
    description: C(container) or C(host).
    type: str
    default: container
  auth:
    description: C(token), C(htpasswd) or C(none).
    type: str
    required: true
  anonymous_pull:
    description:
      - Anonymous pull of public namespaces with authenticated push (refused with basic auth). Unset takes true with
        O(auth=token), false otherwise.
    type: bool
  users:
    description: The users; none means one user C(admin) with O(auth=htpasswd).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The user name (it also names the password file).
        type: str
        required: true
      password:
        description: The password; empty generates one into C(<secrets_dir>/<name>.password).
        type: str
      admin:
        description: With O(auth=token), an admin of the token server (the first user always is).
        type: bool
        default: false
  teams:
    description: With O(auth=token), the teams as M(dockyard.registry.registry_access) takes them.
    type: list
    elements: dict
    default: []
  namespaces:
    description:
      - With O(auth=token), the namespaces as M(dockyard.registry.registry_access) takes them. A public one is refused
        when O(anonymous_pull=false).
    type: list
    elements: dict
    default: []
  robots:
    description: With O(auth=token), the robots as M(dockyard.registry.registry_access) takes them.
    type: list
    elements: dict
    default: []
  access_exclusive:
    description: With O(auth=token), which kinds (users, teams, namespaces, robots) the lists hold exclusively.
    type: dict
    default: {}
  database_url:
    description:
      - With O(auth=token), an existing MariaDB 10.6+ as C(mysql+pymysql://USER@HOST[:PORT]/DATABASE); its password is
        read from C(<secrets_dir>/database.password). Unset deploys MariaDB on the database host.
    type: str
  storage:
    description:
      - Where the registries keep their data. C(filesystem) (the default) is the registry host's own disk and allows
        one registry. C(seaweedfs) deploys SeaweedFS on the hosts of the group C(storage_hosts) (the first runs the
        master, the filer and the S3 gateway, every one a volume server; with two or more, each file has a copy on
        another volume server) and gives the registries its S3 endpoint with generated keys. C(s3) uses an S3
        service of yours at O(s3_endpoint), with the keys in C(<secrets_dir>/s3-access-key) and C(s3-secret-key).
      - With several hosts in C(registry_hosts), one of the shared ones is required; they then also share a redis
        on the proxy host (their blob descriptor cache) and the C(http.secret).
    type: str
    default: filesystem
    choices: [filesystem, seaweedfs, s3]
  s3_endpoint:
    description: With O(storage=s3), the S3 endpoint the registries reach, C(http(s)://HOST[:PORT]).
    type: str
  s3_region:
    description: With O(storage=s3), the region the requests are signed for.
    type: str
    default: us-east-1
  s3_bucket:
    description: The bucket of the registry's data (made by the seaweedfs role with O(storage=seaweedfs)).
    type: str
    default: registry
  mirror_upstream:
    description:
      - A pull-through mirror of this registry, C(http(s)://HOST[:PORT]) (C(https://registry-1.docker.io) for Docker
        Hub), run by the registry in proxy mode on the hosts of the group C(mirror_hosts), on port 5443 with a
        certificate of the stack's CA (so O(tls=self_signed) only). Clients get it in docker's C(registry-mirrors)
        when it mirrors Docker Hub (docker mirrors nothing else) and, with containerd trust, in containerd's
        C(hosts.toml) for any upstream.
    type: str
  mirror_of:
    description:
      - The registry the mirror stands in for, as clients name it (C(docker.io) for Docker Hub, C(host[:port])).
        Empty takes it from O(mirror_upstream); give C(docker.io) when the upstream is itself a cache of Docker Hub
        (docker uses mirrors for Docker Hub only).
    type: str
  mirror_ttl:
    description:
      - How long the mirror keeps what it fetched (the registry's C(proxy.ttl), 3.x only). Registry 2.8 keeps it for
        168h, fixed, and refuses any other value here.
    type: str
    default: 168h
  mirror_username:
    description:
      - The mirror's user at the upstream, for private images or higher rate limits; its password goes in
        C(<secrets_dir>/mirror-upstream.password). Empty pulls anonymously.
    type: str
  secrets_dir:
    description: The controller directory of the PKI and the generated secrets.
    type: path
    required: true
  registry_version:
    description: The registry version, C("2.8") or C("3").
    type: str
    default: "2.8"
  registry_image_source:
    description: The registry hosts' C(registry_image_source), C(local) or C(upstream).
    type: str
    default: local
  proxy_image_source:
    description:
      - The proxy host's C(proxy_image_source), C(local) or C(upstream). It decides the group that may connect to
        the registry's socket, that of the nginx workers (33, www-data, in Debian's nginx; 101 in the upstream image).
    type: str
    default: local
  groups:
    description:
      - The inventory groups C(registry_hosts), C(proxy_hosts), C(docker_clients), C(auth_hosts), C(database_hosts),
        C(storage_hosts) and C(mirror_hosts), as lists of hosts.
    type: dict
    required: true
  materials:
    description:
      - Read the certificates and keys, and read or generate the secrets, to fill in the roles' inputs. False checks
        the choices and returns the plan without them (the stack role does this first, before it makes the PKI).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check the choices before anything is made
  dockyard.registry.stack_plan:
    tls: self_signed
    auth: htpasswd
    registry_name: registry.example.com
    users: [{name: alice}, {name: bob}]
    secrets_dir: /home/ops/site/dockyard-secrets
    groups:
      registry_hosts: [reg1]
      proxy_hosts: [web1]
      docker_clients: [ci1, ci2]
    materials: false
  register: preplan

- name: Work out every role's inputs (after registry_pki made the certificates)
  dockyard.registry.stack_plan:
    tls: self_signed
    auth: htpasswd
    registry_name: registry.example.com
    users: [{name: alice}, {name: bob}]
    secrets_dir: /home/ops/site/dockyard-secrets
    groups:
      registry_hosts: [reg1]
      proxy_hosts: [web1]
      docker_clients: [ci1, ci2]
  register: plan
  no_log: true
"""

RETURN = r"""
plan:
  description:
    - The plan. C(mode), C(tls), C(auth), C(name), C(port), C(address), C(separate_hop), C(registry_host),
      C(proxy_host) describe the stack. C(pki.certificates) is what registry_pki makes. C(registry), C(proxy) and
      C(clients) hold the inputs of those roles, C(token_auth), C(database), C(access), C(seaweedfs), C(redis) and
      C(mirror) those of the others ({} when the stack does not run them), with O(materials=true) PEM texts and
      passwords included.
      C(summary) is what to tell the operator.
    - Holds keys and passwords with O(materials=true), so register it with C(no_log).
  returned: always
  type: dict
  sample:
    mode: proxy
    address: registry.example.com
    separate_hop: true
    registry: {publish: true, bind_address: 0.0.0.0, published_port: 5000, tls: true, auth: none}
    proxy: {server_name: registry.example.com, https_port: 443, upstreams: ["reg1:5000"], upstream_tls: true}
generated:
  description: The secret files generated by this run (in check mode, that it would generate).
  returned: always
  type: list
  elements: str
  sample: [/home/ops/site/dockyard-secrets/alice.password]
predicted_pki:
  description: Whether throwaway certificates stand in for ones a real run would make (check mode only).
  returned: always
  type: bool
  sample: false
"""

import datetime  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import string  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
from ansible_collections.dockyard.registry.plugins.module_utils import _files, _pki  # noqa: E402
from ansible_collections.dockyard.registry.plugins.module_utils import _stack_plan as sp  # noqa: E402

CHOICES = (
    "registry_name",
    "registry_port",
    "registry_aliases",
    "registry_ip_addresses",
    "tls",
    "tls_provided_certificate",
    "tls_provided_key",
    "tls_provided_ca",
    "proxy_mode",
    "auth",
    "anonymous_pull",
    "users",
    "secrets_dir",
    "registry_version",
    "registry_image_source",
    "proxy_image_source",
    "teams",
    "namespaces",
    "robots",
    "access_exclusive",
    "database_url",
    "storage",
    "s3_endpoint",
    "s3_region",
    "s3_bucket",
    "mirror_upstream",
    "mirror_of",
    "mirror_ttl",
    "mirror_username",
)
GROUPS = (
    "registry_hosts",
    "proxy_hosts",
    "docker_clients",
    "auth_hosts",
    "database_hosts",
    "storage_hosts",
    "mirror_hosts",
)
# What the operator writes into a secret file that is never generated (a service Dockyard does not run).
GIVEN = {
    "database_password": "the password of the user in stack_database_url",
    "s3_access_key": "the access key of your S3 service (stack_s3_endpoint)",
    "s3_secret_key": "the secret key of your S3 service (stack_s3_endpoint)",
    "mirror_password": "the password of stack_mirror_username at the mirror's upstream",
}
ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTHS = {"http_secret": 48}
PASSWORD_LENGTH = 32


def module_spec() -> dict:
    return {
        "registry_name": {"type": "str"},
        "registry_port": {"type": "raw"},
        "registry_aliases": {"type": "list", "elements": "str", "default": []},
        "registry_ip_addresses": {"type": "list", "elements": "str", "default": []},
        "tls": {"type": "str", "required": True},
        "tls_provided_certificate": {"type": "path"},
        "tls_provided_key": {"type": "path"},
        "tls_provided_ca": {"type": "path"},
        "proxy_mode": {"type": "str", "default": "container"},
        "auth": {"type": "str", "required": True},
        "anonymous_pull": {"type": "bool"},
        "users": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "name": {"type": "str", "required": True},
                "password": {"type": "str", "no_log": True},
                "admin": {"type": "bool", "default": False},
            },
        },
        "teams": {"type": "list", "elements": "dict", "default": []},
        "namespaces": {"type": "list", "elements": "dict", "default": []},
        "robots": {"type": "list", "elements": "dict", "default": []},
        "access_exclusive": {"type": "dict", "default": {}},
        "database_url": {"type": "str"},
        "storage": {"type": "str", "default": "filesystem", "choices": list(sp.STORAGE_MODES)},
        "s3_endpoint": {"type": "str"},
        "s3_region": {"type": "str", "default": sp.S3_REGION},
        "s3_bucket": {"type": "str", "default": sp.S3_BUCKET},
        "mirror_upstream": {"type": "str"},
        "mirror_of": {"type": "str"},
        "mirror_ttl": {"type": "str", "default": sp.MIRROR_TTL},
        "mirror_username": {"type": "str"},
        "secrets_dir": {"type": "path", "required": True},
        "registry_version": {"type": "str", "default": "2.8"},
        "registry_image_source": {"type": "str", "default": "local"},
        "proxy_image_source": {"type": "str", "default": "local"},
        "groups": {"type": "dict", "required": True},
        "materials": {"type": "bool", "default": True},
    }


def read_secret(data: bytes) -> str:
    """A secret file's value: its first line (files made by Ansible's password lookup may add ' salt=...')."""
    line = data.decode("utf-8").splitlines()[0] if data.strip() else ""
    return line.split(" salt=", 1)[0].strip()


def predicted_pki(certificates: list[dict], token_signing: dict) -> dict[str, bytes]:
    """A throwaway CA, the certificates and the token signer a real run would make, by file name (check mode)."""
    now = datetime.datetime.now(datetime.UTC)
    spec = _pki.KeySpec("ecdsa", curve="secp256r1")
    ca_key = _pki.generate_key(spec)
    ca = _pki.build_ca(ca_key, "Dockyard Registry CA (check mode)", 1, now)
    files = {"ca.crt": _pki.certificate_pem(ca)}
    for cert in certificates:
        key = _pki.generate_key(spec)
        wanted = _pki.Wanted(cert["common_name"], cert["usage"], spec, 1, cert["dns_names"], cert["ip_addresses"])
        files[f"{cert['name']}.crt"] = _pki.certificate_pem(_pki.build_leaf(key.public_key(), wanted, ca, ca_key, now))
        files[f"{cert['name']}.key"] = _pki.private_key_pem(key)
    if token_signing:
        key = _pki.generate_key(spec)
        wanted = _pki.Wanted("Dockyard token signer (check mode)", "token", spec, 1, [], [])
        name = token_signing["name"]
        files[f"{name}.crt"] = _pki.certificate_pem(_pki.build_token_cert(key, wanted, now))
        files[f"{name}.key"] = _pki.private_key_pem(key)
        files[f"{name}.jwks.json"] = _pki.jwks_document(key.public_key())
    return files


class StackPlan:
    def __init__(self, module: AnsibleModule):
        self.module = module
        self.generated: list[str] = []
        self.predicted = False

    def fail(self, errors: list[str]):
        self.module.fail_json(
            msg="the stack's choices cannot work, nothing was changed: " + "; ".join(errors), errors=errors
        )

    def choices(self) -> dict:
        params = self.module.params
        choices = {key: params[key] for key in CHOICES}
        choices["users"] = [
            {"name": u["name"], "password": u.get("password"), "admin": u.get("admin")} for u in params["users"] or []
        ]
        return choices

    def groups(self) -> dict:
        groups = self.module.params["groups"] or {}
        return {key: list(groups.get(key) or []) for key in GROUPS}

    def read(self, path: str) -> bytes | None:
        try:
            return _files.read_file(path)
        except OSError as exc:
            self.fail([f"cannot read {path}: {exc}"])

    def check_provided(self, shape: dict):
        provided = shape["provided"]
        missing = [f"stack_tls_provided_{k} ({v})" for k, v in provided.items() if not os.path.isfile(v)]
        if missing:
            self.fail([f"{m} is not a file on the controller: give the path of the file" for m in missing])
        texts = {k: self.read(v) for k, v in provided.items()}
        problems = sp.provided_problems(shape["name"], texts["certificate"], texts["key"], texts["ca"])
        if problems:
            self.fail(problems)

    def secret(self, name: str, path: str, given: bool = False) -> str:
        data = self.read(path)
        if data is not None and read_secret(data):
            return read_secret(data)
        if given:
            self.fail(
                [
                    f"{path} is missing or empty: write {GIVEN.get(name, name)} into it (one line, mode 0600); it is "
                    "never generated for a service Dockyard does not run"
                ]
            )
        length = SECRET_LENGTHS.get(name, PASSWORD_LENGTH)
        value = "".join(secrets.choice(ALPHABET) for _position in range(length))
        self.generated.append(path)
        if not self.module.check_mode:
            if not os.path.isdir(os.path.dirname(path)):
                self.fail([f"cannot write {path}: its directory does not exist (the stack role makes it first)"])
            file_args = self.module.load_file_common_arguments({"path": path, "mode": "0600"})
            _files.write_file(self.module, path, (value + "\n").encode("utf-8"), file_args)
        return value

    def pems(self, plan: dict) -> dict[str, str]:
        files = plan["material_files"]
        texts = {name: self.read(path) for name, path in files.items()}
        missing = [name for name, text in texts.items() if text is None]
        pki = plan["pki"]
        if missing and self.module.check_mode and (pki["certificates"] or pki["token_signing"]):
            # A real run makes them with registry_pki first: stand in for all of them, consistently.
            self.predicted = True
            made = predicted_pki(pki["certificates"], pki["token_signing"])
            texts = {name: made.get(os.path.basename(path), texts[name]) for name, path in files.items()}
            missing = [name for name, text in texts.items() if text is None]
        if missing:
            self.fail([f"{files[name]} is missing: registry_pki should have made it, or give it" for name in missing])
        return {name: text.decode("utf-8").strip() + "\n" for name, text in texts.items()}

    def run(self) -> dict:
        choices, groups = self.choices(), self.groups()
        try:
            plan = sp.stack_plan(choices, groups)
        except sp.PlanError as exc:
            self.fail(exc.errors)
        if plan["tls"] == "provided":
            self.check_provided(plan)
        for warning in plan["warnings"]:
            self.module.warn(warning)
        if not self.module.params["materials"]:
            # Without materials the plan is shown in the play's output: no given password goes with it.
            scrubbed = [dict(user, password=None) for user in choices["users"]]
            plan = sp.stack_plan(dict(choices, users=scrubbed), groups)
            return {"changed": False, "plan": plan, "generated": [], "predicted_pki": False}
        materials = self.pems(plan)
        for name, path in plan["secret_files"].items():
            materials[name] = self.secret(name, path, given=name in plan["given_secrets"])
        plan = sp.stack_plan(choices, groups, materials)
        return {
            "changed": bool(self.generated),
            "plan": plan,
            "generated": self.generated,
            "predicted_pki": self.predicted,
        }


def main():
    module = AnsibleModule(argument_spec=module_spec(), supports_check_mode=True)
    if _pki.CRYPTOGRAPHY_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=_pki.CRYPTOGRAPHY_IMPORT_ERROR)
    module.exit_json(**StackPlan(module).run())


if __name__ == "__main__":
    main()

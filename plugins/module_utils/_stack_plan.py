# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stack's decisions: from the top-level choices and the inventory groups to what each role gets.

A pure function, so that every mode and every refusal is covered by a table
test; the stack role runs it through the stack_plan module and site.yml only
wires its answer into the roles.

Private to the collection: the interface may change without notice.
"""

from __future__ import annotations

import collections
import ipaddress
import re

from ansible_collections.dockyard.registry.plugins.module_utils import _pki
from ansible_collections.dockyard.registry.plugins.module_utils._pki import check_dns_name

TLS_MODES = ("self_signed", "provided", "none")
AUTH_MODES = ("token", "htpasswd", "none")
PROXY_MODES = ("container", "host")
VERSIONS = ("2.8", "3")
IMAGE_SOURCES = ("local", "upstream")
# Where the registries keep their data: the filesystem of the one registry's
# host, SeaweedFS deployed on storage_hosts, or an S3 service of the user's.
STORAGE_MODES = ("filesystem", "seaweedfs", "s3")

# A user name is a file stem in the secrets directory (<name>.password) and the
# user part of an htpasswd line and of Basic credentials: no ':' or '/', no
# leading dot or hyphen, so it can never leave the directory or split a line.
USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# bcrypt reads at most 72 bytes of a password; a longer one would be cut silently.
PASSWORD_MAX_BYTES = 72
DEFAULT_USER = "admin"
# The registry's port behind the proxy, and the docker network of a proxy in a
# container on the registry's host.
REGISTRY_PORT = 5000
NETWORK = "dockyard"
# Behind a proxy on its own host the registry listens on a socket in this
# directory (no TCP hop, no published port), which nginx (in the host's network,
# past docker's userland proxy) and the token server's catalog sync reach; the
# group of nginx's workers may connect: www-data in Debian's nginx and the local
# image, 101 in the upstream nginx image.
SOCKET_DIR = "/var/lib/dockyard/registry-socket"
SOCKET = f"{SOCKET_DIR}/registry.sock"
NGINX_GROUPS = {"local": "33", "upstream": "101"}
# Token mode: the token server's container (on NETWORK, and published on the
# auth host's loopback for the proxy in host mode and for the access module),
# and MariaDB's container beside it with no network at all: the token server
# mounts the directory of its socket (a unix socket costs less per query than a
# docker network's veth and bridge, and nothing else can reach the server).
AUTH_CONTAINER = "dockyard-auth"
AUTH_PORT = 5001
AUTH_PREFIX = "/auth"
ISSUER = "dockyard-auth"
DATABASE_SOCKET_DIR = "/run/dockyard-mariadb"
DATABASE_SOCKET = "/run/mysqld/mysqld.sock"  # in both containers: the directory is mounted at /run/mysqld
DATABASE_PORT = 3306
DATABASE_NAME = "dockyard"
DATABASE_USER = "dockyard"
TOKEN_SIGNER = "token-signer"  # noqa: S105 (the signer's file stem)
# Shared storage: SeaweedFS's ports (the first storage host runs the master,
# the filer and the S3 gateway; every storage host a volume server), and the
# redis that several registries share as their blob descriptor cache (on the
# proxy host, published for the registries with a password).
SEAWEEDFS_MASTER_PORT = 9333
SEAWEEDFS_FILER_PORT = 8888
SEAWEEDFS_S3_PORT = 8333
S3_REGION = "us-east-1"
S3_BUCKET = "registry"
REDIS_PORT = 6379
# A pull-through mirror (the registry's proxy mode) on the hosts of
# mirror_hosts, serving TLS with a certificate of the stack's CA on this port.
MIRROR_PORT = 5443
MIRROR_TTL = "168h"
MIRROR_CONTAINER = "dockyard-mirror"
# Docker's registry-mirrors apply to Docker Hub only, which docker calls docker.io.
DOCKER_HUB = "docker.io"
DOCKER_HUB_HOSTS = ("registry-1.docker.io", "index.docker.io", "docker.io")
DURATION_RE = re.compile(r"^[0-9]+(h|m|s)$")
S3_ENDPOINT_RE = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:(?P<port>[0-9]{1,5}))?/?$"
)

# What the plan takes from files on the controller (materials): names, and the
# file each comes from, relative to the secrets directory unless provided.
PKI_DIR = "pki"


class PlanError(Exception):
    """The choices cannot make a working stack; `errors` says each reason, naming the variable and the fix."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _port(value, default: int) -> tuple[int | None, str | None]:
    if value is None or value == "":
        return default, None
    try:
        port = int(str(value))
    except ValueError:
        return None, f"stack_registry_port {value!r} is not a number: give a port 1-65535 (or leave it unset)"
    if not 0 < port < 65536:
        return None, f"stack_registry_port {port} is out of range: give a port 1-65535 (or leave it unset)"
    return port, None


def _check_name(name: str, port: int | None) -> list[str]:
    if not name:
        return [
            "stack_registry_name is empty and there is no host in proxy_hosts or registry_hosts to take it from: "
            "set stack_registry_name to the name clients use, e.g. registry.example.com"
        ]
    if _pki.is_ip(name):
        return []
    try:
        check_dns_name(name)
    except ValueError as exc:
        return [
            f"stack_registry_name {name!r} is not a DNS name: it {exc}. Use the name clients use, "
            "e.g. registry.example.com"
        ]
    if name.startswith("*."):
        return [
            f"stack_registry_name {name!r} is a wildcard: give the one name clients use "
            "(wildcards go in stack_registry_aliases)"
        ]
    if "." not in name and name != "localhost" and port == 443:
        return [
            f"stack_registry_name {name!r} has no dot: docker would read {name}/team/app as a Docker Hub repository. "
            "Use a fully qualified name such as registry.example.com (an alias in /etc/hosts will do), or a port other "
            "than 443 (stack_registry_port)"
        ]
    return []


def _check_users(users, auth: str) -> tuple[list[dict], list[str]]:
    errors: list[str] = []
    if not isinstance(users, list):
        return [], ["stack_users must be a list of {name, password} entries, e.g. [{name: admin}]"]
    if users and auth == "none":
        errors.append(
            f"stack_users lists {len(users)} user(s) but stack_auth is none: nobody would be asked for a password and "
            "the users would be dropped. Set stack_auth: token or htpasswd, or remove stack_users"
        )
    checked: list[dict] = []
    seen: set[str] = set()
    for index, user in enumerate(users):
        where = f"stack_users[{index}]"
        if not isinstance(user, dict):
            errors.append(f"{where} must be a dictionary with name and optional password, e.g. {{name: alice}}")
            continue
        unknown = sorted(set(user) - {"name", "password", "admin"})
        if unknown:
            errors.append(
                f"{where} has unknown key(s) {', '.join(unknown)}: a user has name, and optional password and admin"
            )
        name = user.get("name")
        if not isinstance(name, str) or not USER_NAME_RE.match(name):
            errors.append(
                f"{where}.name {name!r} is not a usable user name: 1-64 letters, digits, '.', '_' or '-', starting "
                "with a letter or digit (it names the password file and the htpasswd entry; ':' and '/' cannot be used)"
            )
            continue
        if name in seen:
            errors.append(f"{where}.name {name!r} is listed twice: give each user once")
            continue
        seen.add(name)
        password = user.get("password")
        if password is not None and password != "":
            if not isinstance(password, str):
                errors.append(f"{where}.password (user {name}) must be a string: quote it in YAML")
                continue
            if len(password.encode("utf-8")) > PASSWORD_MAX_BYTES:
                errors.append(
                    f"{where}.password (user {name}) is {len(password.encode('utf-8'))} bytes: bcrypt reads at most "
                    f"{PASSWORD_MAX_BYTES}, so the rest would be ignored. Give a shorter password, or leave it out to "
                    "have one generated"
                )
                continue
        checked.append({"name": name, "password": password or None, "admin": bool(user.get("admin"))})
    return checked, errors


def _check_addresses(aliases, ip_addresses) -> list[str]:
    errors = []
    for index, alias in enumerate(aliases or []):
        try:
            check_dns_name(str(alias))
        except ValueError as exc:
            errors.append(f"stack_registry_aliases[{index}] {alias!r} is not a DNS name: it {exc}")
    for index, address in enumerate(ip_addresses or []):
        if not _pki.is_ip(str(address)):
            errors.append(f"stack_registry_ip_addresses[{index}] {address!r} is not an IP address")
    return errors


def _choice(choices: dict, key: str, allowed: tuple, errors: list[str]) -> str:
    value = choices.get(key)
    if value not in allowed:
        errors.append(f"stack_{key} {value!r} is not one of {', '.join(allowed)}")
    return value


def _check_mirror(choices: dict, groups: dict, tls: str, version: str, errors: list[str]) -> dict:
    """The pull-through mirror ({} for none): its hosts, its upstream and how long it keeps what it fetched."""
    hosts = list(dict.fromkeys(groups.get("mirror_hosts") or []))
    upstream = str(choices.get("mirror_upstream") or "").rstrip("/")
    if not hosts and not upstream:
        return {}
    if not hosts:
        errors.append(
            f"stack_mirror_upstream is {upstream!r} but the inventory group mirror_hosts is empty: give it the host "
            "(or hosts) that run the pull-through mirror, or empty stack_mirror_upstream"
        )
    match = S3_ENDPOINT_RE.match(upstream)
    if not match:
        errors.append(
            f"stack_mirror_upstream {upstream!r} is not http(s)://HOST[:PORT]: give the registry the mirror pulls "
            "through, such as https://registry-1.docker.io"
        )
    if tls != "self_signed":
        errors.append(
            f"the pull-through mirror on {', '.join(hosts) or 'mirror_hosts'} serves TLS with a certificate of the "
            f"stack's own CA, which stack_tls {tls} does not have: use stack_tls self_signed, or empty mirror_hosts"
        )
    ttl = str(choices.get("mirror_ttl") or MIRROR_TTL)
    if not DURATION_RE.match(ttl):
        errors.append(f"stack_mirror_ttl {ttl!r} is not a duration such as 168h, 30m or 3600s")
    elif version == "2.8" and ttl != MIRROR_TTL:
        errors.append(
            f"stack_mirror_ttl {ttl!r}: registry 2.8 keeps what its mirror fetched for {MIRROR_TTL}, fixed (proxy.ttl "
            f'came with 3.0): set stack_mirror_ttl {MIRROR_TTL}, or stack_registry_version "3"'
        )
    host = match.group("host") if match else ""
    derived = (
        DOCKER_HUB
        if host in DOCKER_HUB_HOSTS
        else host + (f":{match.group('port')}" if match and match.group("port") else "")
    )
    mirror_of = str(choices.get("mirror_of") or derived)
    if not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", mirror_of):
        errors.append(f"stack_mirror_of {mirror_of!r} is not a registry name, host[:port] (docker.io for Docker Hub)")
    return {
        "hosts": hosts,
        "upstream": upstream,
        # The name clients know the upstream by: docker's registry-mirrors cover Docker Hub (docker.io) only,
        # containerd any. An upstream that is itself a cache of Docker Hub is given as stack_mirror_of: docker.io.
        "upstream_name": mirror_of,
        "ttl": ttl if version == "3" else "",
        "username": str(choices.get("mirror_username") or ""),
    }


def _check_groups(groups: dict, storage: str, errors: list[str]) -> tuple[list[str], str]:
    """The registry hosts and the proxy host ('' for none)."""
    registry_hosts = list(dict.fromkeys(groups.get("registry_hosts") or []))
    proxy_hosts = list(groups.get("proxy_hosts") or [])
    if not registry_hosts:
        errors.append("the inventory group registry_hosts is empty: give it the host (or hosts) that run the registry")
    if len(proxy_hosts) > 1:
        errors.append(f"the inventory group proxy_hosts may have one host or none (it has {len(proxy_hosts)})")
    proxy_host = proxy_hosts[0] if proxy_hosts else ""
    if len(registry_hosts) > 1:
        several = f"registry_hosts has {len(registry_hosts)} hosts"
        if storage == "filesystem":
            errors.append(
                f"{several}, but stack_storage is filesystem: each registry would see only its own disk. Give them "
                "shared storage: stack_storage seaweedfs (SeaweedFS on the hosts of storage_hosts) or s3 (your own "
                "S3 service, stack_s3_endpoint)"
            )
        if not proxy_host:
            errors.append(f"{several} but proxy_hosts is empty: add the host whose nginx balances over them")
        elif proxy_host in registry_hosts:
            errors.append(
                f"{several} and the proxy host {proxy_host} is one of them: with several registries this version "
                "runs nginx on a host of its own. Remove it from registry_hosts, or give proxy_hosts another host"
            )
    return registry_hosts, proxy_host


def _check_storage(choices: dict, groups: dict, storage: str, errors: list[str]) -> tuple[list[str], dict]:
    """The SeaweedFS hosts and the S3 settings the registries get ({} on the filesystem)."""
    storage_hosts = list(dict.fromkeys(groups.get("storage_hosts") or []))
    if storage_hosts and storage != "seaweedfs":
        errors.append(
            f"the inventory group storage_hosts lists {', '.join(storage_hosts)} but stack_storage is {storage}: "
            "set stack_storage: seaweedfs to run SeaweedFS there, or empty the group"
        )
    if storage == "seaweedfs":
        if not storage_hosts:
            errors.append(
                "stack_storage is seaweedfs but the inventory group storage_hosts is empty: give it the hosts of "
                "SeaweedFS (the first runs the master, the filer and the S3 gateway; each one a volume server)"
            )
            return [], {}
        endpoint = f"http://{storage_hosts[0]}:{SEAWEEDFS_S3_PORT}"
        return storage_hosts, {"endpoint": endpoint, "region": S3_REGION, "bucket": S3_BUCKET, "secure": False}
    if storage != "s3":
        return [], {}
    endpoint = str(choices.get("s3_endpoint") or "")
    match = S3_ENDPOINT_RE.match(endpoint)
    if not match:
        errors.append(
            f"stack_s3_endpoint {endpoint!r} is not http(s)://HOST[:PORT]: give the address the registries reach "
            "your S3 service at (stack_storage s3)"
        )
    bucket = str(choices.get("s3_bucket") or S3_BUCKET)
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        errors.append(f"stack_s3_bucket {bucket!r} is not an S3 bucket name (3-63 of a-z, 0-9, '.' and '-')")
    region = str(choices.get("s3_region") or S3_REGION)
    secure = bool(match and match.group("scheme") == "https")
    return [], {"endpoint": endpoint.rstrip("/"), "region": region, "bucket": bucket, "secure": secure}


DATABASE_URL_RE = re.compile(
    r"^(mysql|mariadb)\+pymysql://(?P<user>[^:@/]+)@(?P<host>[^:/@]+)(:(?P<port>[0-9]+))?/(?P<db>[^/?]+)$"
)


def _check_token_groups(groups: dict, shape: dict, choices: dict, errors: list[str]) -> tuple[str, str]:
    """The token server's host and MariaDB's host ('' when stack_database_url names an existing one)."""
    proxy_host = shape["proxy_host"]
    auth_hosts = list(groups.get("auth_hosts") or [])
    database_hosts = list(groups.get("database_hosts") or [])
    database_url = str(choices.get("database_url") or "")
    if shape["tls"] == "none":
        errors.append(
            "stack_auth token with stack_tls none would send passwords and tokens in clear, and docker refuses a "
            "plain-HTTP token realm for a registry it reaches over HTTPS: choose stack_tls self_signed or provided, "
            "or stack_auth htpasswd"
        )
    if not proxy_host:
        errors.append(
            "stack_auth token needs a host in proxy_hosts: nginx serves the token endpoint and the admin API under "
            "the registry's own name (https://<name>/auth/token). Add a proxy host, or use stack_auth htpasswd"
        )
        return "", ""
    if len(auth_hosts) > 1:
        errors.append(f"the inventory group auth_hosts may have one host or none (it has {len(auth_hosts)})")
    auth_host = auth_hosts[0] if auth_hosts else proxy_host
    if auth_host != proxy_host:
        errors.append(
            f"the token server's host {auth_host} (auth_hosts) is not the proxy host {proxy_host}: this version runs "
            "it beside nginx, which reaches it on that host only. Leave auth_hosts empty or give it the proxy host"
        )
    if len(database_hosts) > 1:
        errors.append(f"the inventory group database_hosts may have one host or none (it has {len(database_hosts)})")
    if database_url:
        if database_hosts:
            errors.append(
                f"stack_database_url names an existing MariaDB and database_hosts lists {', '.join(database_hosts)}: "
                "choose one (remove the group to use your own MariaDB, or stack_database_url to deploy one)"
            )
        if not DATABASE_URL_RE.match(database_url):
            errors.append(
                f"stack_database_url {database_url!r} is not mysql+pymysql://USER@HOST[:PORT]/DATABASE (the password "
                "goes in the file database.password in stack_secrets_dir, never in the URL)"
            )
        return auth_host, ""
    return auth_host, (database_hosts[0] if database_hosts else auth_host)


def _check_access(choices: dict, anonymous_pull: bool, auth: str) -> list[str]:
    """The access declared beside the users: lists, and a public namespace only with anonymous pull.

    The declaration itself (names, roles, references) is checked by registry_access before it changes anything.
    """
    errors = []
    declared = {key: choices.get(key) or [] for key in ("teams", "namespaces", "robots")}
    for key, items in declared.items():
        if not isinstance(items, list):
            errors.append(f"stack_{key} must be a list")
    if auth == "token" and not anonymous_pull and isinstance(declared["namespaces"], list):
        for index, namespace in enumerate(declared["namespaces"]):
            if isinstance(namespace, dict) and namespace.get("visibility") == "public":
                errors.append(
                    f"stack_namespaces[{index}] {namespace.get('name')!r} is public but stack_anonymous_pull is "
                    "false: nobody could pull it without logging in. Make it protected (every logged-in user pulls), "
                    "or set stack_anonymous_pull: true"
                )
    if not isinstance(choices.get("access_exclusive") or {}, dict):
        errors.append("stack_access_exclusive must be a dict of users, teams, namespaces and robots (true or false)")
    return errors


def _check_provided_paths(choices: dict) -> list[str]:
    return [
        f"stack_tls is provided but stack_tls_provided_{key} is empty: give the controller path of the "
        f"server {'certificate (with its chain)' if key == 'certificate' else key}"
        for key in ("certificate", "key", "ca")
        if not choices.get(f"tls_provided_{key}")
    ]


def _anonymous_pull(value, auth: str) -> bool:
    """Unset: anonymous pull of public namespaces in token mode, nothing anonymous otherwise."""
    return auth == "token" if value is None or value == "" else bool(value)


def decide(choices: dict, groups: dict) -> dict:
    """The stack's shape from the choices and the groups, or PlanError naming every problem at once."""
    errors: list[str] = []
    tls = _choice(choices, "tls", TLS_MODES, errors)
    auth = _choice(choices, "auth", AUTH_MODES, errors)
    proxy_mode = _choice(choices, "proxy_mode", PROXY_MODES, errors)
    version = str(choices.get("registry_version"))
    if version not in VERSIONS:
        errors.append(f"stack_registry_version {version!r} is not one of {', '.join(VERSIONS)}")
    image_source = choices.get("registry_image_source") or "local"
    if image_source not in IMAGE_SOURCES:
        errors.append(f"registry_image_source {image_source!r} is not one of {', '.join(IMAGE_SOURCES)}")
    proxy_image_source = choices.get("proxy_image_source") or "local"
    if proxy_image_source not in IMAGE_SOURCES:
        errors.append(f"proxy_image_source {proxy_image_source!r} is not one of {', '.join(IMAGE_SOURCES)}")

    storage = _choice(dict(choices, storage=choices.get("storage") or "filesystem"), "storage", STORAGE_MODES, errors)
    registry_hosts, proxy_host = _check_groups(groups, storage, errors)
    registry_host = registry_hosts[0] if registry_hosts else ""
    storage_hosts, s3 = _check_storage(choices, groups, storage, errors)
    mirror = _check_mirror(choices, groups, tls, version, errors)
    mode = "proxy" if proxy_host else "native"

    anonymous_pull = _anonymous_pull(choices.get("anonymous_pull"), auth)
    if anonymous_pull and auth == "htpasswd":
        errors.append(
            "stack_anonymous_pull with stack_auth htpasswd cannot work with the docker CLI: docker chooses how to "
            "authenticate from the registry's answer to /v2/ alone. If /v2/ asks for credentials, an anonymous pull "
            'fails with "no basic auth credentials"; if it does not, a logged-in push never sends them and fails. '
            "Use stack_auth token (anonymous pull of public namespaces, authenticated push), or choose one: "
            "stack_anonymous_pull false, or stack_auth none"
        )
    if version == "3" and image_source == "local":
        errors.append(
            "stack_registry_version 3 cannot run on the locally built image: dockyard/registry is Debian's "
            "distribution 2.8. Set registry_image_source: upstream for the registry hosts (pulls registry:3), or "
            'stack_registry_version: "2.8"'
        )

    default_port = (80 if tls == "none" else 443) if proxy_host else REGISTRY_PORT
    port, port_error = _port(choices.get("registry_port"), default_port)
    if port_error:
        errors.append(port_error)
    name = str(choices.get("registry_name") or proxy_host or registry_host or "").strip().lower()
    errors += _check_name(name, port)
    aliases = [str(a).lower() for a in choices.get("registry_aliases") or []]
    ip_addresses = [str(a) for a in choices.get("registry_ip_addresses") or []]
    errors += _check_addresses(aliases, ip_addresses)

    users, user_errors = _check_users(choices.get("users") or [], auth)
    errors += user_errors
    if auth in ("htpasswd", "token") and not users and not user_errors:
        users = [{"name": DEFAULT_USER, "password": None, "admin": True}]
    if auth == "token" and users:
        # The first user is the token server's first admin (bootstrapped, then kept an admin).
        users[0] = dict(users[0], admin=True)
    errors += _check_access(choices, anonymous_pull, auth)

    if tls == "provided":
        errors += _check_provided_paths(choices)
    secrets_dir = choices.get("secrets_dir") or ""
    if not secrets_dir.startswith("/"):
        errors.append(f"stack_secrets_dir {secrets_dir!r} must be an absolute path on the controller")
    auth_host = database_host = ""
    if auth == "token" and tls in TLS_MODES:
        shape = {"tls": tls, "proxy_host": proxy_host}
        auth_host, database_host = _check_token_groups(groups, shape, choices, errors)
    if errors:
        raise PlanError(errors)

    separate_hop = mode == "proxy" and proxy_host not in registry_hosts
    address = name if port == 443 else f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
    return {
        "mode": mode,
        "tls": tls,
        "auth": auth,
        "proxy_mode": proxy_mode,
        # The group of nginx's workers: Debian's www-data on the host, or the image's.
        "nginx_group": NGINX_GROUPS["local" if proxy_mode == "host" else proxy_image_source],
        "registry_version": version,
        "registry_host": registry_host,
        "registry_hosts": registry_hosts,
        "proxy_host": proxy_host,
        "storage": storage,
        "storage_hosts": storage_hosts,
        "s3": s3,
        # Several registries share redis as their blob descriptor cache, on the proxy host.
        "redis_host": proxy_host if len(registry_hosts) > 1 else "",
        "mirror": mirror,
        "separate_hop": separate_hop,
        "name": name,
        "port": port,
        "address": address,
        "aliases": aliases,
        "ip_addresses": ip_addresses,
        "users": users,
        "secrets_dir": secrets_dir,
        "anonymous_pull": anonymous_pull,
        "auth_host": auth_host,
        "database_host": database_host,
        "database_url": str(choices.get("database_url") or "") if auth == "token" else "",
        "access": _access_choices(choices) if auth == "token" else {},
        # Declared for the token server but not used by this mode (a switch to basic auth keeps the inventory).
        "ignored_access": [] if auth == "token" else [k for k in ("teams", "namespaces", "robots") if choices.get(k)],
        "provided": (
            {k: choices.get(f"tls_provided_{k}") for k in ("certificate", "key", "ca")} if tls == "provided" else {}
        ),
    }


def _access_choices(choices: dict) -> dict:
    """Teams, namespaces, robots and which kinds are exclusive, as the access module takes them."""
    exclusive = choices.get("access_exclusive") or {}
    return {
        "teams": list(choices.get("teams") or []),
        "namespaces": list(choices.get("namespaces") or []),
        "robots": list(choices.get("robots") or []),
        "exclusive": {kind: bool(exclusive.get(kind)) for kind in ("users", "teams", "namespaces", "robots")},
    }


def database_tls(shape: dict) -> bool:
    """MariaDB on another host than the token server: published, TLS, the application user REQUIRE SSL."""
    return bool(shape["database_host"]) and shape["database_host"] != shape["auth_host"]


def pki_certificates(shape: dict) -> list[dict]:
    """What registry_pki must make in <secrets_dir>/pki: the server certificate, and the hop's pair."""
    certificates = []
    if shape["tls"] == "self_signed":
        names = [shape["name"]] + shape["aliases"]
        certificates.append(
            {
                "name": "server",
                "usage": "server",
                "common_name": shape["name"],
                "dns_names": [n for n in names if not _pki.is_ip(n)],
                "ip_addresses": [n for n in names if _pki.is_ip(n)] + shape["ip_addresses"],
            }
        )
    if shape["separate_hop"]:
        # A registry on another host than the proxy serves TLS to the proxy alone,
        # which proves itself with a client certificate. Several registries share
        # one certificate naming them all; nginx checks the first name (hop_name).
        certificates.append(
            {
                "name": "registry",
                "usage": "server",
                "common_name": shape["registry_host"],
                "dns_names": list(shape["registry_hosts"]),
                "ip_addresses": [],
            }
        )
        certificates.append(
            {
                "name": "proxy-client",
                "usage": "client",
                "common_name": f"{shape['proxy_host']} (proxy)",
                "dns_names": [],
                "ip_addresses": [],
            }
        )
    if shape["mirror"]:
        certificates.append(
            {
                "name": "mirror",
                "usage": "server",
                "common_name": shape["mirror"]["hosts"][0],
                "dns_names": list(shape["mirror"]["hosts"]),
                "ip_addresses": [],
            }
        )
    if shape["auth"] == "token" and database_tls(shape):
        certificates.append(
            {
                "name": "database",
                "usage": "server",
                "common_name": shape["database_host"],
                "dns_names": [shape["database_host"]],
                "ip_addresses": [],
            }
        )
    return certificates


def token_signing(shape: dict) -> dict:
    """registry_pki's token_signing: the self-signed signer of the tokens.

    ECDSA P-256 (ES256), which registry 2.8 and 3.x both verify: signing costs
    the token server about a tenth of an RSA 2048 signature
    (bench/results/token-server.md), and a token is smaller.
    """
    return {"name": TOKEN_SIGNER, "key_type": "ecdsa"} if shape["auth"] == "token" else {}


def material_files(shape: dict) -> dict[str, str]:
    """The controller files the roles' PEM inputs come from, by material name."""
    pki = f"{shape['secrets_dir']}/{PKI_DIR}"
    files: dict[str, str] = {}
    if shape["tls"] == "self_signed":
        files.update(ca=f"{pki}/ca.crt", server_cert=f"{pki}/server.crt", server_key=f"{pki}/server.key")
    elif shape["tls"] == "provided":
        provided = shape["provided"]
        files.update(ca=provided["ca"], server_cert=provided["certificate"], server_key=provided["key"])
    if shape["separate_hop"]:
        files.update(
            hop_ca=f"{pki}/ca.crt",
            hop_registry_cert=f"{pki}/registry.crt",
            hop_registry_key=f"{pki}/registry.key",
            hop_client_cert=f"{pki}/proxy-client.crt",
            hop_client_key=f"{pki}/proxy-client.key",
        )
    if shape["mirror"]:
        files.update(mirror_cert=f"{pki}/mirror.crt", mirror_key=f"{pki}/mirror.key")
        files.setdefault("ca", f"{pki}/ca.crt")
    if shape["auth"] == "token":
        files.update(
            signer_cert=f"{pki}/{TOKEN_SIGNER}.crt",
            signer_key=f"{pki}/{TOKEN_SIGNER}.key",
            signer_jwks=f"{pki}/{TOKEN_SIGNER}.jwks.json",
        )
        if database_tls(shape):
            files.update(
                database_ca=f"{pki}/ca.crt", database_cert=f"{pki}/database.crt", database_key=f"{pki}/database.key"
            )
    return files


def secret_files(shape: dict) -> dict[str, str]:
    """The generated secrets, by name: http.secret, and each user's password when none is given."""
    directory = shape["secrets_dir"]
    files = {"http_secret": f"{directory}/http.secret"}
    for user in shape["users"]:
        if not user["password"]:
            files[f"password:{user['name']}"] = f"{directory}/{user['name']}.password"
    if shape["auth"] == "token":
        files["events_secret"] = f"{directory}/events.secret"
        files["database_password"] = f"{directory}/database.password"
        if shape["database_host"]:
            files["database_root_password"] = f"{directory}/database-root.password"
    if shape["storage"] in ("seaweedfs", "s3"):
        files["s3_access_key"] = f"{directory}/s3-access-key"
        files["s3_secret_key"] = f"{directory}/s3-secret-key"
    if shape["redis_host"]:
        files["redis_password"] = f"{directory}/redis.password"
    if shape["mirror"] and shape["mirror"]["username"]:
        files["mirror_password"] = f"{directory}/mirror-upstream.password"
    return files


def given_secrets(shape: dict) -> list[str]:
    """The secrets the operator must give (never generated): those of services Dockyard does not run."""
    given = ["database_password"] if shape["auth"] == "token" and shape["database_url"] else []
    if shape["storage"] == "s3":
        given += ["s3_access_key", "s3_secret_key"]
    if shape["mirror"] and shape["mirror"]["username"]:
        given.append("mirror_password")
    return given


def registry_storage(shape: dict, m: dict) -> dict:
    """The registry_config sections of shared storage: the S3 driver, redis as the blob descriptor cache ({} for one
    registry on its filesystem)."""
    if not shape["s3"]:
        return {}
    s3 = shape["s3"]
    config: dict = {
        "storage": {
            "s3": {
                "accesskey": m["s3_access_key"],
                "secretkey": m["s3_secret_key"],
                "region": s3["region"],
                "regionendpoint": s3["endpoint"],
                "bucket": s3["bucket"],
                "secure": s3["secure"],
                "v4auth": True,
                "rootdirectory": "/registry",
            },
            # Clients reach the registry, not the storage: the registry serves the blobs itself.
            "redirect": {"disable": True},
        },
    }
    if shape["registry_version"] == "3":
        config["storage"]["s3"]["forcepathstyle"] = True
    if shape["redis_host"]:
        config["storage"]["cache"] = {"blobdescriptor": "redis"}
        config["redis"] = {
            "addr": f"{shape['redis_host']}:{REDIS_PORT}",
            "password": m["redis_password"],
            "db": 0,
            "dialtimeout": "1s",
            "readtimeout": "1s",
            "writetimeout": "1s",
        }
        if shape["registry_version"] == "3":
            config["redis"]["addrs"] = [config["redis"].pop("addr")]
        config["replicas"] = len(shape["registry_hosts"])
    return config


def roles(shape: dict, materials: dict) -> dict:
    """Each role's inputs; `materials` holds the PEM texts and secrets by the names of material_files/secret_files."""
    m = collections.defaultdict(str, materials)
    proxied = shape["mode"] == "proxy"
    hop = shape["separate_hop"]
    behind_local_proxy = proxied and not hop
    tls = shape["tls"] != "none"
    token = shape["auth"] == "token"
    users = [
        {"name": u["name"], "password": u["password"] or m[f"password:{u['name']}"], "admin": u.get("admin", False)}
        for u in shape["users"]
    ]
    basic_users = [{"name": u["name"], "password": u["password"]} for u in users]

    realm = f"https://{shape['address']}{AUTH_PREFIX}/token"
    registry = {
        "version": shape["registry_version"],
        "http_secret": m["http_secret"],
        # Behind nginx on this host: a socket for nginx and the token server, no published port, and an internal
        # network only (the registry's notifications reach the token server there).
        "socket_dir": SOCKET_DIR if behind_local_proxy else "",
        "socket_group": shape["nginx_group"] if behind_local_proxy else "",
        # On a host of its own: in the host's network (no docker-proxy copying every byte; the host's resolver
        # finds the proxy, the storage and redis by name), port 5000 on every address, TLS to the proxy alone.
        "network_mode": "host" if hop else "",
        # nginx logs every request; the registry then logs warnings and errors.
        "request_log": not proxied,
        "publish": not behind_local_proxy,
        "bind_address": "0.0.0.0",  # noqa: S104 (published for the proxy on another host or for the clients)
        "networks": [NETWORK] if behind_local_proxy else [],
        "published_port": REGISTRY_PORT if proxied else shape["port"],
        # Serving TLS: to the proxy alone (client certificates), or to the clients (no proxy).
        "tls": hop or (not proxied and tls),
        "tls_certificate": m["hop_registry_cert"] if hop else m["server_cert"] if not proxied and tls else "",
        "tls_key": m["hop_registry_key"] if hop else m["server_key"] if not proxied and tls else "",
        "tls_client_ca": m["hop_ca"] if hop else "",
        "auth": "token" if token else "htpasswd" if not proxied and shape["auth"] == "htpasswd" else "none",
        "htpasswd_users": basic_users if not proxied and shape["auth"] == "htpasswd" else [],
        "allow_anonymous": shape["auth"] == "none",
        # Deletes by digest through the API (the smoke check removes what it pushed; retention needs them;
        # in token mode the delete policy says who may).
        "delete_enabled": True,
        "token": (
            {
                "realm": realm,
                "service": shape["address"],
                "issuer": ISSUER,
                "rootcertbundle": m["signer_cert"],
                "jwks": m["signer_jwks"],
            }
            if token
            else {}
        ),
        # Beside the token server: over the internal network; from another host: through the proxy
        # (https://<name>/auth/events, open to the registry hosts only), trusting the clients' CA.
        "notifications": (
            {
                "url": f"https://{shape['address']}{AUTH_PREFIX}/events"
                if hop
                else f"http://{AUTH_CONTAINER}:{AUTH_PORT}/events",
                "secret": m["events_secret"],
            }
            if token
            else {}
        ),
        "trusted_ca": m["ca"] if token and hop else "",
        "config": registry_storage(shape, m),
    }
    proxy = {}
    if proxied:
        proxy = {
            "server_name": shape["name"],
            "tls": tls,
            "https_port": shape["port"],
            "http_port": 80 if tls else shape["port"],
            "tls_certificate": m["server_cert"] if tls else "",
            "tls_key": m["server_key"] if tls else "",
            "auth": shape["auth"],
            "htpasswd_users": basic_users if shape["auth"] == "htpasswd" else [],
            "mode": shape["proxy_mode"],
            # nginx in the host's network: clients reach it without docker's userland proxy.
            "network_mode": "host",
            "upstreams": [f"{h}:{REGISTRY_PORT}" for h in shape["registry_hosts"]] if hop else [f"unix:{SOCKET}"],
            # The name nginx checks in the registries' shared certificate.
            "upstream_tls_name": shape["registry_host"] if hop else "",
            "networks": [],
            "upstream_tls": hop,
            "upstream_ca_cert": m["hop_ca"] if hop else "",
            "upstream_client_cert": m["hop_client_cert"] if hop else "",
            "upstream_client_key": m["hop_client_key"] if hop else "",
            # The token server, published on the host's loopback.
            "token_upstream": f"127.0.0.1:{AUTH_PORT}" if token else "",
            # The registries on other hosts post their notifications to /auth/events: from their addresses only.
            "events_from": list(shape["registry_hosts"]) if token and hop else [],
        }
    login = users[0] if shape["auth"] in ("htpasswd", "token") else {"name": "", "password": ""}
    clients = {
        "registries": [{"address": shape["address"], "ca_cert": m["ca"] if tls else "", "insecure": not tls}],
        # What a client needs to call the registry's API: the smoke check deletes what it pushed with it.
        "check": {
            "api": f"{'https' if tls else 'http'}://{shape['address']}",
            # Where the docker_client role puts the CA for this address.
            "ca_path": f"/etc/docker/certs.d/{shape['address']}/ca.crt" if tls else "",
            "username": login["name"],
            "password": login["password"],
            "token": token,
            # A public namespace the smoke check pulls from anonymously ('' for none).
            "public_namespace": _public_namespace(shape) if token and shape["anonymous_pull"] else "",
        },
        "logins": (
            [{"registry": shape["address"], "username": login["name"], "password": login["password"]}]
            if shape["auth"] in ("htpasswd", "token")
            else []
        ),
    }
    mirror = _mirror_role(shape, m)
    if mirror:
        clients["registries"] += [{"address": a, "ca_cert": m["ca"], "insecure": False} for a in mirror["addresses"]]
    clients["mirrors"] = (
        [{"url": f"https://{a}", "upstream": mirror["upstream_name"]} for a in mirror["addresses"]] if mirror else []
    )
    plan = {"registry": registry, "proxy": proxy, "clients": clients, "mirror": mirror}
    plan.update(_token_roles(shape, m, users))
    plan.update(_shared_storage_roles(shape, m))
    return plan


def _mirror_role(shape: dict, m: dict) -> dict:
    """The pull-through mirror's inputs for the registry role ({} without one): proxy mode, TLS, read-only."""
    mirror = shape["mirror"]
    if not mirror:
        return {}
    proxy = {"remoteurl": mirror["upstream"]}
    if mirror["ttl"]:
        proxy["ttl"] = mirror["ttl"]
    if mirror["username"]:
        proxy.update(username=mirror["username"], password=m["mirror_password"])
    return {
        "hosts": mirror["hosts"],
        "addresses": [f"{h}:{MIRROR_PORT}" for h in mirror["hosts"]],
        "upstream_name": mirror["upstream_name"],
        "container_name": MIRROR_CONTAINER,
        "port": MIRROR_PORT,
        "tls_certificate": m["mirror_cert"],
        "tls_key": m["mirror_key"],
        # A cache of what the upstream serves: anyone who reaches it may pull, nobody may push (the registry refuses
        # writes in proxy mode); the upstream's credentials, if any, stay in the mirror.
        "config": {"proxy": proxy},
    }


def _shared_storage_roles(shape: dict, m: dict) -> dict:
    """SeaweedFS's and redis's inputs (empty when the stack runs neither)."""
    seaweedfs = {}
    if shape["storage"] == "seaweedfs" and shape["storage_hosts"]:
        first = shape["storage_hosts"][0]
        seaweedfs = {
            # The first host runs every component; the others add volume servers.
            "components": {
                h: ["master", "volume", "filer", "s3"] if h == first else ["volume"] for h in shape["storage_hosts"]
            },
            "master": f"{first}:{SEAWEEDFS_MASTER_PORT}",
            "filer": f"{first}:{SEAWEEDFS_FILER_PORT}",
            # A copy of every file on another volume server when there is one: losing a volume host loses nothing
            # and pulls go on (writes need two volume servers up).
            "replication": "001" if len(shape["storage_hosts"]) > 1 else "000",
            "access_key": m["s3_access_key"],
            "secret_key": m["s3_secret_key"],
            "buckets": [shape["s3"]["bucket"]],
        }
    redis = {}
    if shape["redis_host"]:
        redis = {
            "host": shape["redis_host"],
            "password": m["redis_password"],
            "port": REDIS_PORT,
            # Published for the registries on the other hosts, which alone may reach the port (DOCKER-USER rules);
            # the password besides.
            "publish": True,
            "bind_address": "0.0.0.0",  # noqa: S104
            "allowed_sources": list(shape["registry_hosts"]),
        }
    return {"seaweedfs": seaweedfs, "redis": redis}


def _public_namespace(shape: dict) -> str:
    public = [
        n.get("name") for n in shape["access"]["namespaces"] if isinstance(n, dict) and n.get("visibility") == "public"
    ]
    return str(public[0]) if public else ""


def _token_roles(shape: dict, m: dict, users: list[dict]) -> dict:
    """The token server's, MariaDB's and the access module's inputs (empty without token auth)."""
    if shape["auth"] != "token":
        return {"token_auth": {}, "database": {}, "access": {}}
    remote_db = database_tls(shape)
    local_db = bool(shape["database_host"]) and not remote_db
    if shape["database_url"]:
        url = shape["database_url"]
    elif local_db:
        url = f"mysql+pymysql://{DATABASE_USER}@localhost/{DATABASE_NAME}?unix_socket={DATABASE_SOCKET}"
    else:
        url = f"mysql+pymysql://{DATABASE_USER}@{shape['database_host']}:{DATABASE_PORT}/{DATABASE_NAME}"
    admin = users[0]
    token_auth = {
        "service": shape["address"],
        "issuer": ISSUER,
        "realm": f"https://{shape['address']}{AUTH_PREFIX}/token",
        "signing_key": m["signer_key"],
        "signing_cert": m["signer_cert"],
        "database_url": url,
        "database_password": m["database_password"],
        "database_ca": m["database_ca"] if remote_db else "",
        # The name in the URL is the database host's inventory name: resolved on the auth host for the container.
        "resolve_hosts": [shape["database_host"]] if remote_db else [],
        "events_secret": m["events_secret"],
        "admin_name": admin["name"],
        "admin_password": admin["password"],
        # The registry's socket when it is on this host; the catalog sync is off for registries on other hosts
        # (their notifications keep the activity).
        "registry_url": "" if shape["separate_hop"] else f"unix:{SOCKET}",
        "networks": [NETWORK],
        # MariaDB on this host: the directory of its socket, mounted at /run/mysqld ('' for one on another host,
        # reached from the default bridge).
        "database_socket_dir": DATABASE_SOCKET_DIR if local_db else "",
        # Who sends X-Forwarded-For: nginx in the host's network, through the port published on loopback, which
        # reaches the container from the bridge's gateway (other containers on the bridge stay untrusted).
        "trusted_proxy_networks": [],
        "trusted_proxy_gateways": ["bridge"],
    }
    database = {}
    if shape["database_host"]:
        database = {
            "host": shape["database_host"],
            "root_password": m["database_root_password"],
            "database": DATABASE_NAME,
            "user": DATABASE_USER,
            "password": m["database_password"],
            "publish": remote_db,
            # On the token server's host MariaDB joins no network (reached through its socket only).
            "networks": [],
            "socket_dir": DATABASE_SOCKET_DIR,
            "tls": remote_db,
            "tls_certificate": m["database_cert"] if remote_db else "",
            "tls_key": m["database_key"] if remote_db else "",
            # The application user's hosts: the token server's host (resolved on the database host), or the
            # socket (MariaDB's localhost).
            "client_hosts": [shape["auth_host"]] if remote_db else ["localhost"],
            "require_ssl": remote_db,
        }
    access = dict(shape["access"])
    access.update(
        {
            "host": shape["auth_host"],
            "api_url": f"http://127.0.0.1:{AUTH_PORT}/api/v1",
            # The token endpoint checks a password against this service (the module's update_password: always).
            "service": shape["address"],
            "api_username": admin["name"],
            "api_password": admin["password"],
            "users": [{"name": u["name"], "password": u["password"], "admin": u["admin"]} for u in users],
            "robot_secrets_dir": f"{shape['secrets_dir']}/robots",
        }
    )
    return {"token_auth": token_auth, "database": database, "access": access}


def summary(shape: dict) -> list[str]:
    """What the last play tells the operator."""
    tls = shape["tls"] != "none"
    ca = {"none": "none (plain HTTP)", "provided": shape["provided"].get("ca")}.get(
        shape["tls"], f"{shape['secrets_dir']}/{PKI_DIR}/ca.crt"
    )
    lines = [
        f"Registry: {shape['address']} ({'HTTPS' if tls else 'plain HTTP'}, {shape['mode']} mode)",
        f"CA for the clients: {ca}",
    ]
    if len(shape["registry_hosts"]) > 1:
        lines.append(
            f"Registries: {', '.join(shape['registry_hosts'])}, balanced by nginx on {shape['proxy_host']}, "
            f"sharing storage and redis on {shape['redis_host']}."
        )
    if shape["storage"] == "seaweedfs":
        lines.append(
            f"Storage: SeaweedFS on {', '.join(shape['storage_hosts'])} (S3 at {shape['s3']['endpoint']}, bucket "
            f"{shape['s3']['bucket']}, keys in {shape['secrets_dir']}/s3-access-key and s3-secret-key)."
        )
    elif shape["storage"] == "s3":
        lines.append(f"Storage: S3 at {shape['s3']['endpoint']}, bucket {shape['s3']['bucket']}.")
    if shape["mirror"]:
        lines.append(
            f"Pull-through mirror of {shape['mirror']['upstream']}: "
            + ", ".join(f"https://{h}:{MIRROR_PORT}" for h in shape["mirror"]["hosts"])
            + " (in the clients' registry-mirrors"
            + (")." if shape["mirror"]["upstream_name"] == DOCKER_HUB else "; containerd only for that upstream).")
        )
    if shape["auth"] in ("htpasswd", "token"):
        first = shape["users"][0]
        where = "as you set it" if first["password"] else f"in {shape['secrets_dir']}/{first['name']}.password"
        lines.append(f"Log in: docker login {shape['address']} -u {first['name']} (password {where})")
    if shape["auth"] == "token":
        lines += [
            f"Token authentication: the admin is {shape['users'][0]['name']}; tokens from "
            f"https://{shape['address']}{AUTH_PREFIX}/token, the admin API at https://{shape['address']}{AUTH_PREFIX}"
            "/api/v1/ (MariaDB " + (shape["database_url"] or f"on {shape['database_host']}") + ").",
            "Anonymous pull of public namespaces: " + ("on." if shape["anonymous_pull"] else "off."),
            "Add a user: list it in stack_users (teams in stack_teams, namespaces in stack_namespaces, robots in "
            "stack_robots) in the inventory and run site.yml again; a generated password lands in "
            f"{shape['secrets_dir']}/<name>.password, a robot's secret in {shape['secrets_dir']}/robots/.",
        ]
    elif shape["auth"] == "none":
        lines.append("No authentication: anyone who reaches the registry can push and pull.")
    if tls:
        lines.append("TLS 1.2/1.3 only.")
    else:
        lines.append("WARNING: plain HTTP; passwords and images cross the network in clear.")
    return lines


def warnings(shape: dict) -> list[str]:
    found = []
    if shape["tls"] == "none":
        found.append(
            "stack_tls is none: the registry speaks plain HTTP, passwords and images cross the network in clear, and "
            "every client needs it in insecure-registries"
        )
    if shape["ignored_access"]:
        names = ", ".join(f"stack_{key}" for key in shape["ignored_access"])
        found.append(
            f"{names}: declared for the token server, ignored with stack_auth {shape['auth']} (every user may push "
            "and pull everything); set stack_auth: token to apply them"
        )
    return found


def planned_groups(shape: dict) -> list[dict]:
    """Which hosts run the parts the plan places ({host, group}): site.yml's plays for those parts run on the groups."""
    placed = [
        (shape["auth_host"], "dockyard_planned_auth"),
        (shape["database_host"], "dockyard_planned_database"),
        (shape["redis_host"], "dockyard_planned_cache"),
    ]
    placed += [(h, "dockyard_planned_storage") for h in shape["storage_hosts"]]
    placed += [(h, "dockyard_planned_mirror") for h in (shape["mirror"] or {}).get("hosts", [])]
    return [{"host": host, "group": group} for host, group in placed if host]


def stack_plan(choices: dict, groups: dict, materials: dict | None = None) -> dict:
    """The whole plan: the shape, what to make on the controller, each role's inputs (filled from `materials`)."""
    shape = decide(choices, groups)
    plan = dict(shape)
    plan["pki"] = {"certificates": pki_certificates(shape), "token_signing": token_signing(shape)}
    plan["material_files"] = material_files(shape)
    plan["secret_files"] = secret_files(shape)
    plan["given_secrets"] = given_secrets(shape)
    plan["planned_groups"] = planned_groups(shape)
    plan.update(roles(shape, materials or {}))
    plan["summary"] = summary(shape)
    plan["warnings"] = warnings(shape)
    return plan


def _anchored_at(cert, ca) -> bool:
    """Whether `ca` issued `cert`, or is `cert` itself (a CA file may hold the intermediate)."""
    return _pki.issued_by(cert, _pki.Issuer.of(ca)) or _pki.same_public_key(cert.public_key(), ca.public_key())


def provided_problems(name: str, cert_pem: bytes, key_pem: bytes, ca_pem: bytes) -> list[str]:
    """Why a provided certificate, key and CA cannot serve `name`: parse, key match, SAN, chain to the CA."""
    where = {
        "cert": "stack_tls_provided_certificate",
        "key": "stack_tls_provided_key",
        "ca": "stack_tls_provided_ca",
    }
    try:
        chain = _pki.x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        return [f"{where['cert']} is not a PEM certificate: {exc}"]
    try:
        key = _pki.load_private_key(key_pem)
    except (ValueError, TypeError, _pki.PkiError) as exc:
        return [f"{where['key']} is not a usable private key (an unencrypted PEM key is needed): {exc}"]
    try:
        cas = _pki.x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        return [f"{where['ca']} is not a PEM certificate: {exc}"]
    problems: list[str] = []
    leaf = chain[0]
    if not _pki.same_public_key(leaf.public_key(), key.public_key()):
        problems.append(
            f"{where['key']} does not belong to the certificate in {where['cert']} (their public keys differ): nginx "
            "would refuse them with 'key values mismatch'. Give the key the certificate was issued for"
        )
    dns, ips = _pki.sans_of(leaf)
    if _pki.is_ip(name):
        covered = str(ipaddress.ip_address(name)) in ips
    else:
        covered = name in dns or any(
            pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:] for pattern in dns
        )
    if not covered:
        listed = ", ".join(dns + ips) or "none"
        problems.append(
            f"the certificate in {where['cert']} does not name stack_registry_name {name!r} in its subjectAltNames "
            f"({listed}): clients would fail with 'x509: certificate is valid for ..., not {name}'. Get a certificate "
            "for that name, or set stack_registry_name to one it covers"
        )
    # Walk up the chain in the file until a certificate is issued by one of the given CAs.
    current, rest, anchored = leaf, list(chain[1:]), False
    for _step in range(len(chain) + 1):
        if any(_anchored_at(current, ca) for ca in cas):
            anchored = True
            break
        parent = next((c for c in rest if _pki.issued_by(current, _pki.Issuer.of(c))), None)
        if parent is None:
            break
        rest.remove(parent)
        current = parent
    if not anchored:
        problems.append(
            f"the certificate in {where['cert']} does not chain to the CA in {where['ca']}: clients that trust that CA "
            "would fail with 'x509: certificate signed by unknown authority'. Put the intermediate certificates after "
            "the server certificate in the file, or give the CA that issued it"
        )
    return problems

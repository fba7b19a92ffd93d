# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry role's decisions, as pure functions (the filters in plugins/filter/registry_role.py).

- `role_config()`: the configuration the role hands to registry_config, from
  the role's variables and the user's `registry_config`;
- `config_errors()`: the top-level keys of `registry_config` that
  registry_config does not take, one message each (the role refuses them
  instead of dropping them);
- `module_deps()`: the Python libraries the role's modules import on the host;
- `tls_files()`: the TLS files, as dockyard.registry.service_files takes them;
- `token_files()`: the token signer's certificate (and for 3.x its JWKS) that
  `auth.token` names, likewise;
- `inputs_digest()`: the content hash of everything the registry reads at
  start, kept as a container label so that a restart that did not happen
  (a failure between writing and restarting) happens on the next run;
- `tls_key_matches()`: whether a private key belongs to a certificate.

No I/O. Private to the collection: the interface may change without notice.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, replace

from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.dockyard.registry.plugins.module_utils._registry_config_schema import DRIVER_NAMES, SECTIONS

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
except ImportError:  # said when tls_key_matches() is called
    x509 = None
    serialization = None

# registry_config's options that are not sections of config.yml but may be
# given in registry_config (a hint for its checks).
MODULE_OPTIONS = ("replicas",)
# Every top-level key registry_config takes: its sections, in the order it
# writes them, then its other options.
KNOWN_KEYS = tuple(SECTIONS) + MODULE_OPTIONS

DEFAULT_ROOTDIRECTORY = "/var/lib/registry"
# Token auth: the signer's files, in this directory beside config.yml.
TOKEN_DIR = "token"  # noqa: S105 (file names, not secrets)
TOKEN_CERT = "token-signer.crt"  # noqa: S105
TOKEN_JWKS = "token-signer.jwks.json"  # noqa: S105
LISTEN = ":5000"
# With registry_socket_dir, the registry listens on this socket in that
# directory, mounted at the same path in every container that uses it: a proxy
# on the same host reaches it without a TCP hop, and nothing else reaches it.
SOCKET_NAME = "registry.sock"
HEALTH = {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}}

YAML_DEP = {"module": "yaml", "packages": ["python3-yaml"]}
# community.docker's modules (the container, its network, the image check) talk to dockerd through requests.
REQUESTS_DEP = {"module": "requests", "packages": ["python3-requests"]}
HTPASSWD_DEP = {"module": "passlib.hash, bcrypt", "packages": ["python3-passlib", "python3-bcrypt"]}


def merge(base: dict, over: dict) -> dict:
    """`base` with `over` merged in, as Ansible's combine(recursive=True): dicts merge, anything else replaces."""
    out = dict(base)
    for name, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = merge(out[name], value)
        else:
            out[name] = value
    return out


def _given(value) -> bool:
    return value is not None and str(value).strip() != ""


@dataclass(frozen=True)
class RoleInputs:
    """The role's variables that shape config.yml (booleans may come as text from -e key=value)."""

    tls: bool = False
    client_ca: str = ""  # the client CA's PEM; empty: no client certificates
    auth: str = "none"
    realm: str = "Dockyard Registry"
    http_secret: str = ""
    delete_enabled: bool = False
    mount: str = "/etc/docker/registry"  # the configuration directory inside the container
    version: str = "2.8"
    # auth: token
    token_realm: str = ""
    token_service: str = ""
    token_issuer: str = ""
    # Notifications to the token server, with the secret it shares with the registry.
    notifications_url: str = ""
    notifications_secret: str = ""
    # The host directory of the listening socket; empty: TCP on LISTEN.
    socket_dir: str = ""
    # A line per request in the registry's log (its access log and info-level "response completed"). Behind
    # the proxy, whose log has a line per request already, they cost the registry a quarter of its requests
    # per second (bench/results/auth-rate.md).
    request_log: bool = True
    # "host": the container is in the host's network and listens on published_port of every host address.
    network_mode: str = ""
    published_port: int = 5000

    @classmethod
    def from_vars(cls, **variables) -> RoleInputs:
        inputs = cls(**variables)
        return replace(
            inputs,
            tls=boolean(inputs.tls, strict=False),
            delete_enabled=boolean(inputs.delete_enabled, strict=False),
            request_log=boolean(inputs.request_log, strict=False),
            auth=str(inputs.auth),
            realm=str(inputs.realm),
            mount=str(inputs.mount).rstrip("/"),
            version=str(inputs.version),
            network_mode=str(inputs.network_mode or ""),
            published_port=int(inputs.published_port),
        )


def generated_config(inputs: RoleInputs, user_storage: dict | None = None) -> dict:
    """What the role's own variables make of config.yml, before the user's registry_config is merged over it.

    The filesystem driver (on the data volume) unless the user's storage
    names a driver; the TLS files and the htpasswd file at their place under
    the mount point of the configuration directory.
    """
    mount = inputs.mount
    storage: dict = {}
    if not any(driver in (user_storage or {}) for driver in DRIVER_NAMES):
        storage["filesystem"] = {"rootdirectory": DEFAULT_ROOTDIRECTORY}
    storage["delete"] = {"enabled": inputs.delete_enabled}
    listen = f":{inputs.published_port}" if inputs.network_mode == "host" else LISTEN
    http: dict = {"addr": listen, "headers": {"X-Content-Type-Options": ["nosniff"]}}
    if _given(inputs.socket_dir):
        http = {"net": "unix", "addr": f"{inputs.socket_dir.rstrip('/')}/{SOCKET_NAME}", "headers": http["headers"]}
    if _given(inputs.http_secret):
        http["secret"] = inputs.http_secret
    if inputs.tls:
        http["tls"] = {"certificate": f"{mount}/tls/server.crt", "key": f"{mount}/tls/server.key"}
        if _given(inputs.client_ca):
            http["tls"]["clientcas"] = [f"{mount}/tls/client-ca.crt"]
    config = {"storage": storage, "http": http}
    if not inputs.request_log:
        config["log"] = {"level": "warn", "accesslog": {"disabled": True}}
    if inputs.auth == "htpasswd":
        config["auth"] = {"htpasswd": {"realm": inputs.realm, "path": f"{mount}/auth/htpasswd"}}
    if inputs.auth == "token":
        token = {
            "realm": inputs.token_realm,
            "service": inputs.token_service,
            "issuer": inputs.token_issuer,
            # The signer's certificate alone: every key it vouches for may mint tokens.
            "rootcertbundle": f"{mount}/{TOKEN_DIR}/{TOKEN_CERT}",
        }
        if inputs.version == "3":
            # 3.x matches a token's kid against the JWKS (the libtrust id, the one 2.8 matches too).
            token["jwks"] = f"{mount}/{TOKEN_DIR}/{TOKEN_JWKS}"
        config["auth"] = {"token": token}
    if _given(inputs.notifications_url):
        config["notifications"] = {
            "endpoints": [
                {
                    "name": "dockyard-auth",
                    "url": inputs.notifications_url,
                    "headers": {"Authorization": [f"Bearer {inputs.notifications_secret}"]},
                    # The registry retries without end while it lives; short waits keep the queue moving.
                    "timeout": "5s",
                    "threshold": 3,
                    "backoff": "2s",
                    # The token server records pushes and deletes: an event per pull would cost the registry a
                    # request to it for every manifest a client reads.
                    "ignore": {"actions": ["pull"]},
                }
            ]
        }
    config["health"] = copy.deepcopy(HEALTH)
    return config


def role_config(user_config: dict | None, **variables) -> dict:
    """The options for registry_config: the generated configuration with the user's merged over it.

    `variables` are RoleInputs' fields. Every key of `user_config` is kept,
    unknown ones too (config_errors() refuses those; nothing is dropped
    silently). Top-level sections that end up empty are left out, so that
    the module writes nothing for them.
    """
    user_config = dict(user_config or {})
    storage = user_config.get("storage")
    generated = generated_config(RoleInputs.from_vars(**variables), storage if isinstance(storage, dict) else None)
    merged = merge(generated, user_config)
    return {name: value for name, value in merged.items() if not (isinstance(value, dict) and not value)}


def unknown_keys(user_config: dict | None) -> list[str]:
    """The top-level keys of `user_config` that registry_config does not take, in the order given."""
    return [str(name) for name in (user_config or {}) if name not in KNOWN_KEYS]


def config_errors(user_config: dict | None, variable: str = "registry_config") -> list[str]:
    """One message per top-level key that registry_config does not take (empty when all are known)."""
    if user_config is not None and not isinstance(user_config, dict):
        return [f"{variable}: must be a dict of sections, got {type(user_config).__name__}"]
    return [
        f"{variable}.{name}: not a section of the registry's configuration that "
        f"dockyard.registry.registry_config takes; use one of {', '.join(KNOWN_KEYS)}"
        for name in unknown_keys(user_config)
    ]


def module_deps(auth: str) -> list[dict]:
    """What the role's modules import on the host, and the Debian packages that provide it (module_deps role)."""
    deps = [dict(YAML_DEP), dict(REQUESTS_DEP)]
    if auth == "htpasswd":
        deps.append(dict(HTPASSWD_DEP))
    return deps


def _pem(text) -> str:
    """A PEM text as the role writes it: surrounding blanks removed, one final newline."""
    return str(text).strip() + "\n"


def tls_files(certificate: str, key: str, client_ca: str = "", tls=True) -> list[dict]:
    """The TLS files of the registry, as dockyard.registry.service_files takes them (paths relative to tls/).

    None without TLS; the client CA only when given. The key is secret and
    readable by root only (the registry runs as root in its container).
    """
    if not boolean(tls, strict=False):
        return []
    files = [
        {"path": "server.crt", "content": _pem(certificate), "mode": "0644"},
        {"path": "server.key", "content": _pem(key), "mode": "0600", "secret": True},
    ]
    if _given(client_ca):
        files.append({"path": "client-ca.crt", "content": _pem(client_ca), "mode": "0644"})
    return files


def token_files(rootcertbundle: str, jwks: str = "", auth: str = "token", version: str = "2.8") -> list[dict]:
    """The files `auth.token` names, as dockyard.registry.service_files takes them (paths relative to token/).

    None without token auth; the JWKS only for 3.x. Both are public.
    """
    if str(auth) != "token":
        return []
    files = [{"path": TOKEN_CERT, "content": _pem(rootcertbundle), "mode": "0644"}]
    if str(version) == "3":
        files.append({"path": TOKEN_JWKS, "content": _pem(jwks), "mode": "0644"})
    return files


def inputs_digest(config: dict, files: list | None = None, registry_version: str = "") -> str:
    """sha256 of what the registry reads at start: registry_config's options, the version, the TLS files.

    The same inputs give the same digest (key order does not matter), so a
    container labelled with it is recreated exactly when one of them changed
    since it started, even if the run that wrote the change failed before
    the restart. It is a function of the role's inputs alone, so check mode
    and a run limited by tags compute the same value.
    """
    document = {
        "config": config,
        "files": sorted(({"path": f["path"], "content": f["content"]} for f in files or []), key=lambda f: f["path"]),
        "registry_version": str(registry_version),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TlsInputError(ValueError):
    """A certificate or key that cannot be read; the message names which, never its content."""


def _public_key_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def tls_key_matches(certificate_pem: str, key_pem: str) -> bool:
    """True when `key_pem` is the private key of the first certificate in `certificate_pem`."""
    if x509 is None:
        raise TlsInputError(
            "the Python library cryptography is needed on the controller to compare the key with the certificate"
        )
    try:
        certificate = x509.load_pem_x509_certificate(str(certificate_pem).strip().encode("utf-8"))
    except ValueError:
        raise TlsInputError("the certificate is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(str(key_pem).strip().encode("utf-8"), password=None)
    except (ValueError, TypeError):
        raise TlsInputError("the key is not an unencrypted PEM private key") from None
    return _public_key_der(certificate.public_key()) == _public_key_der(key.public_key())

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The distribution registry's config.yml from structured options: check, mask, render.

Pure logic, no I/O: `prepare()` turns the module's section options into the
configuration (or raises ConfigError listing every problem), `mask()` hides
the secrets, `render()` writes deterministic YAML, `masked_text()` shows an
existing file with its secrets hidden, `diff()` gives both texts of the diff
(a secret that changed marked, never shown). The keys themselves are
described in _registry_config_schema.

Private to the collection: the interface may change without notice.
"""

from __future__ import annotations

import ipaddress
import re
import traceback
from urllib.parse import urlsplit

from ansible_collections.dockyard.registry.plugins.module_utils._registry_config_schema import (
    DRIVER_NAMES,
    SECTIONS,
    VERSIONS,
    Key,
)

try:
    import yaml
except ImportError:  # the module reports it with missing_required_lib
    yaml = None
    YAML_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    YAML_IMPORT_ERROR = None

MASK = "********"
# A secret whose value differs from the one in the file, as the diff's new text shows it.
MASK_CHANGED = MASK + " (changed)"
CONFIG_VERSION = "0.1"
DEFAULT_ROOTDIRECTORY = "/var/lib/registry"
DEFAULT_ADDR = ":5000"
SOCKET_EXAMPLE = "/run/registry/registry.sock"
HEADER = "# Written by Ansible (dockyard.registry.registry_config): local changes are overwritten.\n"

# A Go duration (time.ParseDuration) that is not negative: 0, 10s, 1h30m, 1.5h.
_DURATION = re.compile(r"^(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$")
# A host name in a listen address (DNS labels; container names may hold '_').
_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$")
# A port as Go reads it in a listen address: decimal digits (ASCII only).
_PORT = re.compile(r"^[0-9]+$")
# Keys outside the schema (only in a file written by hand) that are masked by name.
_SECRET_NAME = re.compile(r"pass|secret|token|credential|apikey|licensekey|accountkey|private_key", re.I)


class ConfigError(Exception):
    """The options cannot make a working configuration; `errors` says why, one line each."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


# --- Pruning and normalising -------------------------------------------------


def _prune(value, key: Key | None):
    """Drop the keys Ansible filled with None (options not given), keep everything given."""
    if isinstance(value, dict):
        options = key.options if key is not None else None
        out = {}
        for name, item in value.items():
            if item is None:
                continue
            sub = options.get(name) if options else None
            out[name] = _prune(item, sub)
        return out
    if isinstance(value, list) and key is not None and key.options:
        element = Key("dict", "", options=key.options)
        return [_prune(item, element) for item in value]
    return value


def _sorted_deep(value):
    if isinstance(value, dict):
        return {str(k): _sorted_deep(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_deep(v) for v in value]
    return value


def _ordered(value, key: Key | None):
    """The value with its keys in schema order (free-form maps sorted), lists as given."""
    if key is None:
        return _sorted_deep(value)
    if key.kind == "headers" and isinstance(value, dict):
        return {str(k): [v] if isinstance(v, str) else v for k, v in sorted(value.items(), key=lambda i: str(i[0]))}
    if isinstance(value, dict):
        if key.options is None:
            return _sorted_deep(value)
        out = {name: _ordered(value[name], sub) for name, sub in key.options.items() if name in value}
        # Unknown keys never get here (check() refuses them), but stay deterministic if they do.
        out.update({k: _sorted_deep(value[k]) for k in sorted(value) if k not in key.options})
        return out
    if isinstance(value, list) and key.options:
        element = Key("dict", "", options=key.options)
        return [_ordered(item, element) for item in value]
    return value


# --- Checking -----------------------------------------------------------------


def _hint(version: str) -> str:
    other = "3" if version == "2.8" else "2.8"
    return f"remove it, or set registry_version: '{other}' if the registry is {other}"


def _check_scalar(value, key: Key, path: str, version: str, errors: list[str]) -> None:
    choices = key.choices_for(version)
    values = value if isinstance(value, list) else [value]
    if choices:
        for item in values:
            if item not in choices:
                errors.append(f"{path}: {item!r} is not known to registry {version}; use one of {', '.join(choices)}")
    for item in values:
        if key.kind == "duration" and not (isinstance(item, str) and _DURATION.match(item)):
            errors.append(f"{path}: {item!r} is not a duration; write it as the registry does, e.g. 500ms, 10s, 168h")
        elif key.kind == "path" and not (isinstance(item, str) and item.startswith("/")):
            errors.append(
                f"{path}: {item!r} is not an absolute path; give the path inside the registry's container, "
                "the registry would resolve a relative one against its working directory"
            )
        elif key.kind == "url" and not _is_http_url(item):
            errors.append(f"{path}: {item!r} is not an absolute http(s) URL; write it with its scheme and host")


def _is_http_url(value) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _check_headers(value, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"{path}: must be a map of header name to a list of values")
        return
    for name, values in value.items():
        items = [values] if isinstance(values, str) else values
        if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
            errors.append(f"{path}.{name}: must be a string or a non-empty list of strings")


def _check_tree(value, key: Key, path: str, version: str, errors: list[str]) -> None:
    """Unknown keys, keys the version lacks, choices and value forms, everywhere under `path`."""
    if key.only and key.only != version:
        errors.append(f"{path}: registry {version} does not have it: {key.why}; {_hint(version)}")
    elif key.type == "dict":
        _check_dict(value, key, path, version, errors)
    elif key.type == "list" and key.options:
        _check_dict_list(value, key, path, version, errors)
    elif key.type == "list" and not isinstance(value, list):
        errors.append(f"{path}: must be a list")
    else:
        _check_scalar(value, key, path, version, errors)


def _check_dict(value, key: Key, path: str, version: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"{path}: must be a dict")
    elif key.kind == "headers":
        _check_headers(value, path, errors)
    elif key.kind == "empty":
        if value:
            errors.append(f"{path}: takes no parameters, found {', '.join(sorted(map(str, value)))}; write it as {{}}")
    elif key.options is not None:
        _check_keys(value, key.options, path, version, errors)


def _check_dict_list(value, key: Key, path: str, version: str, errors: list[str]) -> None:
    if not isinstance(value, list):
        errors.append(f"{path}: must be a list")
        return
    for index, item in enumerate(value):
        if isinstance(item, dict):
            _check_keys(item, key.options, f"{path}[{index}]", version, errors)
        else:
            errors.append(f"{path}[{index}]: must be a dict")


def _check_keys(value: dict, options: dict, path: str, version: str, errors: list[str]) -> None:
    for name, item in value.items():
        sub = options.get(name)
        where = f"{path}.{name}" if path else str(name)
        if sub is None:
            known = [k for k, v in options.items() if v.only in (None, version)]
            errors.append(f"{where}: unknown key (registry {version} knows {', '.join(known)})")
            continue
        _check_tree(item, sub, where, version, errors)


def _get(config: dict, dotted: str):
    value = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _missing(section: dict, names: list[str]) -> list[str]:
    return [n for n in names if section.get(n) in (None, "", [])]


def _check_storage(config: dict, version: str, replicas: int, errors: list[str], warnings: list[str]) -> None:
    storage = config["storage"]
    drivers = [d for d in DRIVER_NAMES if d in storage]
    if len(drivers) > 1:
        errors.append(f"storage: {' and '.join(drivers)} are all given; the registry takes exactly one storage driver")
        return
    driver = drivers[0]
    params = storage[driver]
    required = {
        "s3": ["region", "bucket"],
        "azure": ["accountname", "container"] + (["accountkey"] if version == "2.8" else []),
        "gcs": ["bucket"],
        "swift": ["authurl", "username", "password", "container"],
        "oss": ["accesskeyid", "accesskeysecret", "region", "bucket"],
    }.get(driver, [])
    for name in _missing(params, required):
        errors.append(f"storage.{driver}.{name}: required by the {driver} driver")
    if driver == "s3" and ("accesskey" in params) != ("secretkey" in params):
        errors.append(
            "storage.s3.accesskey, storage.s3.secretkey: give both, or neither to use the instance's credentials"
        )
    if driver == "azure" and version == "3":
        _check_azure_credentials(params, errors)
    if driver == "gcs" and "keyfile" in params and "credentials" in params:
        errors.append("storage.gcs.keyfile, storage.gcs.credentials: give one; the driver would ignore credentials")
    if driver == "filesystem" and params.get("maxthreads") is not None and params["maxthreads"] < 25:
        errors.append("storage.filesystem.maxthreads: must be at least 25 (the registry silently raises it to 25)")
    if driver == "inmemory" and replicas > 1:
        errors.append(
            f"storage.inmemory: each of the {replicas} replicas would keep its own content in memory; "
            "use a shared driver (s3, azure, gcs, or filesystem on a shared volume)"
        )

    cache = storage.get("cache", {})
    if cache.get("blobdescriptor") == "redis":
        redis = config.get("redis", {})
        if not (redis.get("addr") or redis.get("addrs")):
            errors.append(
                "storage.cache.blobdescriptor: redis needs the redis section "
                f"({'redis.addr' if version == '2.8' else 'redis.addrs'}); the registry would not start"
            )
    if "blobdescriptorsize" in cache and cache.get("blobdescriptor") != "inmemory":
        errors.append("storage.cache.blobdescriptorsize: only applies with storage.cache.blobdescriptor: inmemory")
    if cache.get("blobdescriptor") == "inmemory" and replicas > 1:
        warnings.append(
            f"storage.cache.blobdescriptor: inmemory is not shared between the {replicas} replicas; "
            "each keeps its own cache (use redis to share one)"
        )


def _check_azure_credentials(params: dict, errors: list[str]) -> None:
    credentials = params.get("credentials") or {}
    kind = credentials.get("type")
    if not kind:
        errors.append(
            "storage.azure.credentials.type: required by registry 3.x "
            "(shared_key with storage.azure.accountkey, client_secret, or default_credentials)"
        )
    elif kind == "shared_key" and not params.get("accountkey"):
        errors.append("storage.azure.accountkey: required with storage.azure.credentials.type: shared_key")
    elif kind == "client_secret":
        for name in _missing(credentials, ["clientid", "tenantid", "secret"]):
            errors.append(
                f"storage.azure.credentials.{name}: required with storage.azure.credentials.type: client_secret"
            )


def _check_http(config: dict, version: str, replicas: int, errors: list[str]) -> None:
    http = config["http"]
    if replicas > 1 and not http.get("secret"):
        errors.append(
            f"http.secret: required with replicas: {replicas}; every replica needs the same secret, "
            "or uploads that move between replicas fail"
        )
    if http.get("host") and http.get("relativeurls"):
        errors.append("http.host, http.relativeurls: with http.host set the registry ignores relativeurls; give one")
    tls = http.get("tls")
    if tls is not None:
        has_cert = "certificate" in tls or "key" in tls
        if has_cert and _missing(tls, ["certificate", "key"]):
            errors.append("http.tls.certificate, http.tls.key: give both")
        if not has_cert and not tls.get("letsencrypt"):
            given = ", ".join(f"http.tls.{k}" for k in tls)
            errors.append(
                f"{given or 'http.tls'}: needs http.tls.certificate and http.tls.key (or http.tls.letsencrypt)"
            )
        letsencrypt = tls.get("letsencrypt")
        if letsencrypt is not None and not has_cert and not letsencrypt.get("cachefile"):
            errors.append("http.tls.letsencrypt.cachefile: required to use Let's Encrypt")
    prometheus = _get(http, "debug.prometheus") or {}
    if prometheus.get("enabled") and not _get(http, "debug.addr"):
        errors.append("http.debug.prometheus.enabled: metrics are served on the debug server; set http.debug.addr")
    problem = _listen_addr_problem(http.get("addr"), http.get("net") == "unix")
    if problem:
        errors.append(f"http.addr: {problem}")


def _listen_addr_problem(addr, unix: bool) -> str | None:
    """Why the registry would refuse `addr` at start, or listen where nobody expects (None: fine).

    The registry listens with Go's net.Listen(net, addr): on tcp a host:port (IPv6 in brackets),
    with http.net: unix the path of a socket.
    """
    addr = None if addr is None else str(addr)
    if unix:
        return _socket_path_problem(addr)
    if addr.startswith("/"):
        return (
            f"{addr!r} is a socket path, which needs http.net: unix; set it, or give host:port such as {DEFAULT_ADDR}"
        )
    host, port, problem = _split_host_port(addr)
    return problem or _host_problem(addr, host) or _port_problem(addr, host, port)


def _socket_path_problem(addr: str | None) -> str | None:
    where = f"the socket's path inside the registry's container, e.g. {SOCKET_EXAMPLE}"
    if not addr:
        return f"required with http.net: unix; give {where}"
    if not addr.startswith("/"):
        return f"{addr!r} is not an absolute path; with http.net: unix give {where}"
    return None


def _split_host_port(addr: str) -> tuple[str, str, str | None]:
    """(host, port, None) as Go's net.SplitHostPort splits `addr`, or ("", "", why it cannot)."""
    no_port = f"{addr!r} has no port; write host:port, e.g. {addr}:5000 (or {DEFAULT_ADDR} for every address)"
    if addr.startswith("["):
        inside, bracket, rest = addr[1:].partition("]")
        if not bracket:
            return "", "", f"{addr!r} has '[' without ']'; write an IPv6 address in brackets, e.g. [::]:5000"
        if rest == "":
            return "", "", no_port
        if not rest.startswith(":"):
            return "", "", f"{addr!r} has {rest!r} after ']'; write [{inside}]:5000"
        return f"[{inside}]", rest[1:], None
    if ":" not in addr:
        if _PORT.match(addr):
            return "", "", f"{addr!r} has no ':' before its port; write :{addr} (every address) or host:{addr}"
        return "", "", no_port
    host, port = addr.rsplit(":", 1)
    if ":" in host:
        return "", "", f"{addr!r} is an IPv6 address without brackets; write it as [{host}]:{port}"
    return host, port, None


def _host_problem(addr: str, host: str) -> str | None:
    if host.startswith("["):
        inside = host[1:-1]
        try:
            ipaddress.ip_address(inside.split("%", 1)[0])
        except ValueError:
            return f"{addr!r} has {inside!r} in brackets, which are for an IPv6 address only; write {inside}:5000"
    elif host and not _HOST_NAME.match(host):
        return (
            f"{addr!r} has host {host!r}, which is not a host name or an IP address; "
            "e.g. :5000, 0.0.0.0:5000 or [::]:5000"
        )
    return None


def _port_problem(addr: str, host: str, port: str) -> str | None:
    fix = f"give a port from 1 to 65535, e.g. {host}:5000"
    if port == "":
        return f"{addr!r} has no port after the ':', so the registry would listen on a random port; {fix}"
    if not _PORT.match(port):
        return f"{addr!r} has port {port!r}, not a number; {fix}"
    if int(port) == 0:
        return f"{addr!r} has port 0, so the registry would listen on a random port; {fix}"
    if int(port) > 65535:
        return f"{addr!r} has port {int(port)}; {fix}"
    return None


def _check_auth(config: dict, version: str, errors: list[str]) -> None:
    auth = config.get("auth")
    if not auth:
        return
    if len(auth) > 1:
        errors.append(f"auth: {' and '.join(auth)} are both given; the registry takes one provider")
        return
    if "htpasswd" in auth:
        for name in _missing(auth["htpasswd"], ["realm", "path"]):
            errors.append(f"auth.htpasswd.{name}: required by htpasswd authentication")
    if "token" in auth:
        token = auth["token"]
        for name in _missing(token, ["realm", "service", "issuer"]):
            errors.append(f"auth.token.{name}: required by token authentication")
        if version == "2.8" and not token.get("rootcertbundle"):
            errors.append(
                "auth.token.rootcertbundle: required by token authentication (the token signing certificates)"
            )
        if version == "3" and not (token.get("rootcertbundle") or token.get("jwks")):
            errors.append("auth.token.rootcertbundle: required by token authentication (or auth.token.jwks on 3.x)")
        if token.get("autoredirectpath") and not token.get("autoredirect"):
            errors.append("auth.token.autoredirectpath: only used with auth.token.autoredirect: true")


def _check_notifications(config: dict, errors: list[str]) -> None:
    endpoints = _get(config, "notifications.endpoints") or []
    seen: set = set()
    for index, endpoint in enumerate(endpoints):
        for name in _missing(endpoint, ["name", "url"]):
            errors.append(f"notifications.endpoints[{index}].{name}: required for every endpoint")
        name = endpoint.get("name")
        if name in seen:
            errors.append(f"notifications.endpoints[{index}].name: {name!r} is used twice; names must be unique")
        seen.add(name)


def _check_redis(config: dict, version: str, errors: list[str]) -> None:
    redis = config.get("redis")
    if redis is None:
        return
    if version == "2.8" and not redis.get("addr"):
        errors.append("redis.addr: required when the redis section is given (without it registry 2.8 ignores redis)")
    if version == "3" and not redis.get("addrs"):
        errors.append("redis.addrs: required when the redis section is given (a list of host:port)")
    tls = redis.get("tls") or {}
    if ("certificate" in tls) != ("key" in tls):
        errors.append("redis.tls.certificate, redis.tls.key: give both")


def _check_health(config: dict, errors: list[str]) -> None:
    health = config.get("health") or {}
    for kind, field in (("file", "file"), ("http", "uri"), ("tcp", "addr")):
        for index, check in enumerate(health.get(kind, [])):
            if not check.get(field):
                errors.append(f"health.{kind}[{index}].{field}: required for every {kind} check")


def _check_proxy(config: dict, errors: list[str], warnings: list[str]) -> None:
    proxy = config.get("proxy")
    if proxy is None:
        return
    if not proxy.get("remoteurl"):
        errors.append("proxy.remoteurl: required; without it the registry is not a proxy and ignores the section")
    if ("username" in proxy) != ("password" in proxy):
        errors.append("proxy.username, proxy.password: give both, or neither for anonymous pulls")
    if "exec" in proxy and ("username" in proxy or "password" in proxy):
        errors.append("proxy.exec, proxy.username: give one; the registry uses exec and ignores the user")
    if "exec" in proxy and not proxy["exec"].get("command"):
        errors.append("proxy.exec.command: required with proxy.exec")
    if _get(config, "storage.delete.enabled"):
        errors.append(
            "proxy, storage.delete.enabled: a pull-through cache refuses every DELETE (unsupported), "
            "so delete cannot be served; leave storage.delete out (the cache expires content itself)"
        )
    if _get(config, "storage.maintenance.readonly.enabled"):
        warnings.append(
            "proxy with storage.maintenance.readonly.enabled: a pull-through cache refuses pushes anyway; "
            "readonly changes nothing here"
        )


def _check_validation(config: dict, errors: list[str]) -> None:
    indexes = _get(config, "validation.manifests.indexes") or {}
    if indexes.get("platforms") == "list" and not indexes.get("platformlist"):
        errors.append("validation.manifests.indexes.platformlist: required with platforms: list")
    if indexes.get("platformlist") and indexes.get("platforms") != "list":
        errors.append("validation.manifests.indexes.platformlist: only used with platforms: list")


def check(config: dict, version: str, replicas: int) -> tuple[list[str], list[str]]:
    """Every problem of a (pruned, defaulted) configuration, and warnings: (errors, warnings)."""
    errors: list[str] = []
    warnings: list[str] = []
    if version not in VERSIONS:
        return [f"registry_version: {version!r} is not known; use one of {', '.join(VERSIONS)}"], warnings
    if not isinstance(replicas, int) or replicas < 1:
        return [f"replicas: {replicas!r} must be 1 or more"], warnings
    body = {k: v for k, v in config.items() if k != "version"}
    _check_keys(body, SECTIONS, "", version, errors)
    if errors:
        # The cross-field rules assume known keys of the right shape.
        return errors, warnings
    _check_storage(config, version, replicas, errors, warnings)
    _check_http(config, version, replicas, errors)
    _check_auth(config, version, errors)
    _check_notifications(config, errors)
    _check_redis(config, version, errors)
    _check_health(config, errors)
    _check_proxy(config, errors, warnings)
    _check_validation(config, errors)
    return errors, warnings


# --- Building -------------------------------------------------------------------


def build(sections: dict) -> dict:
    """The configuration from the module's section options: given keys only, plus what a usable file needs.

    `version: 0.1` always; `storage.filesystem.rootdirectory: /var/lib/registry`
    when no storage driver is given; `http.addr: :5000` when no address is
    (on tcp: a unix socket has no default path).
    """
    config: dict = {"version": CONFIG_VERSION}
    for name, key in SECTIONS.items():
        value = sections.get(name)
        if value is None:
            continue
        config[name] = _prune(value, key)
    for name, value in sections.items():
        if name not in SECTIONS and value is not None:
            config[name] = value  # refused by check(), kept so that it can say so
    storage = config.setdefault("storage", {})
    if isinstance(storage, dict) and not any(d in storage for d in DRIVER_NAMES):
        storage["filesystem"] = {"rootdirectory": DEFAULT_ROOTDIRECTORY}
    http = config.setdefault("http", {})
    if isinstance(http, dict) and not http.get("addr") and http.get("net") != "unix":
        http["addr"] = DEFAULT_ADDR
    ordered = {"version": CONFIG_VERSION}
    for name, key in SECTIONS.items():
        if name in config:
            ordered[name] = _ordered(config[name], key)
    for name, value in config.items():
        if name not in ordered:
            ordered[name] = value
    return ordered


def prepare(sections: dict, version: str, replicas: int) -> tuple[dict, list[str]]:
    """(configuration, warnings) for the options, or ConfigError naming every problem."""
    config = build(sections)
    errors, warnings = check(config, version, replicas)
    if errors:
        raise ConfigError(errors)
    return config, warnings


# --- Masking and rendering ------------------------------------------------------


# Stands for "nothing to compare with": no file before, or no such key in it.
_ABSENT = object()


def _child(before, name):
    """The value at `name` (a key or a list index) of `before`, or _ABSENT."""
    if isinstance(before, dict):
        return before.get(name, _ABSENT)
    if isinstance(before, list) and isinstance(name, int) and name < len(before):
        return before[name]
    return _ABSENT


def _mask_all(value, before=_ABSENT):
    """Every value under `value` masked; MASK_CHANGED where `before` holds another value at the same place."""
    if isinstance(value, dict):
        return {k: _mask_all(v, _child(before, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v, _child(before, i)) for i, v in enumerate(value)]
    return MASK if before is _ABSENT or before == value else MASK_CHANGED


def _mask_unknown(value, name):
    """Keys outside the schema (only in a file written by hand): masked when their name looks secret."""
    if _SECRET_NAME.search(str(name)):
        return _mask_all(value)
    if isinstance(value, dict):
        return {k: _mask_unknown(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_unknown(v, name) for v in value]
    return value


def _mask(value, key: Key | None, name: str, before=_ABSENT):
    if key is None:
        masked = _mask_unknown(value, name)
    elif key.secret:
        masked = _mask_all(value, before)
    elif isinstance(value, dict) and key.type == "dict":
        options = key.options or {}
        masked = {k: _mask(v, options.get(k), k, _child(before, k)) for k, v in value.items()}
    elif isinstance(value, list) and key.options:
        element = Key("dict", "", options=key.options)
        masked = [_mask(v, element, name, _child(before, i)) for i, v in enumerate(value)]
    else:
        masked = value
    return masked


def mask(config: dict, before: dict | None = None) -> dict:
    """A copy of `config` with every secret replaced by ********.

    With `before` (the configuration the file holds now), a secret whose value differs from
    the one at the same place in `before` reads ******** (changed) instead: the diff then shows
    that it changed, and never what it was or is.
    """
    return _mask(config, Key("dict", "", options=SECTIONS), "", _ABSENT if before is None else before)


def _dumper():
    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    return Dumper


def render(config: dict) -> str:
    """Deterministic YAML: keys in the order of `config`, no anchors, no line folding."""
    body = yaml.dump(
        config, Dumper=_dumper(), sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )
    return HEADER + body


def _parsed(content: bytes | None) -> dict | None:
    """The existing file as a mapping, or None (no file, not YAML, or not a mapping)."""
    if content is None:
        return None
    try:
        parsed = yaml.safe_load(content)
    except yaml.YAMLError:
        return None
    return parsed if isinstance(parsed, dict) else None


def masked_text(content: bytes | None) -> str:
    """An existing file as the diff shows it: parsed, secrets masked, rendered like a new one."""
    if content is None:
        return ""
    parsed = _parsed(content)
    if parsed is None:
        return "# (the existing file is not a YAML mapping; not shown, it may hold secrets)\n"
    return render(mask(parsed))


def diff(content: bytes | None, config: dict) -> tuple[str, str]:
    """The diff's texts (before, after) of replacing the file's `content` by `config`.

    Both mask every secret; after marks a secret that changed as ******** (changed), so a
    change of a secret alone is a visible change, with no value shown.
    """
    return masked_text(content), render(mask(config, _parsed(content)))

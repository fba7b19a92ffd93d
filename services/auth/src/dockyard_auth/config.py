# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The server's configuration: one YAML file, validated at start-up.

Every problem is reported with the key's dotted path and what to write
instead, all at once, before the server starts. Secrets are never written in
the file itself: the file names the files that hold them (mounted 0600/0640),
so the configuration can be shown and logged safely.

Only the server's behaviour is configured here. Users, teams, namespaces and
robots live in the database and are managed through the API; the file only
names the first admin (``bootstrap_admin``), created when no admin exists.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dockyard_auth.permissions import DeletePolicy, Policy, PushPolicy

DEFAULT_PATH = "/etc/dockyard-auth/config.yml"
KID_FORMATS = ("libtrust", "thumbprint")
METRICS_ALLOW_DEFAULT = ("127.0.0.0/8", "::1/128")
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(Exception):
    """The configuration is invalid; the message lists every problem."""


@dataclass(frozen=True)
class Backoff:
    threshold: int = 5  # failures before a delay starts
    max_delay: int = 300  # seconds, per client address
    account_max_delay: int = 10  # seconds, per account: short, so nobody can lock a robot out
    forget_after: int = 900  # seconds without a failure before a count starts again
    known_address_ttl: int = 2592000  # seconds an address an account logged in from stays exempt from its back-off


@dataclass(frozen=True)
class Config:
    service: str
    database_url: str
    signing_key: Path
    signing_cert: Path
    issuer: str = "dockyard-auth"
    token_ttl: int = 300
    kid_format: str = "libtrust"
    database_password_file: Path | None = None
    database_pool_size: int = 5
    database_ca_file: Path | None = None  # set: TLS to MariaDB, its certificate verified against this CA
    policy: Policy = field(default_factory=Policy)
    notifications_enabled: bool = True
    notifications_secret_file: Path | None = None
    notifications_record_pulls: bool = False
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    metrics_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
        ipaddress.ip_network(net) for net in METRICS_ALLOW_DEFAULT
    )
    metrics_token_file: Path | None = None
    credential_cache_ttl: int = 60
    max_request_bytes: int = 1024 * 1024
    backoff: Backoff = field(default_factory=Backoff)
    bcrypt_rounds: int = 10
    registry_url: str | None = None
    registry_ca_file: Path | None = None
    sync_interval: int = 0
    bootstrap_admin_name: str | None = None
    bootstrap_admin_password_file: Path | None = None
    listen: str = "0.0.0.0:5001"
    workers: int = 2
    log_level: str = "info"

    def database_password(self) -> str | None:
        return _read_secret(self.database_password_file) if self.database_password_file else None

    def notifications_secret(self) -> str | None:
        return _read_secret(self.notifications_secret_file) if self.notifications_secret_file else None

    def bootstrap_admin_password(self) -> str | None:
        return _read_secret(self.bootstrap_admin_password_file) if self.bootstrap_admin_password_file else None

    def metrics_token(self) -> str | None:
        return _read_secret(self.metrics_token_file) if self.metrics_token_file else None


def startup_warnings(config: Config) -> list[str]:
    """What a valid configuration still gets wrong for most deployments; logged by ``serve`` and ``check-config``."""
    warnings = []
    if not config.trusted_proxies:
        warnings.append(
            "security.trusted_proxies is empty: X-Forwarded-For is ignored, so behind a proxy every client has "
            "the proxy's address for the back-off; list the proxy's address (GET /healthz names a proxy that "
            "sends the header but is not listed)"
        )
    return warnings


def _read_secret(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the secret file {path}: {exc.strerror}") from exc
    if not value:
        raise ConfigError(f"the secret file {path} is empty")
    return value


class _Reader:
    """Takes typed values out of the parsed YAML, collecting every problem."""

    def __init__(self, data: dict) -> None:
        self.data = data
        self.problems: list[str] = []
        self.seen: set[str] = set()

    def _raw(self, key: str) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def get(self, key: str, kind: type, default: Any = None, *, required: bool = False, hint: str = "") -> Any:
        self.seen.add(key)
        value = self._raw(key)
        if value is None:
            if required:
                self.problems.append(f"{key}: missing; {hint}".rstrip("; "))
            return default
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.problems.append(f"{key}: {value!r} is not a whole number")
            return default
        if kind is bool and not isinstance(value, bool):
            self.problems.append(f"{key}: {value!r} is not true or false")
            return default
        if kind is str and not isinstance(value, str):
            self.problems.append(f"{key}: {value!r} is not a string")
            return default
        if kind is list and not isinstance(value, list):
            self.problems.append(f"{key}: {value!r} is not a list")
            return default
        return value

    def choice(self, key: str, choices, default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            self.problems.append(f"{key}: {value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def number(self, key: str, default: int, low: int, high: int, unit: str = "") -> int:
        value = self.get(key, int, default)
        if not low <= value <= high:
            self.problems.append(f"{key}: {value} is out of range; use {low} to {high}{unit}")
            return default
        return value

    def path(self, key: str, *, required: bool = False, hint: str = "") -> Path | None:
        value = self.get(key, str, None, required=required, hint=hint)
        if value is None:
            return None
        if not os.path.isabs(value):
            self.problems.append(f"{key}: {value!r} is not an absolute path")
        return Path(value)

    def unknown_keys(self) -> list[str]:
        known_sections = {k.split(".")[0] for k in self.seen if "." in k}
        found = []
        for key, value in self.data.items():
            if key in known_sections and isinstance(value, dict):
                found += [f"{key}.{sub}" for sub in value if f"{key}.{sub}" not in self.seen]
            elif key not in self.seen and key not in known_sections:
                found.append(key)
        return found


def _networks(r: _Reader, key: str, default: list) -> list:
    networks = []
    for item in r.get(key, list, default):
        try:
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            r.problems.append(f"{key}: {item!r} is not an address or network (CIDR)")
    return networks


def parse(data: Any) -> Config:
    """A validated Config from parsed YAML; ConfigError lists every problem."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping of keys (see the README for an example)")
    r = _Reader(data)
    service = r.get("service", str, "", required=True, hint="set it to the registry's auth.token.service")
    issuer = r.get("issuer", str, "dockyard-auth")
    ttl = r.number("token.ttl", 300, 60, 3600, " seconds (clients raise anything below 60 to 60)")
    signing_key = r.path("token.signing_key", required=True, hint="the token-signing key from registry_pki")
    signing_cert = r.path("token.signing_cert", required=True, hint="the token-signing certificate from registry_pki")
    kid_format = r.choice("token.kid_format", KID_FORMATS, "libtrust")
    database_url = r.get("database.url", str, "", required=True, hint="e.g. mysql+pymysql://dockyard@db:3306/dockyard")
    if database_url and not database_url.startswith(("mysql+pymysql://", "mariadb+pymysql://")):
        r.problems.append("database.url: use a mysql+pymysql:// URL (MariaDB through PyMySQL)")
    if database_url and "@" in database_url and ":" in database_url.split("://", 1)[1].split("@", 1)[0]:
        r.problems.append("database.url: holds a password; put it in the file named by database.password_file")
    database_password_file = r.path("database.password_file")
    pool_size = r.number("database.pool_size", 5, 1, 100)
    database_ca_file = r.path("database.ca_file")
    push = r.choice("policy.push", [p.value for p in PushPolicy], PushPolicy.ALLOW_TEAMS.value)
    delete = r.choice("policy.delete", [p.value for p in DeletePolicy], DeletePolicy.OWNERS.value)
    notifications_enabled = r.get("notifications.enabled", bool, True)
    notifications_secret_file = r.path("notifications.secret_file")
    if notifications_enabled and notifications_secret_file is None:
        r.problems.append(
            "notifications.secret_file: missing; the registry's notifications must carry a shared secret "
            "(or set notifications.enabled: false)"
        )
    record_pulls = r.get("notifications.record_pulls", bool, False)
    proxies = _networks(r, "security.trusted_proxies", [])
    metrics_allow = _networks(r, "metrics.allow", list(METRICS_ALLOW_DEFAULT))
    metrics_token_file = r.path("metrics.token_file")
    cache_ttl = r.number("security.credential_cache_ttl", 60, 0, 3600, " seconds (0 turns the cache off)")
    max_bytes = r.number("security.max_request_bytes", 1024 * 1024, 1024, 64 * 1024 * 1024, " bytes")
    backoff = Backoff(
        threshold=r.number("security.backoff.threshold", 5, 1, 1000),
        max_delay=r.number("security.backoff.max_delay", 300, 0, 86400, " seconds"),
        account_max_delay=r.number("security.backoff.account_max_delay", 10, 0, 60, " seconds"),
        forget_after=r.number("security.backoff.forget_after", 900, 1, 7 * 86400, " seconds"),
        known_address_ttl=r.number(
            "security.backoff.known_address_ttl", 2592000, 0, 365 * 86400, " seconds (0: no address is exempt)"
        ),
    )
    if backoff.forget_after < backoff.max_delay:
        r.problems.append(
            f"security.backoff.forget_after: {backoff.forget_after} is shorter than security.backoff.max_delay "
            f"({backoff.max_delay}); a count must outlive the longest wait, so raise forget_after"
        )
    r.seen.add("security.backoff")
    rounds = r.number("security.bcrypt_rounds", 10, 4, 16)
    registry_url = r.get("registry.url", str, None)
    if registry_url and not (
        registry_url.startswith(("http://", "https://")) or re.fullmatch(r"unix:/[^\0]*[^/\0]", registry_url)
    ):
        r.problems.append(
            f"registry.url: {registry_url!r} must start with http:// or https://, or be unix:/absolute/path of the "
            "registry's socket"
        )
    registry_ca_file = r.path("registry.ca_file")
    sync_interval = r.number("registry.sync_interval", 0, 0, 7 * 86400, " seconds (0: no periodic sync)")
    if sync_interval and not registry_url:
        r.problems.append("registry.sync_interval: set registry.url too, so the sync knows where the registry is")
    admin_name = r.get("bootstrap_admin.name", str, None)
    admin_password_file = r.path("bootstrap_admin.password_file")
    if bool(admin_name) != bool(admin_password_file):
        r.problems.append("bootstrap_admin: set both name and password_file, or neither")
    listen = r.get("listen", str, "0.0.0.0:5001")
    if ":" not in listen:
        r.problems.append(f"listen: {listen!r} must be host:port")
    workers = r.number("workers", 2, 1, 64)
    log_level = r.choice("log_level", LOG_LEVELS, "info")
    r.problems += [f"{key}: unknown key; check its spelling against the README" for key in r.unknown_keys()]
    if r.problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(r.problems))
    return Config(
        service=service,
        issuer=issuer,
        token_ttl=ttl,
        signing_key=signing_key,
        signing_cert=signing_cert,
        kid_format=kid_format,
        database_url=database_url,
        database_password_file=database_password_file,
        database_pool_size=pool_size,
        database_ca_file=database_ca_file,
        policy=Policy(push=PushPolicy(push), delete=DeletePolicy(delete)),
        notifications_enabled=notifications_enabled,
        notifications_secret_file=notifications_secret_file,
        notifications_record_pulls=record_pulls,
        trusted_proxies=tuple(proxies),
        metrics_allow=tuple(metrics_allow),
        metrics_token_file=metrics_token_file,
        credential_cache_ttl=cache_ttl,
        max_request_bytes=max_bytes,
        backoff=backoff,
        bcrypt_rounds=rounds,
        registry_url=registry_url,
        registry_ca_file=registry_ca_file,
        sync_interval=sync_interval,
        bootstrap_admin_name=admin_name,
        bootstrap_admin_password_file=admin_password_file,
        listen=listen,
        workers=workers,
        log_level=log_level,
    )


def load(path: str | os.PathLike | None = None) -> Config:
    """Read and validate the file named by ``path``, ``$DOCKYARD_AUTH_CONFIG`` or the default path."""
    path = Path(path or os.environ.get("DOCKYARD_AUTH_CONFIG") or DEFAULT_PATH)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    return parse(data)

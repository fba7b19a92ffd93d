# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The configuration is checked at start-up: every problem named by its key, with the fix."""

from __future__ import annotations

import ipaddress

import pytest

from dockyard_auth.config import ConfigError, load, parse, startup_warnings
from dockyard_auth.permissions import DeletePolicy, PushPolicy

VALID = {
    "service": "registry.example.com",
    "token": {"signing_key": "/etc/dockyard-auth/k.key", "signing_cert": "/etc/dockyard-auth/k.crt"},
    "database": {"url": "mysql+pymysql://dockyard@db:3306/dockyard", "password_file": "/run/secrets/db"},
    "notifications": {"secret_file": "/run/secrets/events"},
}


def with_changes(**sections) -> dict:
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in VALID.items()}
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return data


def test_defaults():
    config = parse(VALID)
    assert (config.issuer, config.token_ttl, config.kid_format) == ("dockyard-auth", 300, "libtrust")
    assert (config.policy.push, config.policy.delete) == (PushPolicy.ALLOW_TEAMS, DeletePolicy.OWNERS)
    assert (config.credential_cache_ttl, config.bcrypt_rounds, config.workers) == (60, 10, 2)
    backoff = config.backoff
    assert (backoff.threshold, backoff.max_delay, backoff.account_max_delay) == (5, 300, 10)
    assert (backoff.forget_after, backoff.known_address_ttl) == (900, 30 * 86400)


def test_back_off_settings_are_read():
    backoff = parse(
        with_changes(security={"backoff": {"forget_after": 3600, "known_address_ttl": 0, "max_delay": 600}})
    ).backoff
    assert (backoff.forget_after, backoff.known_address_ttl, backoff.max_delay) == (3600, 0, 600)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({k: v for k, v in VALID.items() if k != "service"}, "service: missing; set it to the registry's"),
        (with_changes(token={"ttl": 30}), "token.ttl: 30 is out of range; use 60 to 3600"),
        (with_changes(token={"ttl": "300"}), "token.ttl: '300' is not a whole number"),
        (with_changes(token={"kid_format": "x5t"}), "token.kid_format: 'x5t' is not one of libtrust, thumbprint"),
        (with_changes(token={"signing_key": "k.key"}), "token.signing_key: 'k.key' is not an absolute path"),
        (with_changes(database={"url": "sqlite:///x.db"}), "database.url: use a mysql+pymysql:// URL"),
        (with_changes(database={"url": "mysql+pymysql://u:pw@db/x"}), "database.url: holds a password"),
        (with_changes(database={"ca_file": "db-ca.pem"}), "database.ca_file: 'db-ca.pem' is not an absolute path"),
        (with_changes(database={"ca_file": True}), "database.ca_file: True is not a string"),
        (with_changes(database={"cafile": "/etc/ssl/db-ca.pem"}), "database.cafile: unknown key"),
        (with_changes(database={"ssl_ca": "/etc/ssl/db-ca.pem"}), "database.ssl_ca: unknown key"),
        (with_changes(policy={"push": "everyone"}), "policy.push: 'everyone' is not one of allow-teams"),
        (with_changes(policy={"delete": "nobody"}), "policy.delete: 'nobody' is not one of owners, contributors"),
        (with_changes(notifications={"secret_file": None}), "notifications.secret_file: missing"),
        (with_changes(security={"trusted_proxies": ["10.0.0.0/33"]}), "security.trusted_proxies: '10.0.0.0/33'"),
        (with_changes(metrics={"allow": ["everyone"]}), "metrics.allow: 'everyone' is not an address or network"),
        (with_changes(metrics={"allow": "10.0.0.0/8"}), "metrics.allow: '10.0.0.0/8' is not a list"),
        (with_changes(metrics={"token_file": "token"}), "metrics.token_file: 'token' is not an absolute path"),
        (with_changes(metrics={"tokenfile": "/x"}), "metrics.tokenfile: unknown key"),
        (
            with_changes(security={"backoff": {"forget_after": 60}}),
            "security.backoff.forget_after: 60 is shorter than security.backoff.max_delay (300)",
        ),
        (
            with_changes(security={"backoff": {"known_address_ttl": -1}}),
            "security.backoff.known_address_ttl: -1 is out of range; use 0 to",
        ),
        (with_changes(security={"bcrypt_rounds": 3}), "security.bcrypt_rounds: 3 is out of range; use 4 to 16"),
        (with_changes(registry={"sync_interval": 60}), "registry.sync_interval: set registry.url too"),
        (with_changes(registry={"url": "registry:5000"}), "registry.url: 'registry:5000' must start with http"),
        (with_changes(registry={"url": "unix:run/registry.sock"}), "or be unix:/absolute/path of the registry's"),
        (with_changes(registry={"url": "unix:/run/registry/"}), "registry.url: 'unix:/run/registry/' must start"),
        (with_changes(bootstrap_admin={"name": "admin"}), "bootstrap_admin: set both name and password_file"),
        (with_changes(tokn={"ttl": 300}), "tokn: unknown key"),
        (with_changes(token={"tll": 300}), "token.tll: unknown key"),
        (with_changes(workers=0), "workers: 0 is out of range"),
        ("just a string", "the configuration must be a mapping"),
    ],
)
def test_problems_name_the_key_and_the_fix(data, message):
    with pytest.raises(ConfigError) as error:
        parse(data)
    assert message in str(error.value)


@pytest.mark.parametrize("url", ["http://registry:5000", "https://registry.example.com", "unix:/run/r/registry.sock"])
def test_the_registry_is_reached_over_http_https_or_a_socket(url):
    assert parse(with_changes(registry={"url": url})).registry_url == url


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as error:
        parse(with_changes(token={"ttl": 1, "kid_format": "x"}, workers=0))
    assert str(error.value).count("\n  ") == 3


def test_load_names_the_file(tmp_path):
    missing = tmp_path / "none.yml"
    with pytest.raises(ConfigError, match=str(missing)):
        load(missing)
    broken = tmp_path / "broken.yml"
    broken.write_text("service: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load(broken)


def test_metrics_are_for_loopback_unless_told_otherwise():
    config = parse(VALID)
    assert config.metrics_allow == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert config.metrics_token_file is None
    told = parse(with_changes(metrics={"allow": ["10.1.0.0/16"], "token_file": "/run/secrets/metrics"}))
    assert told.metrics_allow == (ipaddress.ip_network("10.1.0.0/16"),)
    assert str(told.metrics_token_file) == "/run/secrets/metrics"


def test_the_database_is_reached_with_tls_only_when_a_ca_file_is_named():
    assert parse(VALID).database_ca_file is None
    assert parse(with_changes(database={"ca_file": None})).database_ca_file is None
    config = parse(with_changes(database={"ca_file": "/etc/dockyard-auth/db-ca.pem"}))
    assert str(config.database_ca_file) == "/etc/dockyard-auth/db-ca.pem"


def test_an_empty_trusted_proxies_is_warned_about():
    [warning] = startup_warnings(parse(VALID))
    assert warning.startswith("security.trusted_proxies is empty") and "/healthz" in warning
    assert startup_warnings(parse(with_changes(security={"trusted_proxies": ["172.18.0.2"]}))) == []

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the operator sees: /healthz naming a proxy missing from trusted_proxies, /metrics kept to its readers,
the start-up warning and the bootstrap admin's password rules."""

from __future__ import annotations

import base64

import pytest
import yaml
from conftest import SERVICE

from dockyard_auth import cli
from dockyard_auth.config import ConfigError, parse

PROXY = "172.18.0.5"


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_healthz_names_a_peer_that_forwards_without_being_trusted(client):
    test_client, _server = client
    assert test_client.get("/healthz").get_json() == {"status": "ok"}
    for _ in range(3):
        test_client.get(
            "/token", query_string={"service": SERVICE},
            headers={"X-Forwarded-For": "203.0.113.9"}, environ_base={"REMOTE_ADDR": PROXY},
        )  # fmt: skip
    health = test_client.get("/healthz")
    assert health.status_code == 200
    [warning] = health.get_json()["warnings"]
    assert PROXY in warning and "security.trusted_proxies" in warning
    assert "203.0.113.9" not in warning  # the client behind it is nobody's business here


def test_a_trusted_proxy_is_not_reported(make_client, config_data):
    config_data["security"]["trusted_proxies"] = [f"{PROXY}/32"]
    test_client, _server = make_client(config_data)
    test_client.get(
        "/token", query_string={"service": SERVICE},
        headers={"X-Forwarded-For": "203.0.113.9"}, environ_base={"REMOTE_ADDR": PROXY},
    )  # fmt: skip
    assert test_client.get("/healthz").get_json() == {"status": "ok"}


def test_metrics_are_served_to_the_allowed_networks_or_with_the_token(make_client, config_data, tmp_path):
    token_file = tmp_path / "metrics-token"
    token_file.write_text("scrape-secret-for-tests\n")
    config_data["metrics"] = {"allow": ["127.0.0.0/8", "10.9.0.0/16"], "token_file": str(token_file)}
    test_client, _server = make_client(config_data)

    def scrape(address: str, headers: dict | None = None):
        return test_client.get("/metrics", headers=headers or {}, environ_base={"REMOTE_ADDR": address})

    assert scrape("127.0.0.1").status_code == 200
    assert "dockyard_auth_requests_total" in scrape("10.9.3.4").get_data(as_text=True)
    refused = scrape("198.51.100.7")
    assert refused.status_code == 403
    assert refused.get_json()["errors"][0]["code"] == "DENIED"
    assert scrape("198.51.100.7", {"Authorization": "Bearer wrong"}).status_code == 403
    assert scrape("198.51.100.7", {"Authorization": "Bearer scrape-secret-for-tests"}).status_code == 200
    # A client cannot claim an allowed address through a proxy that is not trusted.
    assert scrape("198.51.100.7", {"X-Forwarded-For": "127.0.0.1"}).status_code == 403


def test_metrics_default_to_loopback_only(client):
    test_client, _server = client
    assert test_client.get("/metrics").status_code == 200  # the test client calls from 127.0.0.1
    assert test_client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 403


@pytest.mark.parametrize(
    ("password", "fragment"),
    [("short", "has 5 characters"), ("ä" * 40, "is 80 bytes in UTF-8"), ("with\0nul-char", "NUL")],
)
def test_the_bootstrap_admin_password_follows_the_password_rules(engine, config_data, password, fragment):
    config = parse(config_data)
    with pytest.raises(ConfigError) as error:
        cli.bootstrap_admin(config, engine, "admin", password)
    assert "bootstrap_admin.password_file" in str(error.value) and fragment in str(error.value)
    assert password not in str(error.value)
    assert cli.bootstrap_admin(config, engine, "admin", "a-good-password") == "admin admin created"


def test_check_config_warns_about_an_empty_trusted_proxies(config_data, tmp_path, capsys):
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config_data))
    assert cli.main(["--config", str(path), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "warning: security.trusted_proxies is empty" in out and "configuration is valid" in out

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The token endpoint against a real MariaDB: what docker, containerd and skopeo get back."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import secrets

import jwt
import pytest
from conftest import SERVICE, seed_accounts


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def seeded(client):
    test_client, server = client
    seed_accounts(server)
    return test_client, server


def claims_of(server, body: dict) -> dict:
    return jwt.decode(
        body["token"], server.signer.certificate.public_key(), algorithms=["RS256"], audience=SERVICE,
        issuer="dockyard-auth",
    )  # fmt: skip


def access_of(server, body: dict) -> dict:
    return {(a["type"], a["name"]): a["actions"] for a in claims_of(server, body)["access"]}


def test_login_without_scope_gives_an_empty_grant(seeded):
    test_client, server = seeded
    resp = test_client.get(
        "/token", query_string={"service": SERVICE, "account": "alice", "client_id": "docker", "offline_token": "true"},
        headers=basic("alice", "alice-pw"),
    )  # fmt: skip
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["token"] == body["access_token"]
    assert "refresh_token" not in body
    assert body["expires_in"] == 300
    issued = dt.datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    assert issued.tzinfo is not None and body["issued_at"].endswith("Z")
    claims = claims_of(server, body)
    assert claims["sub"] == "alice" and claims["access"] == [] and claims["aud"] == SERVICE
    assert claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize(
    ("who", "scope", "expected"),
    [
        ("alice", "repository:web/app:pull,push", ["pull", "push"]),
        ("bob", "repository:web/app:pull,push", ["pull"]),
        ("bob", "repository:alice/app:pull", []),
        ("alice", "repository:alice/app:push,pull,delete", ["delete", "pull", "push"]),
        ("alice", "repository:pub/app:pull", ["pull"]),
        ("alice", "repository:nobody/app:pull", []),
        ("admin", "repository:anything/app:*", ["*"]),
        ("robot+ci", "repository:web/app:pull,push,delete", ["pull", "push"]),
        ("robot+ci", "repository:alice/app:pull", []),
        # The registry stores these names whole: their namespace is the host-like first component, not web.
        ("alice", "repository:localhost:5000/web/app:push", []),
        ("alice", "repository:evil.example/web/app:pull,push", []),
        ("admin", "repository:evil.example/web/app:push", ["push"]),
        ("alice", "repository(plugin):web/app:pull", ["pull"]),
    ],
)
def test_grants_are_the_intersection_of_request_and_rights(seeded, who, scope, expected):
    test_client, server = seeded
    password = {"robot+ci": "robot-secret"}.get(who, f"{who}-pw")
    resp = test_client.get("/token", query_string={"service": SERVICE, "scope": scope}, headers=basic(who, password))
    assert resp.status_code == 200, resp.get_json()
    [entry] = claims_of(server, resp.get_json())["access"]
    assert entry["type"] == "repository"
    assert entry["actions"] == expected


def test_anonymous_gets_public_pull_only(seeded):
    test_client, server = seeded
    resp = test_client.get(
        "/token",
        query_string=[("service", SERVICE), ("scope", "repository:pub/app:pull,push repository:web/app:pull")],
    )
    assert resp.status_code == 200
    assert access_of(server, resp.get_json()) == {("repository", "pub/app"): ["pull"], ("repository", "web/app"): []}
    assert claims_of(server, resp.get_json())["sub"] == ""


def test_repeated_scope_parameters_and_the_catalog(seeded):
    test_client, server = seeded
    query = [("service", SERVICE), ("scope", "registry:catalog:*"), ("scope", "repository:web/app:pull")]
    admin = access_of(
        server, test_client.get("/token", query_string=query, headers=basic("admin", "admin-pw")).get_json()
    )
    alice = access_of(
        server, test_client.get("/token", query_string=query, headers=basic("alice", "alice-pw")).get_json()
    )
    assert admin == {("registry", "catalog"): ["*"], ("repository", "web/app"): ["pull"]}
    assert alice == {("registry", "catalog"): [], ("repository", "web/app"): ["pull"]}


@pytest.mark.parametrize(
    ("user", "password"),
    [("alice", "wrong"), ("nobody", "alice-pw"), ("robot+ci", "wrong"), ("robot+none", "x"), ("alice", "p" * 73)],
)
def test_bad_credentials_get_the_same_401(seeded, user, password):
    test_client, _server = seeded
    resp = test_client.get("/token", query_string={"service": SERVICE}, headers=basic(user, password))
    assert resp.status_code == 401
    assert resp.get_json() == {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]}
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")


def test_disabled_user_and_changed_password_are_refused_at_once(seeded):
    test_client, server = seeded
    ok = test_client.get("/token", query_string={"service": SERVICE}, headers=basic("alice", "alice-pw"))
    assert ok.status_code == 200  # now cached
    server.store.update_user("alice", password_hash=server.hasher.hash("new-pw"))
    assert (
        test_client.get("/token", query_string={"service": SERVICE}, headers=basic("alice", "alice-pw")).status_code
        == 401
    )
    assert (
        test_client.get("/token", query_string={"service": SERVICE}, headers=basic("alice", "new-pw")).status_code
        == 200
    )
    server.store.update_user("alice", enabled=False)
    assert (
        test_client.get("/token", query_string={"service": SERVICE}, headers=basic("alice", "new-pw")).status_code
        == 401
    )


def test_an_expired_robot_cannot_log_in(seeded):
    test_client, server = seeded
    server.store.update_robot("ci", expires_at=dt.datetime(2020, 1, 1))
    resp = test_client.get("/token", query_string={"service": SERVICE}, headers=basic("robot+ci", "robot-secret"))
    assert resp.status_code == 401


@pytest.mark.parametrize(
    ("query", "code", "fragment"),
    [
        ({"scope": "repository:a:pull"}, "INVALID_REQUEST", "service"),
        ({"service": "other.example", "scope": "repository:a:pull"}, "INVALID_REQUEST", SERVICE),
        ({"service": SERVICE, "scope": "repository:Web/App:pull"}, "INVALID_SCOPE", "Web/App"),
        ({"service": SERVICE, "scope": "repository:a"}, "INVALID_SCOPE", "repository:a"),
        ({"service": SERVICE, "scope": "repository::pull"}, "INVALID_SCOPE", ""),
        ({"service": SERVICE, "scope": "repository:a:pull/x"}, "INVALID_SCOPE", ""),
    ],
)
def test_malformed_requests_are_400_with_a_clear_error(seeded, query, code, fragment):
    test_client, _server = seeded
    resp = test_client.get("/token", query_string=query)
    assert resp.status_code == 400
    [error] = resp.get_json()["errors"]
    assert error["code"] == code and fragment in error["message"]


def test_a_bearer_header_is_not_credentials(seeded):
    test_client, _server = seeded
    resp = test_client.get("/token", query_string={"service": SERVICE}, headers={"Authorization": "Bearer abc"})
    assert resp.status_code == 400


def test_oauth2_password_grant_like_containerd(seeded):
    test_client, server = seeded
    resp = test_client.post(
        "/token",
        data={
            "grant_type": "password", "username": "alice", "password": "alice-pw", "service": SERVICE,
            "client_id": "containerd-client", "scope": "repository:web/app:pull,push repository:bob/x:pull",
            "access_type": "offline",
        },
    )  # fmt: skip
    assert resp.status_code == 200
    body = resp.get_json()
    assert "refresh_token" not in body
    assert body["scope"] == "repository:web/app:pull,push"
    assert access_of(server, body) == {("repository", "web/app"): ["pull", "push"], ("repository", "bob/x"): []}


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "refresh_token", "refresh_token": "x"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "alice"}, 400, "invalid_request"),
        ({"grant_type": "password", "username": "alice", "password": "bad"}, 401, "invalid_grant"),
        (
            {"grant_type": "password", "username": "alice", "password": "alice-pw", "scope": "nonsense"},
            400,
            "invalid_scope",
        ),
    ],
)
def test_oauth2_errors(seeded, form, status, error):
    test_client, _server = seeded
    resp = test_client.post("/token", data={"service": SERVICE, **form})
    assert resp.status_code == status
    assert resp.get_json()["error"] == error


def token_from(test_client, user: str, password: str, address: str):
    return test_client.get(
        "/token", query_string={"service": SERVICE}, headers=basic(user, password),
        environ_base={"REMOTE_ADDR": address},
    )  # fmt: skip


def test_failed_logins_back_off_per_address_but_a_known_good_credential_still_works(seeded, make_client, config_data):
    config_data["security"]["backoff"] = {"threshold": 2, "max_delay": 60, "account_max_delay": 5}
    test_client, server = make_client(config_data)
    good = test_client.get("/token", query_string={"service": SERVICE}, headers=basic("alice", "alice-pw"))
    assert good.status_code == 200
    codes = [
        test_client.get("/token", query_string={"service": SERVICE}, headers=basic("alice", "guess")).status_code
        for _ in range(4)
    ]
    assert codes[:2] == [401, 401] and codes[-1] == 429
    throttled = test_client.get("/token", query_string={"service": SERVICE}, headers=basic("nobody", "guess"))
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    # alice's own, recently verified password is not locked out by someone guessing from her address.
    again = test_client.get("/token", query_string={"service": SERVICE}, headers=basic("alice", "alice-pw"))
    assert again.status_code == 200


def test_the_back_off_is_shared_by_servers_on_one_database_and_spares_a_known_address(seeded, make_client, config_data):
    config_data["security"]["backoff"] = {"threshold": 2, "max_delay": 60, "account_max_delay": 5}
    first, _ = make_client(config_data)
    second, _ = make_client(config_data)  # another worker or host: no memory, no cache in common with the first

    assert token_from(first, "alice", "alice-pw", "192.0.2.10").status_code == 200  # where alice works
    assert [token_from(first, "alice", "guess", "198.51.100.7").status_code for _ in range(3)] == [401, 401, 429]
    # The guesser is held back on the other server too, whatever it sends.
    refused = token_from(second, "alice", "alice-pw", "198.51.100.7")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # The account is held back briefly from a new address, but not where it logged in before.
    assert token_from(second, "alice", "alice-pw", "203.0.113.5").status_code == 429
    assert token_from(second, "alice", "alice-pw", "192.0.2.10").status_code == 200


def test_guessing_from_a_shared_address_locks_out_neither_the_robot_nor_the_admin(seeded, make_client, config_data):
    """Behind one NAT or proxy address: the guesser is slowed, the robot and the admin who logged in there are not."""
    config_data["security"]["credential_cache_ttl"] = 0  # every request below is checked, none remembered
    test_client, _server = make_client(config_data)
    shared = "192.0.2.44"
    assert token_from(test_client, "robot+ci", "robot-secret", shared).status_code == 200
    assert token_from(test_client, "admin", "admin-pw", shared).status_code == 200
    guesses = [
        token_from(test_client, f"user{secrets.token_hex(4)}", secrets.token_hex(8), shared).status_code
        for _ in range(50)
    ]
    assert set(guesses[:5]) == {401} and guesses[-1] == 429  # the default threshold is 5: guessing is slowed
    assert token_from(test_client, "robot+ci", "robot-secret", shared).status_code == 200
    assert token_from(test_client, "admin", "admin-pw", shared).status_code == 200
    # Someone who never logged in from there waits like the guesser.
    assert token_from(test_client, "alice", "alice-pw", shared).status_code == 429


def test_a_robot_is_never_held_back_but_its_failures_hold_back_the_address(seeded, make_client, config_data):
    config_data["security"]["credential_cache_ttl"] = 0
    config_data["security"]["backoff"] = {"threshold": 2}
    test_client, _server = make_client(config_data)
    attacker = "198.51.100.7"
    assert [token_from(test_client, "robot+ci", "guess", attacker).status_code for _ in range(6)] == [401] * 6
    assert token_from(test_client, "robot+ci", "robot-secret", "203.0.113.5").status_code == 200  # a new CI runner
    assert token_from(test_client, "robot+ci", "robot-secret", attacker).status_code == 200
    assert token_from(test_client, "alice", "alice-pw", attacker).status_code == 429


@pytest.mark.parametrize("typed", ["alice   ", "alice\t", "Alice", " alice", "alice\0", "robot+ci ", "robot+CI"])
def test_a_name_off_the_grammar_is_a_plain_401_even_with_the_right_password(seeded, typed):
    test_client, _server = seeded
    password = "robot-secret" if typed.lower().startswith("robot+") else "alice-pw"
    resp = test_client.get("/token", query_string={"service": SERVICE}, headers=basic(typed, password))
    unknown = test_client.get("/token", query_string={"service": SERVICE}, headers=basic("nobody", password))
    assert resp.status_code == 401
    assert resp.get_json() == unknown.get_json()


def test_a_name_off_the_grammar_does_not_escape_the_accounts_back_off(seeded, make_client, config_data):
    """Trailing spaces once reached alice's account under another back-off count; now they reach no account."""
    config_data["security"]["backoff"] = {"threshold": 2, "account_max_delay": 5}
    test_client, _server = make_client(config_data)
    for address in ("198.51.100.1", "198.51.100.2"):
        token_from(test_client, "alice", "guess", address)
    assert token_from(test_client, "alice", "alice-pw", "198.51.100.3").status_code == 429
    assert token_from(test_client, "alice ", "alice-pw", "198.51.100.4").status_code == 401


@pytest.mark.parametrize(
    "password",
    ["wrong\0", "\0", "alice-pw\0", "p" * 73, "é" * 40, b"\xff\xfe".decode("latin-1")],
)
def test_any_password_is_the_same_401_for_a_known_and_an_unknown_account(seeded, password):
    test_client, _server = seeded
    known = test_client.get("/token", query_string={"service": SERVICE}, headers=basic("alice", password))
    unknown = test_client.get("/token", query_string={"service": SERVICE}, headers=basic("nobody", password))
    assert known.status_code == unknown.status_code == 401
    assert known.get_json() == unknown.get_json()


def test_bytes_that_are_not_utf8_in_basic_credentials_are_wrong_credentials(seeded):
    test_client, _server = seeded
    for raw in (b"alice:\xff\xfe", b"nobody:\xff\xfe", b"\xffalice:alice-pw"):
        header = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        resp = test_client.get("/token", query_string={"service": SERVICE}, headers=header)
        assert resp.status_code == 401, raw
        assert resp.get_json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_a_non_ascii_authorization_header_is_a_400_not_a_500(seeded):
    test_client, _server = seeded
    for header in ("Basic ÿÿÿÿ", "Basic YWxpY2U6é", "Básic YWxpY2U6YWxpY2UtcHc="):
        resp = test_client.get("/token", query_string={"service": SERVICE}, headers={"Authorization": header})
        assert resp.status_code == 400, header
        assert resp.get_json()["errors"][0]["code"] == "INVALID_REQUEST"


def test_robot_tokens_name_the_robot_as_it_logs_in(seeded):
    test_client, server = seeded
    resp = test_client.get("/token", query_string={"service": SERVICE}, headers=basic("robot+ci", "robot-secret"))
    assert claims_of(server, resp.get_json())["sub"] == "robot+ci"
    server.store.create_user("ci", server.hasher.hash("user-ci-pw"))
    user = test_client.get("/token", query_string={"service": SERVICE}, headers=basic("ci", "user-ci-pw"))
    assert claims_of(server, user.get_json())["sub"] == "ci"


def test_refused_logins_log_a_name_only_when_it_is_an_account(seeded, caplog):
    test_client, _server = seeded
    caplog.set_level(logging.INFO, logger="dockyard_auth")
    test_client.get("/token", query_string={"service": SERVICE}, headers=basic("alice", "wrong"))
    test_client.get("/token", query_string={"service": SERVICE}, headers=basic("hunter2-typed-here", "x"))
    test_client.post(
        "/token", data={"service": SERVICE, "grant_type": "password", "username": "S3cret!pw", "password": "x"}
    )
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 3
    assert "'alice'" in refused[0]
    for line in refused[1:]:
        assert "hunter2" not in line and "S3cret" not in line
        assert re.search(r"unknown name #[0-9a-f]{12}", line)


def test_health_and_metrics(seeded):
    test_client, _server = seeded
    assert test_client.get("/healthz").get_json() == {"status": "ok"}
    test_client.get("/token", query_string={"service": SERVICE}, headers=basic("alice", "wrong"))
    text = test_client.get("/metrics").get_data(as_text=True)
    assert 'dockyard_auth_requests_total{outcome="unauthorized",route="/token"}' in text
    assert "dockyard_auth_request_duration_seconds_bucket" in text

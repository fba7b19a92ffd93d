# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GET /token through TokenGate, the WSGI layer in front of Flask: Flask's answers, without Flask.

create_app puts the gate in front of Flask's own WSGI callable, which still
routes GET /token to the same function (``app.wsgi_app.app`` below). Every
request here is answered both ways, against the real MariaDB, and the two
answers must be the same: status, every header, the body (tokens compared by
their grants), the metrics and the grant the access log shows.
"""

from __future__ import annotations

import base64
import logging
import re

import jwt
import pytest
from conftest import SERVICE, seed_accounts
from prometheus_client import REGISTRY
from werkzeug.test import Client

from dockyard_auth.app import GRANT_ENVIRON_KEY, Server, TokenGate, create_app
from dockyard_auth.config import parse


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Recorded(Client):
    """A test client that keeps the environ the application got (werkzeug's own hands it a copy)."""

    def __init__(self, application) -> None:
        self.environ: dict = {}

        def recording(environ, start_response):
            self.environ = environ
            return application(environ, start_response)

        super().__init__(recording)


@pytest.fixture
def both(make_client, config_data):
    """(the app as gunicorn calls it, Flask alone behind the gate, the Server) on the seeded database."""
    config_data["security"]["backoff"] = {"threshold": 1000}
    test_client, server = make_client(config_data)
    seed_accounts(server)
    gate = test_client.application.wsgi_app
    assert isinstance(gate, TokenGate)
    return Recorded(test_client.application), Recorded(gate.app), server


def token_answers() -> dict[str, float]:
    samples = {}
    for outcome in ("ok", "unauthorized", "client_error", "unavailable", "server_error"):
        labels = {"route": "/token", "outcome": outcome}
        samples[outcome] = REGISTRY.get_sample_value("dockyard_auth_requests_total", labels) or 0.0
    return samples


def answer(client: Recorded, method: str, query, headers: dict, remote: str = "192.0.2.1"):
    """The response, the outcomes it added to the metrics, and the access log's grant (None: none)."""
    before = token_answers()
    resp = client.open(
        "/token", method=method, query_string=query, headers=headers, environ_base={"REMOTE_ADDR": remote}
    )
    after = token_answers()
    counted = {outcome: after[outcome] - before[outcome] for outcome in after if after[outcome] != before[outcome]}
    return resp, counted, client.environ.get(GRANT_ENVIRON_KEY)


def comparable(resp, counted: dict, grant: str | None) -> tuple:
    """What must be the same both ways: the tokens' random and time-bound parts left out, their grants kept."""
    body = resp.get_data(as_text=True)
    grants = [
        (claims["sub"], claims["access"])
        for token in re.findall(r'"(?:access_token|token)":"([^"]+)"', body)
        for claims in [jwt.decode(token, options={"verify_signature": False})]
    ]
    body = re.sub(r'"(access_token|token|issued_at)":"[^"]+"', r'"\1":"-"', body)
    assert int(resp.headers["Content-Length"]) == len(resp.get_data()) or resp.request.method == "HEAD"
    headers = [(key, value) for key, value in resp.headers if key != "Content-Length"]
    return resp.status, headers, body, grants, counted, grant


ALICE, ROBOT = basic("alice", "alice-pw"), basic("robot+ci", "robot-secret")
CASES = [
    ("GET", {"service": SERVICE}, {}),
    ("GET", {"service": SERVICE, "account": "alice", "client_id": "docker", "offline_token": "true"}, {}),
    ("GET", [("service", SERVICE), ("scope", "repository:web/app:pull,push")], {"Authorization": ALICE}),
    ("HEAD", [("service", SERVICE), ("scope", "repository:web/app:pull,push")], {"Authorization": ALICE}),
    ("GET", [("service", SERVICE), ("scope", "repository:web/app:pull repository:pub/x:push")], {}),
    ("GET", [("service", SERVICE), ("scope", "registry:catalog:*"), ("scope", "repository:web/a:*")], {}),
    ("GET", [("service", SERVICE), ("scope", "repository:web/app:pull,push")], {"Authorization": ROBOT}),
    ("GET", {"service": SERVICE}, {"Authorization": basic("alice", "wrong")}),
    ("HEAD", {"service": SERVICE}, {"Authorization": basic("nobody", "wrong")}),
    ("GET", {"service": SERVICE}, {"Authorization": basic("alice ", "alice-pw")}),
    ("GET", {}, {}),
    ("GET", {"service": "other.example"}, {}),
    ("GET", [("service", SERVICE), ("service", SERVICE)], {}),
    ("GET", {"service": SERVICE, "scope": "repository:Web/App:pull"}, {}),
    ("GET", b"service=" + SERVICE.encode() + b"&scope=repository:%ff%fe:pull", {}),
    ("GET", b"service=" + SERVICE.encode() + b"&scope=repository:web/app:pull+repository:pub/app:pull", {}),
    ("GET", {"service": SERVICE}, {"Authorization": "Bearer abc"}),
    ("GET", {"service": SERVICE}, {"Authorization": "Basic ÿÿÿÿ"}),
    ("GET", {"service": SERVICE}, {"Authorization": "Basic " + base64.b64encode(b"alice:\xff").decode()}),
    ("GET", {"service": SERVICE}, {"Authorization": "Basic bm9jb2xvbg=="}),
]


@pytest.mark.parametrize(("method", "query", "headers"), CASES)
def test_the_gate_answers_as_flask_does(both, method, query, headers):
    gated, flask_alone, _server = both
    through_gate = comparable(*answer(gated, method, query, headers))
    through_flask = comparable(*answer(flask_alone, method, query, headers))
    assert through_gate == through_flask
    status, sent, _body, _grants, counted, grant = through_gate
    assert ("Cache-Control", "no-store") in sent and sum(counted.values()) == 1  # one answer, counted once
    assert (grant is not None) == status.startswith("200 ")  # a grant for the access log with every token


def test_an_issued_token_is_in_the_environ_for_the_access_log_and_not_in_the_apps_log(both, caplog):
    gated, _flask, _server = both
    caplog.set_level(logging.INFO, logger="dockyard_auth")
    *_answer, grant = answer(gated, "GET", [("service", SERVICE), ("scope", "repository:web/app:pull")], {})
    assert grant == "token for '(anonymous)': repository:web/app:-"
    query = [("service", SERVICE), ("scope", "repository:web/app:pull,push")]
    *_answer, grant = answer(gated, "GET", query, {"Authorization": ALICE})
    assert grant == "token for 'alice': repository:web/app:pull,push"
    form = {"service": SERVICE, "grant_type": "password", "username": "alice", "password": "alice-pw"}
    assert gated.post("/token", data={**form, "scope": "repository:web/app:pull"}).status_code == 200
    assert gated.environ[GRANT_ENVIRON_KEY] == "token for 'alice': repository:web/app:pull"
    *_answer, grant = answer(gated, "GET", {"service": SERVICE}, {"Authorization": basic("alice", "wrong")})
    assert grant is None
    assert not [r for r in caplog.records if "token for" in r.getMessage()]
    assert [r.getMessage() for r in caplog.records] == ["token refused: bad credentials for 'alice' from 192.0.2.1"]


def test_the_gate_notes_an_untrusted_proxy_for_healthz(both):
    gated, _flask, _server = both
    answer(gated, "GET", {"service": SERVICE}, {"X-Forwarded-For": "203.0.113.9"}, remote="192.0.2.77")
    [warning] = gated.get("/healthz").get_json()["warnings"]
    assert warning.startswith("192.0.2.77 sent X-Forwarded-For")


def test_while_the_database_is_down_a_token_request_is_told_to_retry(config_data):
    # Nothing listens on port 9 of loopback: every connection fails at once.
    config_data["database"]["url"] = "mysql+pymysql://root@127.0.0.1:9/none"
    config = parse(config_data)
    server = Server.from_config(config)
    app = create_app(config, server)
    query = [("service", SERVICE), ("scope", "repository:web/app:pull")]
    try:
        answers = [comparable(*answer(Recorded(wsgi), "GET", query, {})) for wsgi in (app, app.wsgi_app.app)]
    finally:
        server.authenticator.lookup.reader.dispose()
    assert answers[0] == answers[1]
    status, headers, body, _grants, counted, _grant = answers[0]
    assert status == "503 SERVICE UNAVAILABLE" and ("Retry-After", "5") in headers
    assert body == '{"errors":[{"code":"UNAVAILABLE","message":"the database is unavailable; retry later"}]}\n'
    assert counted == {"unavailable": 1}


def test_an_unexpected_error_is_a_500_in_the_registrys_shape_and_logged(both, monkeypatch, caplog):
    gated, flask_alone, server = both

    def broken(_claims):
        raise RuntimeError("a bug")

    monkeypatch.setattr(server.signer, "sign", broken)
    answers = []
    for client in (gated, flask_alone):
        caplog.clear()
        answers.append(comparable(*answer(client, "GET", {"service": SERVICE}, {})))
        [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert record.getMessage() == "Exception on /token [GET]" and record.exc_info[0] is RuntimeError
    assert answers[0] == answers[1]
    assert answers[0][0] == "500 INTERNAL SERVER ERROR" and answers[0][4] == {"server_error": 1}

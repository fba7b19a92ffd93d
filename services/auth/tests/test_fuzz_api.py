# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The admin API fuzzed by schemathesis against its own OpenAPI document, on a real MariaDB.

Every operation in the document gets the examples it documents, the coverage
phase's boundary and invalid values, and a bounded number of random valid and
invalid requests, sent through WSGI (no network) as an admin seeded in the
test's own database. Each answer must be no server error, with a documented
status code and content type, and a body that matches the documented schema.

schemathesis needs the document when the tests are collected, before any
database exists, so it reads the file the app serves
(dockyard_auth/openapi.json), and every test checks that GET
/api/v1/openapi.json answers exactly that. (Its loader from a fixture,
``schemathesis.pytest.from_fixture``, fails on pytest 9.2: "'Function' object
has no attribute '_nodeid'".)
"""

from __future__ import annotations

import base64
import json
from importlib import resources

import pytest
import schemathesis
from conftest import EVENTS_SECRET
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.exceptions import HTTPException

from dockyard_auth.permissions import Role, Visibility

ADMIN = ("fuzzadmin", "fuzz-admin-password")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 25  # random requests per operation, after the examples and the coverage phase's requests
DIGEST = "sha256:" + "ab" * 32
CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def api_app(make_client, config_data):
    """The app, on a database holding what the document's examples name (alice, web, ci, web/app)."""
    config_data["security"]["backoff"] = {"threshold": 1000}
    test_client, server = make_client(config_data)
    app = test_client.application
    store, hasher = server.store, server.hasher
    store.create_user(ADMIN[0], hasher.hash(ADMIN[1]), admin=True)
    store.create_user("alice", hasher.hash("alice-password"))
    store.create_team("web", "the web team")
    store.set_member("web", "alice", Role.CONTRIBUTOR)
    store.create_namespace("web", "web", Visibility.PRIVATE)
    store.create_robot("ci", hasher.hash("robot-secret"))
    store.set_robot_permission("ci", "web", ["pull"])
    push = {
        "id": "e1", "timestamp": "2026-11-23T10:00:00Z", "action": "push", "actor": {"name": "alice"},
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "web/app",
                   "digest": DIGEST, "tag": "1.0"},
    }  # fmt: skip
    stored = test_client.post("/events", json={"events": [push]}, headers={"Authorization": f"Bearer {EVENTS_SECRET}"})
    assert stored.status_code == 200, stored.get_data(as_text=True)

    # Note the exceptions behind a 5xx: those Flask answers with a 500, and those the app answers itself (503).
    caught = app.extensions["fuzz_caught"] = []

    def noting(handler):
        def wrapper(exc):
            caught.append(exc)
            return handler(exc)

        return wrapper

    app.handle_exception = noting(app.handle_exception)
    handlers = app.error_handler_spec[None][None]
    for cls, handler in list(handlers.items()):
        if not issubclass(cls, HTTPException):
            handlers[cls] = noting(handler)

    # The document the tests were generated from is the one this app serves.
    assert test_client.get("/api/v1/openapi.json").get_json() == DOCUMENT
    return app


DOCUMENT = json.loads(resources.files("dockyard_auth").joinpath("openapi.json").read_bytes())
# Valid and invalid requests. The hypothesis profile (conftest.py) makes them the same on every run.
CONFIG = schemathesis.Config.from_dict({"generation": {"mode": "all"}})
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@schema.parametrize()
# Who calls. (A parameter also gives each operation's test an id of its own: on pytest 9.2 schemathesis's alone
# are all the bare test name.)
@pytest.mark.parametrize("caller", [ADMIN], ids=["admin"])
# One database for all of an operation's examples; a bound on the random ones (the profile's would be 200).
@settings(max_examples=MAX_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_answers_as_its_document_says(case, api_app, caller):
    # Through app.wsgi_app, the plain WSGI callable: given the Flask app itself, schemathesis would catch its
    # errors with Flask's signals, which need blinker, a package Flask 2.2 does not install.
    headers = {"Authorization": basic(*caller)}
    if case.method.upper() in CHANGING and case.media_type is None:
        # The document's convention, which OpenAPI has no field for: a change without a body is sent with
        # Content-Type: application/json too (415 otherwise), so that a browser's form cannot make one.
        headers["Content-Type"] = "application/json"
    caught = api_app.extensions["fuzz_caught"]
    caught.clear()
    try:
        case.call_and_validate(app=api_app.wsgi_app, headers=headers, checks=CHECKS)
    except Exception as failure:
        if caught:
            raise failure from caught[0]  # the server's own traceback, below schemathesis's report
        raise

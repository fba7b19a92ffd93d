# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests of the token endpoint against a real MariaDB: any query, header or form gets a well-formed answer.

GET /token with arbitrary query strings and Authorization headers (random
bytes, non-ASCII text, ``Basic`` and base64 of any bytes, NUL and invalid
UTF-8 included), POST /token with arbitrary form fields. For every request: no
5xx; an error body in the protocol's own shape (distribution's for GET, RFC
6749's for POST) sent as application/json; a 200 whose ``token`` is its
``access_token``. And no account-enumeration oracle: for any password, an
existing account and an unknown one get the same status and body, unless the
password is the right one.

Every test shares one seeded database across its examples (hence the
function-scoped-fixture health check is off) and sets the back-off threshold
out of reach, so throttling never hides an answer. A 5xx fails with the
server's own exception chained to it, so the report shows its traceback.
"""

from __future__ import annotations

import base64
from urllib.parse import quote_from_bytes

import pytest
from conftest import SEEDED_PASSWORDS, SERVICE, seed_accounts
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException

PASSWORDS = SEEDED_PASSWORDS
# An existing account, and a name no account has, of the same kind.
ACCOUNT_PAIRS = [("alice", "nobody"), ("admin", "nobody"), ("robot+ci", "robot+nobody")]
SHARED_DATABASE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


class TokenEndpoint:
    """Calls /token through a test client; a 5xx raises an AssertionError chained to the server's exception."""

    def __init__(self, test_client) -> None:
        self.client, self.app = test_client, test_client.application
        self.caught: list[BaseException] = []
        # Note every exception on its way to a 5xx: the ones Flask answers with a 500 (what its
        # got_request_exception signal reports), and the ones the app answers itself (the database's 503).
        self.app.handle_exception = self._noting(self.app.handle_exception)
        handlers = self.app.error_handler_spec[None][None]
        for cls, handler in list(handlers.items()):
            if not issubclass(cls, HTTPException):
                handlers[cls] = self._noting(handler)
        # GET /token's are answered in front of Flask, by the TokenGate (app.py).
        self.app.wsgi_app.failed = self._noting(self.app.wsgi_app.failed)

    def _noting(self, handler):
        def wrapper(exc, *rest):
            self.caught.append(exc)
            return handler(exc, *rest)

        return wrapper

    def _answer(self, method: str, what: str, **kwargs):
        self.caught.clear()
        resp = self.client.open("/token", method=method, **kwargs)
        if resp.status_code >= 500:
            cause = self.caught[0] if self.caught else None
            text = resp.get_data(as_text=True)[:500]
            raise AssertionError(f"{method} /token {what} answered {resp.status_code}: {text}") from cause
        # The spread of answers, for pytest --hypothesis-show-statistics.
        body = resp.get_json(silent=True)
        code = (body.get("error") or (body.get("errors") or [{}])[0].get("code")) if isinstance(body, dict) else None
        event(f"{method} {resp.status_code} {code or ''}".rstrip())
        return resp

    def get(self, query: bytes, authorization: bytes | None = None):
        # As a WSGI server hands them over: the raw query, the header's bytes read as latin-1.
        environ = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization.decode("latin-1")}
        what = f"?{query!r} Authorization: {authorization!r}"
        return self._answer("GET", what, query_string=query, environ_overrides=environ)

    def post(self, form: bytes):
        return self._answer("POST", f"form {form!r}", data=form, content_type="application/x-www-form-urlencoded")


@pytest.fixture
def token(make_client, config_data):
    """The endpoint on a database with an admin, alice and bob, team web, namespaces web and pub, and robot ci."""
    config_data["security"]["backoff"] = {"threshold": 1000}
    test_client, server = make_client(config_data)
    seed_accounts(server)
    return TokenEndpoint(test_client)


# -- what a caller may send ------------------------------------------------------------
def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


UTF8 = st.text().map(str.encode)
SCOPES = st.sampled_from(
    [
        "repository:web/app:pull,push", "repository:pub/app:pull", "registry:catalog:*", "repository:alice/x:*",
        "repository(plugin):web/app:pull", "repository:localhost:5000/web/app:push", "helm:charts/x:pull",
        "repository:web/app:pull repository:pub/app:push", "repository:Web/App:pull", "repository:a:",
    ]
) | st.builds(
    lambda kind, name, actions: f"{kind}:{name}:{actions}",
    st.sampled_from(["repository", "registry", "x", "repository(a)", ""]),
    st.text(max_size=12),
    st.sampled_from(["pull", "pull,push", "*", "", "a,,b", "delete"]),
)  # fmt: skip
LOGIN_NAMES = st.sampled_from([*PASSWORDS, "bob", "nobody", "robot+nobody", "robot+", "Alice", "alice\x00"])
KNOWN_PASSWORDS = st.sampled_from([*PASSWORDS.values(), "bob-pw", "", "alice-pw\x00", "p" * 73])

# Hypothesis tries the first of these most: MOSTLY is mostly True, RARELY mostly False.
MOSTLY = st.sampled_from([True, True, True, True, False])
RARELY = st.sampled_from([False] * 9 + [True])
# Bytes of a query parameter's name and value: the parameters docker sends, or anything.
PARAM_VALUES = st.one_of(st.just(SERVICE), SCOPES, st.text()).map(str.encode) | st.binary(max_size=20)
PARAMS = st.one_of(
    st.tuples(st.just(b"scope"), SCOPES.map(str.encode)),
    st.tuples(st.sampled_from([b"account", b"client_id", b"offline_token"]), PARAM_VALUES),
    st.tuples(st.sampled_from([b"service", b"scope"]) | UTF8, PARAM_VALUES),
)


@st.composite
def query_strings(draw) -> bytes:
    """A raw query: percent-encoded pairs of any bytes, the right service mostly among them, or any bytes at all."""
    if draw(RARELY):
        return draw(st.binary())
    pairs = draw(st.lists(PARAMS, max_size=4))
    if draw(MOSTLY):
        pairs.insert(draw(st.integers(0, len(pairs))), (b"service", SERVICE.encode()))
    return "&".join(f"{quote_from_bytes(k, safe='')}={quote_from_bytes(v, safe='')}" for k, v in pairs).encode()


# A name and a password, as bytes: a right pair, or known and random pieces mixed.
RIGHT_LOGINS = st.sampled_from([(name.encode(), password.encode()) for name, password in PASSWORDS.items()])
LOGINS = st.one_of(
    st.tuples(
        LOGIN_NAMES.map(str.encode) | st.binary(max_size=12) | UTF8,
        KNOWN_PASSWORDS.map(str.encode) | st.binary(max_size=80) | UTF8,
    ),
    RIGHT_LOGINS,
)


@st.composite
def basic_credentials(draw) -> bytes:
    """``Basic`` and base64 of ``name:password``."""
    name, password = draw(LOGINS)
    scheme = draw(st.sampled_from([b"Basic ", b"basic ", b"BASIC  "]))
    return scheme + b64(name + b":" + password)


AUTHORIZATION = st.one_of(
    st.none(),
    basic_credentials(),
    st.one_of(
        st.binary(max_size=40),  # anything at all, read as latin-1
        st.text(max_size=30).map(str.encode),  # non-ASCII text, as UTF-8 on the wire
        st.binary(max_size=60).map(lambda data: b"Basic " + b64(data)),  # NUL, invalid UTF-8, no ':'
        st.text(max_size=20).map(lambda text: b"Basic " + text.encode()),  # not base64, maybe not ASCII
        st.sampled_from([b"Bearer abc", b"Basic", b"Basic ", b"Basic ===", b"Digest x", b"Basic \xc3\xa9"]),
    ),
)

FORM_NAMES = (
    st.sampled_from(
        ["grant_type", "username", "password", "service", "scope", "client_id", "access_type", "refresh_token"]
    ).map(str.encode)
    | UTF8
)


@st.composite
def form_bodies(draw) -> bytes:
    """A urlencoded body: mostly a password grant for the right service with known or random fields."""
    if draw(RARELY):
        return draw(st.binary())
    grant_type = draw(st.sampled_from([b"password"] * 4 + [b"refresh_token", b"", b"Password"]))
    name, password = draw(LOGINS)
    pairs = [(b"grant_type", grant_type), (b"service", SERVICE.encode()), (b"username", name), (b"password", password)]
    # Leave out a few of them now and then.
    pairs = [pair for pair in pairs if draw(MOSTLY)]
    values = PARAM_VALUES | LOGIN_NAMES.map(str.encode) | KNOWN_PASSWORDS.map(str.encode)
    for extra in draw(st.lists(st.tuples(FORM_NAMES, values), max_size=4)):
        pairs.insert(draw(st.integers(0, len(pairs))), extra)
    return "&".join(f"{quote_from_bytes(k, safe='')}={quote_from_bytes(v, safe='')}" for k, v in pairs).encode()


# -- what every answer must be ----------------------------------------------------------
def assert_token(resp) -> None:
    body = resp.get_json()
    assert {"token", "access_token", "expires_in", "issued_at"} <= set(body), body
    assert body["token"] == body["access_token"] and isinstance(body["token"], str)
    assert "refresh_token" not in body


def assert_registry_error(resp) -> None:
    """distribution's ``{"errors": [{"code": str, "message": str}]}``."""
    body = resp.get_json()
    assert isinstance(body, dict) and set(body) == {"errors"}, body
    assert isinstance(body["errors"], list) and body["errors"], body
    for error in body["errors"]:
        assert isinstance(error, dict) and set(error) == {"code", "message"}, body
        assert isinstance(error["code"], str) and isinstance(error["message"], str), body


def assert_oauth_error(resp) -> None:
    """RFC 6749's ``{"error": str, "error_description": str}``."""
    body = resp.get_json()
    assert isinstance(body, dict) and set(body) == {"error", "error_description"}, body
    assert isinstance(body["error"], str) and isinstance(body["error_description"], str), body


def assert_json(resp) -> None:
    assert resp.mimetype == "application/json", (resp.status_code, resp.content_type, resp.get_data()[:200])


def shown(**inputs) -> None:
    """Note the example's inputs: Hypothesis prints them blank while schemathesis's pytest plugin is loaded."""
    for name, value in inputs.items():
        note(f"{name} = {value!r}")


# -- the properties -------------------------------------------------------------------
@SHARED_DATABASE
@given(query_strings(), AUTHORIZATION)
@example(b"service=" + SERVICE.encode(), b"Basic " + b64(b"alice:alice-pw\x00"))
@example(b"service=" + SERVICE.encode(), b"Basic \xc3\xa9")
@example(b"service=" + SERVICE.encode() + b"&scope=repository:web/app:pull", b"Basic " + b64(b"alice:alice-pw"))
def test_get_answers_any_query_and_authorization_in_distributions_shape(token, query, authorization):
    shown(query=query, authorization=authorization)
    resp = token.get(query, authorization)
    assert_json(resp)
    if resp.status_code == 200:
        assert_token(resp)
    else:
        assert_registry_error(resp)


@SHARED_DATABASE
@given(form_bodies())
@example(b"grant_type=password&service=" + SERVICE.encode() + b"&username=alice&password=alice-pw%00")
@example(b"grant_type=password&service=" + SERVICE.encode() + b"&username=alice&password=alice-pw")
def test_post_answers_any_form_in_rfc_6749s_shape(token, form):
    shown(form=form)
    resp = token.post(form)
    assert_json(resp)
    if resp.status_code == 200:
        assert_token(resp)
        assert isinstance(resp.get_json()["scope"], str)
    else:
        assert_oauth_error(resp)


PASSWORD_BYTES = st.one_of(
    st.binary(max_size=80),
    UTF8,
    KNOWN_PASSWORDS.map(str.encode),
    st.builds(
        lambda real, tail: real.encode() + tail, st.sampled_from(list(PASSWORDS.values())), st.binary(max_size=4)
    ),
)


def assert_same_answer(existing, missing) -> None:
    """The status and body of a login to an existing account equal those to an unknown one."""
    assert (existing.status_code, existing.get_json()) == (missing.status_code, missing.get_json())


@SHARED_DATABASE
@given(st.sampled_from(ACCOUNT_PAIRS), PASSWORD_BYTES)
@example(("alice", "nobody"), b"alice-pw\x00")
@example(("alice", "nobody"), b"\x00")
@example(("robot+ci", "robot+nobody"), b"\xff")
def test_get_tells_an_existing_account_from_an_unknown_one_only_by_its_right_password(token, accounts, password):
    shown(accounts=accounts, password=password)
    known, unknown = accounts
    query = f"service={SERVICE}".encode()
    existing = token.get(query, b"Basic " + b64(known.encode() + b":" + password))
    missing = token.get(query, b"Basic " + b64(unknown.encode() + b":" + password))
    if password == PASSWORDS[known].encode():
        assert existing.status_code == 200
        return
    assert_same_answer(existing, missing)


@SHARED_DATABASE
@given(st.sampled_from(ACCOUNT_PAIRS), PASSWORD_BYTES)
@example(("alice", "nobody"), b"alice-pw\x00")
@example(("admin", "nobody"), b"\xc3")
def test_post_tells_an_existing_account_from_an_unknown_one_only_by_its_right_password(token, accounts, password):
    shown(accounts=accounts, password=password)
    known, unknown = accounts

    def form(user: str) -> bytes:
        fields = [
            b"grant_type=password",
            b"service=" + SERVICE.encode(),
            b"username=" + quote_from_bytes(user.encode(), safe="").encode(),
        ]
        return b"&".join([*fields, b"password=" + quote_from_bytes(password, safe="").encode()])

    existing, missing = token.post(form(known)), token.post(form(unknown))
    if password == PASSWORDS[known].encode():
        assert existing.status_code == 200
        return
    assert_same_answer(existing, missing)

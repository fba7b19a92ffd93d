# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The WSGI application: token endpoint, notifications receiver, admin API, health and metrics.

Routes:
  GET/POST /token          the registry's realm (docker token auth; OAuth2 password grant); the GET is
                           answered by TokenGate, a thin WSGI layer in front of Flask (see there)
  POST     /events         registry notifications (shared secret in the Authorization header)
  GET      /healthz        200 when the database answers, 503 otherwise
  GET      /metrics        Prometheus metrics
  /api/v1/...              the admin API (see api.py)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, Flask, Response, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request

from dockyard_auth import notifications, tokens
from dockyard_auth.api import create_api
from dockyard_auth.authn import (
    Authenticator,
    AuthFailed,
    BadRequest,
    Credentials,
    Throttled,
    client_address,
    name_for_log,
    parse_basic,
)
from dockyard_auth.config import Config
from dockyard_auth.database import Reader, make_engine
from dockyard_auth.logins import LoginRecords
from dockyard_auth.lookup import Lookup
from dockyard_auth.metrics import Metrics
from dockyard_auth.names import parse_repository
from dockyard_auth.passwords import CredentialCache, Hasher
from dockyard_auth.permissions import NamespaceView, Subject, allowed_actions, catalog_allowed, grant
from dockyard_auth.scopes import Scope, ScopeError, parse_scopes
from dockyard_auth.store import GLOBAL, Store
from dockyard_auth.throttle import Backoff

log = logging.getLogger("dockyard_auth")


FORWARDED_NOTE_INTERVAL = 60  # seconds between two notes of one peer by one worker
FORWARDED_REPORT_WINDOW = 86400  # seconds /healthz looks back
TOKEN_ROUTE = "/token"  # noqa: S105 - a route, not a password
# The WSGI environ's entry for an issued token's grant ("token for 'alice': repository:..."): the access log
# line shows it (cli.ACCESS_LOG_FORMAT), so each token is logged once, with who got what.
GRANT_ENVIRON_KEY = "dockyard_auth.grant"


@dataclass
class ForwardedWatch:
    """Notes peers that send X-Forwarded-For without being trusted proxies, for /healthz to report.

    Such a peer is almost always the deployment's own proxy missing from
    ``security.trusted_proxies``: every client behind it then shares its
    address for the back-off. A peer is written to the database at most once
    a minute per worker, so a busy proxy costs nothing worth measuring.
    """

    store: Store
    trusted: tuple
    clock: Callable[[], float] = time.time
    _noted: dict[str, float] = field(default_factory=dict)

    def see(self, peer: str | None, forwarded_for: str | None) -> None:
        if not forwarded_for or not peer or _in_networks(peer, self.trusted):
            return
        now = self.clock()
        if now - self._noted.get(peer, -FORWARDED_NOTE_INTERVAL) < FORWARDED_NOTE_INTERVAL:
            return
        if len(self._noted) > 1000:  # noqa: PLR2004 - a bound on memory, not a rule
            self._noted.clear()
        self._noted[peer] = now
        try:
            self.store.note_forwarded(peer, int(now * 1000))
        except SQLAlchemyError:
            log.warning("could not note the untrusted proxy %s: the database is unavailable", peer)

    def report(self) -> list[str]:
        since_ms = int((self.clock() - FORWARDED_REPORT_WINDOW) * 1000)
        return [
            f"{row['peer']} sent X-Forwarded-For but is not in security.trusted_proxies (last at "
            f"{dt.datetime.fromtimestamp(row['last_seen_ms'] / 1000, dt.UTC):%Y-%m-%dT%H:%M:%SZ}): every client "
            "behind it counts as that one address for the back-off; add it to security.trusted_proxies"
            for row in self.store.forwarded_since(since_ms)
        ]


def _in_networks(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


@dataclass
class Server:
    """What every request needs, made once per worker process."""

    config: Config
    store: Store
    signer: tokens.Signer
    hasher: Hasher
    authenticator: Authenticator
    metrics: Metrics
    notifications_secret: str | None
    log_key: bytes = b""
    metrics_token: str | None = None
    forwarded: ForwardedWatch | None = None

    @classmethod
    def from_config(cls, config: Config, engine=None, reader: Reader | None = None) -> Server:
        """The server for ``config``; ``engine`` and ``reader`` (both on config's database) when the caller has them."""
        database = (config.database_url, config.database_password(), config.database_pool_size, config.database_ca_file)
        engine = engine or make_engine(*database)
        reader = reader or Reader(*database)
        store = Store(engine)
        hasher = Hasher(config.bcrypt_rounds)
        authenticator = Authenticator(
            lookup=Lookup(reader),
            hasher=hasher,
            cache=CredentialCache(config.credential_cache_ttl),
            backoff=Backoff(
                records=LoginRecords(engine, reader),
                threshold=config.backoff.threshold,
                address_max_delay=config.backoff.max_delay,
                account_max_delay=config.backoff.account_max_delay,
                forget_after=config.backoff.forget_after,
                known_address_ttl=config.backoff.known_address_ttl,
            ),
        )
        return cls(
            config=config,
            store=store,
            signer=tokens.Signer.from_files(config.signing_key, config.signing_cert, config.kid_format),
            hasher=hasher,
            authenticator=authenticator,
            metrics=Metrics(),
            notifications_secret=config.notifications_secret() if config.notifications_enabled else None,
            # Stable across workers and restarts, secret, and changed with the signing key.
            log_key=hashlib.sha256(b"dockyard-auth log names\0" + config.signing_key.read_bytes()).digest(),
            metrics_token=config.metrics_token(),
            forwarded=ForwardedWatch(store, config.trusted_proxies),
        )

    def log_name(self, typed: str, failure: AuthFailed) -> str:
        """A refused login's name as the log may show it (see authn.name_for_log)."""
        return name_for_log(typed, failure.login is not None, self.log_key)

    # -- token grants ---------------------------------------------------------
    def access_for(self, subject: Subject, scopes: list[Scope], views: dict[str, NamespaceView | None]) -> list[dict]:
        """The token's access list: every requested resource, with the actions granted on it.

        ``views``: how the subject stands to the namespaces of the scopes (see ``namespaces_of``).
        """
        access = []
        for scope in scopes:
            if scope.type == "repository":
                allowed = allowed_actions(subject, views.get(namespace_of(scope)), self.config.policy)
                actions = grant(scope.actions, allowed)
            elif scope.type == "registry" and scope.name == "catalog" and catalog_allowed(subject):
                actions = ["*"] if "*" in scope.actions else []
            else:
                actions = []
            access.append(tokens.access_entry(scope.type, scope.name, actions))
        return access

    def issue(self, subject: Subject, access: list[dict]) -> dict:
        now = int(time.time())
        claims = tokens.build_claims(
            issuer=self.config.issuer,
            service=self.config.service,
            subject=subject.login,
            access=access,
            now=now,
            ttl=self.config.token_ttl,
            jti=tokens.new_jti(),
        )
        token = self.signer.sign(claims)
        issued_at = dt.datetime.fromtimestamp(now, dt.UTC)
        return tokens.token_response(token, ttl=self.config.token_ttl, issued_at=issued_at)


def namespace_of(scope: Scope) -> str:
    """The namespace of a repository scope's name ("" for the global one)."""
    return parse_repository(scope.name).namespace or GLOBAL


def namespaces_of(scopes: list[Scope]) -> frozenset[str]:
    """The namespaces the repository scopes lie in, whose standing the token's grants need."""
    return frozenset(namespace_of(scope) for scope in scopes if scope.type == "repository")


# -- errors in the protocol's own shapes --------------------------------------
@dataclass(frozen=True)
class Answer:
    """A JSON answer made without Flask: what TokenGate sends, and what registry_error hands to Flask."""

    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)  # besides Content-Type, Content-Length, Cache-Control

    def payload(self) -> bytes:
        """The body as Flask's jsonify writes it (its default provider: keys sorted, compact, a final newline)."""
        return (json.dumps(self.body, sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")


def registry_answer(status: int, code: str, message: str, headers: dict | None = None) -> Answer:
    """The token GET's errors: distribution's ``{"errors": [{"code", "message"}]}``."""
    return Answer(status, {"errors": [{"code": code, "message": message}]}, dict(headers or {}))


def flask_response(answer: Answer) -> Response:
    response = jsonify(answer.body)
    response.status_code = answer.status
    for key, value in answer.headers.items():
        response.headers[key] = value
    return response


def registry_error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    """registry_answer, for Flask's routes (the API's errors have this shape too)."""
    return flask_response(registry_answer(status, code, message, headers))


def database_down(exc: SQLAlchemyError) -> Answer:
    """The answer to any request the database failed: 503, retry in a few seconds."""
    log.error("database error: %s", exc.__class__.__name__)
    return registry_answer(503, "UNAVAILABLE", "the database is unavailable; retry later", {"Retry-After": "5"})


def http_error(exc: HTTPException) -> Answer:
    return registry_answer(exc.code or 500, exc.name.upper().replace(" ", "_"), exc.description or exc.name)


def oauth_error(status: int, error: str, description: str, headers: dict | None = None) -> Response:
    """The OAuth2 POST's errors (RFC 6749 section 5.2)."""
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="dockyard"'}


def create_app(config: Config, server: Server | None = None) -> Flask:
    app = Flask("dockyard_auth")
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    server = server or Server.from_config(config)
    app.extensions["dockyard_auth"] = server

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        watch_forwarded(server, request)

    @app.after_request
    def _count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unknown"
        server.metrics.observe(route, response.status_code, time.perf_counter() - g.get("started", time.perf_counter()))
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(SQLAlchemyError)
    def _database_down(exc):
        return flask_response(database_down(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return flask_response(http_error(exc))

    app.register_blueprint(token_routes(server))
    app.register_blueprint(event_routes(server))
    app.register_blueprint(operation_routes(server))
    app.register_blueprint(create_api(server), url_prefix="/api/v1")
    # In front of Flask, so that gunicorn and app.test_client() both go through it.
    app.wsgi_app = TokenGate(server, app.wsgi_app)
    return app


def watch_forwarded(server: Server, request: Request) -> None:
    """Every request, GET /token's included: note a peer that sends X-Forwarded-For untrusted (ForwardedWatch)."""
    if server.forwarded is not None:
        server.forwarded.see(request.remote_addr, request.headers.get("X-Forwarded-For"))


def caller_address(config: Config, request: Request) -> str:
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), config.trusted_proxies)


def _service_problem(config: Config, values: list[str]) -> str | None:
    if len(values) != 1 or not values[0]:
        return "give exactly one service parameter: the registry's auth.token.service"
    if values[0] != config.service:
        return f"this server issues tokens for the service {config.service!r} only"
    return None


class TokenGate:
    """GET (and HEAD) /token, answered in front of Flask; every other request goes on to Flask.

    The registry's realm is by far the busiest route, and Flask's request and
    response machinery cost about a sixth of its time. The gate does for it
    what Flask's hooks in create_app do for the others: it watches for
    X-Forwarded-For (watch_forwarded), observes the metrics under the route's
    label, sends ``Cache-Control: no-store``, answers a database error with
    the same 503 (database_down), and an unexpected error, logged as Flask
    logs it, with the same 500. The body is the same bytes jsonify makes, and
    the query and headers are read by werkzeug's Request, as Flask reads them.
    """

    def __init__(self, server: Server, app: Callable) -> None:
        self.server = server
        self.app = app

    def __call__(self, environ: dict, start_response: Callable):
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") != TOKEN_ROUTE or method not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        started = time.perf_counter()
        request = Request(environ)
        try:
            watch_forwarded(self.server, request)
            answer = token_get(self.server, request)
        except Exception as exc:  # answered as Flask would answer it
            answer = self.failed(exc, method)
        payload = answer.payload()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        headers += [*answer.headers.items(), ("Cache-Control", "no-store")]
        self.server.metrics.observe(TOKEN_ROUTE, answer.status, time.perf_counter() - started)
        start_response(f"{answer.status} {HTTP_STATUS_CODES[answer.status].upper()}", headers)
        return [] if method == "HEAD" else [payload]

    def failed(self, exc: Exception, method: str) -> Answer:
        """The answer to an exception out of the route: Flask's errorhandlers' and handle_exception's."""
        if isinstance(exc, SQLAlchemyError):
            return database_down(exc)
        log.error("Exception on %s [%s]", TOKEN_ROUTE, method, exc_info=exc)
        return http_error(InternalServerError(original_exception=exc))


def token_get(server: Server, request: Request) -> Answer:
    """GET /token as docker and skopeo call it; an issued token's grant goes into the environ for the access log."""
    config = server.config
    problem = _service_problem(config, request.args.getlist("service"))
    if problem:
        return registry_answer(400, "INVALID_REQUEST", problem)
    try:
        scopes = parse_scopes(request.args.getlist("scope"))
        credentials = parse_basic(request.headers.get("Authorization"))
    except ScopeError as exc:
        return registry_answer(400, "INVALID_SCOPE", str(exc))
    except BadRequest as exc:
        return registry_answer(400, "INVALID_REQUEST", str(exc))
    address = caller_address(config, request)
    try:
        subject, views = server.authenticator.admit(credentials, address, namespaces_of(scopes))
    except AuthFailed as exc:
        who = server.log_name(credentials.username, exc)
        log.info("token refused: bad credentials for %s from %s", who, address)
        return registry_answer(401, "UNAUTHORIZED", str(exc), BASIC_CHALLENGE)
    except Throttled as exc:
        return registry_answer(429, "TOOMANYREQUESTS", str(exc), {"Retry-After": str(int(exc.retry_after) + 1)})
    access = server.access_for(subject, scopes, views)
    request.environ[GRANT_ENVIRON_KEY] = grant_text(subject, access)
    return Answer(200, server.issue(subject, access))


def token_routes(server: Server) -> Blueprint:
    """The realm: GET as docker and skopeo call it, POST as containerd does (password grant)."""
    routes = Blueprint("token", __name__)
    config = server.config

    @routes.get(TOKEN_ROUTE)
    def token_get_in_flask():
        # TokenGate answers every GET and HEAD before Flask sees it. The rule keeps Flask's routing true
        # (OPTIONS and 405 name GET), and answers with the same function behind Flask's own hooks, which
        # tests/test_token_gate.py compares the gate's answers with.
        return flask_response(token_get(server, request))

    @routes.post("/token")
    def token_post():
        form = request.form
        problem = _service_problem(config, form.getlist("service"))
        grant_type = form.get("grant_type", "")
        username, password = form.get("username", ""), form.get("password")
        if problem:
            return oauth_error(400, "invalid_request", problem)
        if grant_type != "password":
            return oauth_error(
                400,
                "unsupported_grant_type",
                "only grant_type=password is supported (this server issues no refresh tokens)",
            )
        if not username or password is None:
            return oauth_error(400, "invalid_request", "grant_type=password needs username and password")
        address = caller_address(config, request)
        try:
            scopes = parse_scopes(form.getlist("scope"))
            credentials = Credentials(username, password)
            subject, views = server.authenticator.admit(credentials, address, namespaces_of(scopes))
        except ScopeError as exc:
            return oauth_error(400, "invalid_scope", str(exc))
        except AuthFailed as exc:
            log.info("token refused: bad credentials for %s from %s", server.log_name(username, exc), address)
            return oauth_error(401, "invalid_grant", str(exc))
        except Throttled as exc:
            return oauth_error(429, "slow_down", str(exc), {"Retry-After": str(int(exc.retry_after) + 1)})
        access = server.access_for(subject, scopes, views)
        request.environ[GRANT_ENVIRON_KEY] = grant_text(subject, access)
        body = server.issue(subject, access)
        granted = [Scope(a["type"], a["name"], tuple(a["actions"])).text() for a in access if a["actions"]]
        body["scope"] = " ".join(granted)
        return jsonify(body)

    return routes


def event_routes(server: Server) -> Blueprint:
    """The registry's notifications: answered 2xx only once every event in the body is committed."""
    routes = Blueprint("events", __name__)

    @routes.post("/events")
    def events():
        if server.notifications_secret is None:
            return registry_error(404, "UNSUPPORTED", "notifications are turned off on this server")
        given = request.headers.get("Authorization", "").encode("utf-8")
        expected = f"Bearer {server.notifications_secret}".encode()
        if not hmac.compare_digest(given, expected):
            return registry_error(401, "UNAUTHORIZED", "the notification does not carry the shared secret")
        if request.mimetype not in notifications.EVENT_MEDIA_TYPES:
            return registry_error(415, "UNSUPPORTED", f"unsupported content type {request.mimetype!r}")
        try:
            events = notifications.parse_body(request.get_data(cache=False))
        except notifications.EventError as exc:
            return registry_error(400, "INVALID_REQUEST", str(exc))
        counts = {"stored": 0, "duplicates": 0, "ignored": 0}
        for event in events:
            try:
                activity = notifications.to_activity(event, server.config.notifications_record_pulls)
            except notifications.EventError as exc:
                # Skipped with a warning: refusing it would make the registry retry it
                # forever and hold up every event queued behind it.
                log.warning("notification event skipped: %s", exc)
                activity = None
            if activity is None:
                counts["ignored"] += 1
            elif server.store.record_event(activity.row(), _change_for(server.store, activity)):
                counts["stored"] += 1
            else:
                counts["duplicates"] += 1
        server.metrics.events(counts["stored"], counts["duplicates"], counts["ignored"])
        return jsonify(counts)

    return routes


def operation_routes(server: Server) -> Blueprint:
    routes = Blueprint("operations", __name__)

    @routes.get("/healthz")
    def healthz():
        try:
            server.store.ping()
            warnings = server.forwarded.report() if server.forwarded is not None else []
        except SQLAlchemyError:
            return jsonify({"status": "database unreachable"}), 503
        return jsonify({"status": "ok", **({"warnings": warnings} if warnings else {})})

    @routes.get("/metrics")
    def metrics():
        allowed = _in_networks(caller_address(server.config, request), server.config.metrics_allow)
        if not allowed and not _bearer_matches(request.headers.get("Authorization"), server.metrics_token):
            return registry_error(
                403,
                "DENIED",
                "the metrics are served only to the networks in metrics.allow or with the bearer token "
                "of metrics.token_file",
            )
        data, content_type = server.metrics.render()
        return Response(data, content_type=content_type)

    return routes


def _bearer_matches(header: str | None, secret: str | None) -> bool:
    if not secret or not header:
        return False
    return hmac.compare_digest(header.encode("utf-8", errors="surrogatepass"), f"Bearer {secret}".encode())


def grant_text(subject: Subject, access: list[dict]) -> str:
    """Who got what, for the access log line: ``token for 'alice': repository:web/app:pull,push``."""
    granted = ", ".join(f"{a['type']}:{a['name']}:{','.join(a['actions']) or '-'}" for a in access) or "no access"
    return f"token for {subject.login or '(anonymous)'!r}: {granted}"


def _change_for(store: Store, activity: notifications.Activity):
    """What an activity does to the repositories and tags the server knows, as of the registry's time of it.

    A tag the server knows a later change of stays as it is (the store asks
    ``notifications.event_applies``); the activity is recorded all the same.
    """
    at = activity.occurred_at

    def push(conn):
        if not activity.tag:
            store.ensure_repository(conn, activity.repository)
        elif not store.put_tag(conn, activity.repository, activity.tag, activity.digest or "", activity.media_type, at):
            log.info(
                "event %s: push of %s:%s at %s left out: a later change of the tag is known",
                activity.event_id, activity.repository, activity.tag, at.isoformat(),
            )  # fmt: skip

    def remove(conn):
        if activity.tag:
            store.delete_tag(conn, activity.repository, activity.tag, at)
        elif activity.digest:
            store.delete_digest(conn, activity.repository, activity.digest, at)
        else:
            store.delete_repository_as_of(conn, activity.repository, at)

    return {"push": push, "delete": remove}.get(activity.action)

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The WSGI application: token endpoint, notifications receiver, admin API, health and metrics.

Routes:
  GET/POST /token          the registry's realm (docker token auth; OAuth2 password grant)
  POST     /events         registry notifications (shared secret in the Authorization header)
  GET      /healthz        200 when the database answers, 503 otherwise
  GET      /metrics        Prometheus metrics
  /api/v1/...              the admin API (see api.py)
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from dockyard_auth import notifications, tokens
from dockyard_auth.api import create_api
from dockyard_auth.authn import (
    Authenticator,
    AuthFailed,
    BadRequest,
    Credentials,
    Throttled,
    client_address,
    parse_basic,
)
from dockyard_auth.config import Config
from dockyard_auth.database import make_engine
from dockyard_auth.metrics import Metrics
from dockyard_auth.names import parse_repository
from dockyard_auth.passwords import CredentialCache, Hasher
from dockyard_auth.permissions import Subject, allowed_actions, catalog_allowed, grant
from dockyard_auth.scopes import Scope, ScopeError, parse_scopes
from dockyard_auth.store import GLOBAL, Store
from dockyard_auth.throttle import Backoff

log = logging.getLogger("dockyard_auth")


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

    @classmethod
    def from_config(cls, config: Config, engine=None) -> Server:
        engine = engine or make_engine(config.database_url, config.database_password(), config.database_pool_size)
        store = Store(engine)
        hasher = Hasher(config.bcrypt_rounds)
        authenticator = Authenticator(
            store=store,
            hasher=hasher,
            cache=CredentialCache(config.credential_cache_ttl),
            backoff=Backoff(
                store=store,
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
        )

    # -- token grants ---------------------------------------------------------
    def access_for(self, subject: Subject, scopes: list[Scope]) -> list[dict]:
        """The token's access list: every requested resource, with the actions granted on it."""
        namespaces = {}
        for scope in scopes:
            if scope.type == "repository":
                namespaces[scope.name] = parse_repository(scope.name).namespace or GLOBAL
        views = self.store.namespace_views(subject, set(namespaces.values())) if namespaces else {}
        access = []
        for scope in scopes:
            if scope.type == "repository":
                allowed = allowed_actions(subject, views.get(namespaces[scope.name]), self.config.policy)
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
            subject=subject.name,
            access=access,
            now=now,
            ttl=self.config.token_ttl,
            jti=tokens.new_jti(),
        )
        token = self.signer.sign(claims)
        issued_at = dt.datetime.fromtimestamp(now, dt.UTC)
        return tokens.token_response(token, ttl=self.config.token_ttl, issued_at=issued_at)


# -- errors in the protocol's own shapes --------------------------------------
def registry_error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    """The token GET's errors: distribution's ``{"errors": [{"code", "message"}]}``."""
    response = jsonify({"errors": [{"code": code, "message": message}]})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


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

    @app.after_request
    def _count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unknown"
        server.metrics.observe(route, response.status_code, time.perf_counter() - g.get("started", time.perf_counter()))
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(SQLAlchemyError)
    def _database_down(exc):
        log.error("database error: %s", exc.__class__.__name__)
        return registry_error(503, "UNAVAILABLE", "the database is unavailable; retry later", {"Retry-After": "5"})

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return registry_error(exc.code or 500, exc.name.upper().replace(" ", "_"), exc.description or exc.name)

    app.register_blueprint(token_routes(server))
    app.register_blueprint(event_routes(server))
    app.register_blueprint(operation_routes(server))
    app.register_blueprint(create_api(server), url_prefix="/api/v1")
    return app


def caller_address(config: Config) -> str:
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), config.trusted_proxies)


def _service_problem(config: Config, values: list[str]) -> str | None:
    if len(values) != 1 or not values[0]:
        return "give exactly one service parameter: the registry's auth.token.service"
    if values[0] != config.service:
        return f"this server issues tokens for the service {config.service!r} only"
    return None


def token_routes(server: Server) -> Blueprint:
    """The realm: GET as docker and skopeo call it, POST as containerd does (password grant)."""
    routes = Blueprint("token", __name__)
    config = server.config

    @routes.get("/token")
    def token_get():
        problem = _service_problem(config, request.args.getlist("service"))
        if problem:
            return registry_error(400, "INVALID_REQUEST", problem)
        try:
            scopes = parse_scopes(request.args.getlist("scope"))
            credentials = parse_basic(request.headers.get("Authorization"))
        except ScopeError as exc:
            return registry_error(400, "INVALID_SCOPE", str(exc))
        except BadRequest as exc:
            return registry_error(400, "INVALID_REQUEST", str(exc))
        try:
            subject = server.authenticator.authenticate(credentials, caller_address(config))
        except AuthFailed as exc:
            log.info("token refused: bad credentials for %r from %s", credentials.username, caller_address(config))
            return registry_error(401, "UNAUTHORIZED", str(exc), BASIC_CHALLENGE)
        except Throttled as exc:
            return registry_error(429, "TOOMANYREQUESTS", str(exc), {"Retry-After": str(int(exc.retry_after) + 1)})
        access = server.access_for(subject, scopes)
        log.info("token for %r: %s", subject.name or "(anonymous)", _describe(access))
        return jsonify(server.issue(subject, access))

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
        try:
            scopes = parse_scopes(form.getlist("scope"))
            subject = server.authenticator.authenticate(Credentials(username, password), caller_address(config))
        except ScopeError as exc:
            return oauth_error(400, "invalid_scope", str(exc))
        except AuthFailed as exc:
            log.info("token refused: bad credentials for %r from %s", username, caller_address(config))
            return oauth_error(401, "invalid_grant", str(exc))
        except Throttled as exc:
            return oauth_error(429, "slow_down", str(exc), {"Retry-After": str(int(exc.retry_after) + 1)})
        access = server.access_for(subject, scopes)
        log.info("token for %r: %s", subject.name, _describe(access))
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
            events = notifications.parse_envelope(request.get_json(force=True, silent=True))
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
        except SQLAlchemyError:
            return jsonify({"status": "database unreachable"}), 503
        return jsonify({"status": "ok"})

    @routes.get("/metrics")
    def metrics():
        data, content_type = server.metrics.render()
        return Response(data, content_type=content_type)

    return routes


def _describe(access: list[dict]) -> str:
    return ", ".join(f"{a['type']}:{a['name']}:{','.join(a['actions']) or '-'}" for a in access) or "no access"


def _change_for(store: Store, activity: notifications.Activity):
    """What an activity does to the repositories and tags the server knows."""

    def push(conn):
        if activity.tag:
            store.put_tag(conn, activity.repository, activity.tag, activity.digest or "", activity.media_type)
        else:
            store.ensure_repository(conn, activity.repository)

    def remove(conn):
        if activity.tag:
            store.delete_tag(conn, activity.repository, activity.tag)
        elif activity.digest:
            store.delete_digest(conn, activity.repository, activity.digest)
        else:
            store.delete_repository(conn, activity.repository)

    return {"push": push, "delete": remove}.get(activity.action)

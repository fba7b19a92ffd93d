# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one client of dockyard-auth's admin API (``/api/v1``) and of its token endpoint.

Generic: it knows the API's conventions, not any resource. JSON in and out,
HTTP Basic credentials on every call, ``Content-Type: application/json`` on
every POST, PUT, PATCH and DELETE (the server refuses a changing call without
it, with a body or without), lists read page by page (``offset``/``limit``,
at most 500 a page) until ``total``. Every failure, whether no answer came
(refused connection, timeout, TLS) or an unexpected one (4xx, 5xx, a body that
is not JSON), is an `AuthApiError` naming the method and the URL and carrying
the server's own message from its ``{"errors": [{"code", "message"}]}`` body.

Uses ansible.module_utils.urls only (no third-party library on the target).
Private to the collection: the interface may change without notice.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

API_SUFFIX = "/api/v1"
PAGE_LIMIT = 500  # the API's largest page
DEFAULT_TIMEOUT = 30
USER_AGENT = "dockyard.registry"
CHANGING_METHODS = ("POST", "PUT", "PATCH", "DELETE")
MESSAGE_MAX = 300


class AuthApiError(Exception):
    """A call that failed: `method`, `url`, `status` (None when no HTTP answer came) and `message`."""

    def __init__(self, method: str, url: str, status: int | None, message: str) -> None:
        self.method, self.url, self.status, self.message = method, url, status, message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.status is None:
            return f"{self.method} {self.url} failed: {self.message}"
        return f"{self.method} {self.url} answered {self.status}: {self.message}"


def token_url_for(api_url: str) -> str | None:
    """The token endpoint beside an API base ('.../auth/api/v1' -> '.../auth/token'); None if not derivable."""
    base = api_url.rstrip("/")
    if not base.endswith(API_SUFFIX):
        return None
    return base[: -len(API_SUFFIX)] + "/token"


def basic_authorization(username: str, password: str) -> str:
    """An HTTP Basic Authorization header's value (UTF-8, as the server reads it)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def server_message(raw: bytes) -> str:
    """The messages of an ``{"errors": [...]}`` body, else the start of the body as text."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for error in errors:
                if isinstance(error, dict):
                    code, message = error.get("code"), error.get("message")
                    parts.append(f"{message} ({code})" if code else str(message))
            if parts:
                return "; ".join(parts)
        if "error" in body:  # RFC 6749, from POST /token
            return str(body.get("error_description") or body["error"])
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return "no message in the answer"
    return text if len(text) <= MESSAGE_MAX else text[:MESSAGE_MAX] + "..."


def _no_answer(exc: Exception, timeout: int) -> str:
    """What went wrong when no HTTP answer came, with what to check."""
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout} s; check the URL and that the server is up, or raise timeout"
    if isinstance(exc, SSLValidationError) or isinstance(reason, ssl.SSLError):
        return (
            f"TLS failed ({reason}); give the CA bundle that signed the server's certificate in ca_path "
            "(validate_certs=false only for a test)"
        )
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused ({reason}); check the URL and that the server is up"
    return f"cannot reach the server ({reason}); check the URL and that the server is up"


class AuthApi:
    """The admin API at `api_url` (e.g. https://registry.example.com/auth/api/v1), as one admin or api_admin robot.

    `opener` is ansible.module_utils.urls.open_url; tests may pass another with its signature.
    """

    def __init__(
        self,
        api_url: str,
        username: str,
        password: str,
        *,
        ca_path: str | None = None,
        validate_certs: bool = True,
        timeout: int = DEFAULT_TIMEOUT,
        opener=open_url,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.username = username
        self._authorization = basic_authorization(username, password)
        self.ca_path = ca_path
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.opener = opener

    def set_credentials(self, username: str, password: str) -> None:
        """Call as `username` from now on (after changing one's own password or secret, for example)."""
        self.username = username
        self._authorization = basic_authorization(username, password)

    def url(self, path: str, query: dict | None = None) -> str:
        """The URL of `path` (below the base, starting with '/'), with `query` encoded."""
        return self.api_url + path + ("?" + urlencode(query) if query else "")

    def send(self, method: str, url: str, body=None, authorization: str | None = None) -> tuple[int, bytes]:
        """One request; (status, raw body) for every HTTP answer, AuthApiError when none came."""
        headers = {"Accept": "application/json", "Authorization": authorization or self._authorization}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        if method in CHANGING_METHODS:
            headers["Content-Type"] = "application/json"
        try:
            response = self.opener(
                url,
                data=data,
                headers=headers,
                method=method,
                timeout=self.timeout,
                validate_certs=self.validate_certs,
                ca_path=self.ca_path,
                follow_redirects="none",
                use_netrc=False,
                http_agent=USER_AGENT,
            )
            try:
                return response.getcode(), response.read()
            finally:
                response.close()
        except HTTPError as exc:
            try:
                raw = exc.read() or b""
            except (OSError, http.client.HTTPException):
                raw = b""
            if 300 <= exc.code < 400:
                location = exc.headers.get("Location") if exc.headers else None
                raw = f"redirected to {location}; use that URL".encode() if location else raw
            return exc.code, raw
        except (URLError, UrlsConnectionError, http.client.HTTPException, OSError, ValueError) as exc:
            raise AuthApiError(method, url, None, _no_answer(exc, self.timeout)) from exc

    def request(self, method: str, path: str, body=None, query: dict | None = None):
        """Call the API; the answer's JSON (None for an empty body), AuthApiError unless the status is 2xx."""
        url = self.url(path, query)
        status, raw = self.send(method, url, body)
        if status == 401:
            raise AuthApiError(
                method,
                url,
                status,
                f"the API credentials were refused ({server_message(raw)}): check api_username "
                f"{self.username!r} and api_password; the user must be an admin (or an api_admin robot)",
            )
        if not 200 <= status < 300:
            raise AuthApiError(method, url, status, server_message(raw))
        if not raw.strip():
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise AuthApiError(method, url, status, f"unexpected answer, not JSON: {server_message(raw)}") from exc

    def get(self, path: str, query: dict | None = None):
        return self.request("GET", path, query=query)

    def post(self, path: str, body=None):
        return self.request("POST", path, body)

    def put(self, path: str, body=None):
        return self.request("PUT", path, body)

    def patch(self, path: str, body=None):
        return self.request("PATCH", path, body)

    def delete(self, path: str):
        return self.request("DELETE", path)

    def list_all(self, path: str, query: dict | None = None) -> list:
        """Every item of a list route, read page by page until the answer's total."""
        items: list = []
        while True:
            window = dict(query or {}, offset=len(items), limit=PAGE_LIMIT)
            page = self.get(path, window)
            if not (
                isinstance(page, dict) and isinstance(page.get("items"), list) and isinstance(page.get("total"), int)
            ):
                raise AuthApiError("GET", self.url(path, window), 200, "unexpected answer: not a page of items")
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return items

    def login_works(self, token_url: str, service: str, username: str, password: str) -> bool | None:
        """Whether the token endpoint takes `username` and `password`: True, False, or None when it cannot tell.

        None when the server holds the caller back (429). Other answers are an AuthApiError.
        """
        url = token_url + "?" + urlencode({"service": service})
        status, raw = self.send("GET", url, authorization=basic_authorization(username, password))
        if status == 200:
            return True
        if status == 401:
            return False
        if status == 429:
            return None
        raise AuthApiError("GET", url, status, f"checking the password of {username!r}: {server_message(raw)}")

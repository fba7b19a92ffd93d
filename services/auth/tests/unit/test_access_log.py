# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The access log line: the server's cheaper logger writes what gunicorn's own would."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from dockyard_auth.app import GRANT_ENVIRON_KEY
from dockyard_auth.cli import ACCESS_LOG_FORMAT, GRANT_ATOM, AccessLogger


def line(logger_class, resp, environ, took) -> str:
    logger = logger_class(Config())
    request = SimpleNamespace(headers=[("HOST", "auth"), ("AUTHORIZATION", "Basic YWxpY2U6cHc=")])
    return ACCESS_LOG_FORMAT % logger.atoms_wrapper_class(logger.atoms(resp, request, environ, took))


@pytest.mark.parametrize(
    ("status", "sent", "took"),
    [
        ("200 OK", 3012, dt.timedelta(microseconds=5321)),
        ("401 UNAUTHORIZED", 95, dt.timedelta(seconds=1, microseconds=7)),
        (429, 0, dt.timedelta(0)),
        ("500 INTERNAL SERVER ERROR", None, dt.timedelta(seconds=61)),
    ],
)
def test_the_line_is_gunicorns(status, sent, took):
    resp = SimpleNamespace(status=status, sent=sent, headers=[("Content-Type", "application/json")])
    environ = {
        "REMOTE_ADDR": "192.0.2.7",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/token",
        "QUERY_STRING": "service=registry&scope=repository:secret/name:pull",
        "RAW_URI": "/token?service=registry&scope=repository:secret/name:pull",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    ours = line(AccessLogger, resp, environ, took)
    assert ours == line(glogging.Logger, resp, environ, took)
    assert "secret" not in ours  # no query string


def test_an_issued_tokens_grant_ends_its_line_and_no_other():
    resp = SimpleNamespace(status="200 OK", sent=812, headers=[("Content-Type", "application/json")])
    environ = {
        "REMOTE_ADDR": "192.0.2.7",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/token",
        "QUERY_STRING": "service=registry",
        "RAW_URI": "/token?service=registry",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    took = dt.timedelta(microseconds=3100)
    granted = {**environ, GRANT_ENVIRON_KEY: "token for 'alice': repository:web/app:pull,push"}
    assert GRANT_ATOM == "{%s}e" % GRANT_ENVIRON_KEY  # noqa: UP031 - gunicorn's name for an environ entry
    ours = line(AccessLogger, resp, granted, took)
    assert ours == line(glogging.Logger, resp, granted, took)
    assert ours == """192.0.2.7 "GET /token" 200 812 0.003100s token for 'alice': repository:web/app:pull,push"""
    assert line(AccessLogger, resp, environ, took) == '192.0.2.7 "GET /token" 200 812 0.003100s -'

"""The proxy role's cached basic auth (roles/proxy/files/DockyardBasicAuth.pm) in the real nginx image.

nginx's perl module runs it in each worker: the password is checked with
bcrypt once and remembered under a keyed hash, while every request still
looks at the htpasswd file, so a changed password or a removed user is
refused from the next request on. The site below wires it as the role's
template does.
"""

from __future__ import annotations

import base64
import os
import shutil
import urllib.error
import urllib.request

import pytest
from passlib.hash import bcrypt

from tests.conftest import ROOT, docker
from tests.integration.test_images import http_get, published_port

pytestmark = pytest.mark.images

SITE = """
perl_modules /etc/dockyard/perl;
perl_require DockyardBasicAuth.pm;
perl_set $dockyard_basic_user DockyardBasicAuth::user;
map $status $dockyard_basic_challenge { 401 'Basic realm="Test"'; default ''; }
server {
    listen 80;
    location = /ready { return 200 "ready\\n"; }
    location /v2/ {
        set $dockyard_htpasswd /etc/dockyard/auth/htpasswd;
        if ($dockyard_basic_user = "") { return 401; }
        add_header WWW-Authenticate $dockyard_basic_challenge always;
        return 200 "user=$dockyard_basic_user\\n";
    }
}
"""


def write_users(auth_dir, users: dict[str, str], ident: str = "2b") -> None:
    """Replace the file by rename, as registry_htpasswd does."""
    lines = "".join(f"{name}:{bcrypt.using(rounds=10, ident=ident).hash(pw)}\n" for name, pw in users.items())
    new = auth_dir / ".htpasswd.new"
    new.write_text(lines)
    new.chmod(0o644)
    os.replace(new, auth_dir / "htpasswd")


def get(port: int, header: str | None) -> tuple[int, str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/")
    if header is not None:
        request.add_header("Authorization", header)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 (loopback only)
            return resp.status, resp.read().decode(), resp.headers.get("WWW-Authenticate", "")
    except urllib.error.HTTPError as exc:
        return exc.code, "", exc.headers.get("WWW-Authenticate", "")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def nginx(container, tmp_path):
    for sub in ("conf.d", "perl", "auth"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub).chmod(0o755)
    (tmp_path / "conf.d" / "site.conf").write_text(SITE)
    shutil.copy(ROOT / "roles" / "proxy" / "files" / "DockyardBasicAuth.pm", tmp_path / "perl")
    write_users(tmp_path / "auth", {"alice": "alice-pw-1", "bob": "bob-pw"})
    name = container(
        "dockyard/nginx:latest",
        options=(
            "-p", "127.0.0.1::80",
            "-v", f"{tmp_path / 'conf.d'}:/etc/nginx/conf.d:ro",
            "-v", f"{tmp_path / 'perl'}:/etc/dockyard/perl:ro",
            "-v", f"{tmp_path / 'auth'}:/etc/dockyard/auth:ro",
        ),
    )  # fmt: skip
    port = published_port(name, 80)
    assert http_get(f"http://127.0.0.1:{port}/ready")[0] == 200
    return name, port, tmp_path / "auth"


def test_right_credentials_pass_and_everything_else_gets_the_challenge(nginx):
    name, port, _auth = nginx
    assert "syntax is ok" in docker("exec", name, "nginx", "-t").stderr
    for _attempt in range(3):  # checked once, then remembered: the same answer every time
        assert get(port, basic("alice", "alice-pw-1"))[:2] == (200, "user=alice\n")
    challenge = 'Basic realm="Test"'
    for header in (
        None,
        basic("alice", "wrong"),
        basic("nobody", "alice-pw-1"),
        basic("alice", ""),
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Bearer abc",
    ):
        assert get(port, header) == (401, "", challenge), header


def test_a_changed_password_or_a_removed_user_is_refused_at_the_next_request(nginx):
    _name, port, auth = nginx
    for _attempt in range(5):
        assert get(port, basic("alice", "alice-pw-1"))[0] == 200
        assert get(port, basic("bob", "bob-pw"))[0] == 200
    write_users(auth, {"alice": "alice-pw-2", "bob": "bob-pw"})
    assert get(port, basic("alice", "alice-pw-1"))[0] == 401
    assert get(port, basic("alice", "alice-pw-2"))[:2] == (200, "user=alice\n")
    assert get(port, basic("bob", "bob-pw"))[0] == 200
    write_users(auth, {"alice": "alice-pw-2"})
    assert get(port, basic("bob", "bob-pw"))[0] == 401
    assert get(port, basic("alice", "alice-pw-2"))[0] == 200


def test_hashes_written_as_2y_by_htpasswd_are_read_too(nginx):
    _name, port, auth = nginx
    write_users(auth, {"carol": "carol-pw"}, ident="2y")
    assert get(port, basic("carol", "carol-pw"))[:2] == (200, "user=carol\n")
    assert get(port, basic("carol", "other"))[0] == 401

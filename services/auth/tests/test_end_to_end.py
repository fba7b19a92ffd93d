# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The token server's image with the real registry, MariaDB and clients: docker, skopeo and containerd's ctr.

One docker network holds MariaDB, the token server (dockyard/auth) and two
registries (Debian's docker-registry in dockyard/registry) in token mode,
each trusting the signing certificate alone. The first sends notifications
to the token server; the second sends none. The clients run on this machine
and reach the registries and the realm on loopback ports.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid

import jwt
import pytest
from conftest import docker, self_signed, write_pair
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from dockyard_auth import tokens

pytestmark = pytest.mark.service

SERVICE = "registry.e2e.test"
ISSUER = "dockyard-auth"
CONTAINERD = "/var/run/docker/containerd/containerd.sock"


def published_port(name: str, port: int) -> int:
    return int(docker("port", name, str(port)).stdout.split()[0].rsplit(":", 1)[1])


def http(method: str, url: str, *, body: dict | None = None, auth: tuple[str, str] | None = None, headers=None):
    """One HTTP request on loopback: (status, headers, parsed JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 (loopback only)
            status, resp_headers, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        status, resp_headers, raw = exc.code, exc.headers, exc.read()
    try:
        return status, resp_headers, json.loads(raw) if raw else None
    except ValueError:
        return status, resp_headers, raw.decode(errors="replace")


def wait_for(check, what: str, seconds: int = 60):
    """Poll ``check`` once a second until it returns something true; bounded in time."""
    last = None
    for _second in range(seconds):
        try:
            last = check()
        except OSError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(1)
    pytest.fail(f"{what}: not after {seconds} s (last: {last!r})")


def registry_config(realm: str, notify_url: str | None, secret: str) -> str:
    lines = [
        "version: 0.1",
        "log: {level: info}",
        "storage: {filesystem: {rootdirectory: /var/lib/registry}, delete: {enabled: true}}",
        "http: {addr: ':5000', secret: e2e-upload-secret}",
        "auth:",
        "  token:",
        f"    realm: {realm}",
        f"    service: {SERVICE}",
        f"    issuer: {ISSUER}",
        "    rootcertbundle: /etc/docker/registry/token-signer.crt",
    ]
    if notify_url:
        lines += [
            "notifications:",
            "  endpoints:",
            "    - name: dockyard-auth",
            f"      url: {notify_url}",
            f"      headers: {{Authorization: ['Bearer {secret}']}}",
            "      timeout: 2s",
            "      threshold: 3",
            "      backoff: 1s",
        ]
    return "\n".join(lines) + "\n"


class Stack:
    """Names, ports and secrets of the running stack."""

    def __init__(self, tag: str, tmp) -> None:
        self.tag = tag
        self.tmp = tmp
        self.network = f"dockyard-e2e-{tag}"
        self.db = f"dockyard-e2e-db-{tag}"
        self.auth = f"dockyard-e2e-auth-{tag}"
        self.registry = f"dockyard-e2e-registry-{tag}"
        self.quiet = f"dockyard-e2e-quiet-{tag}"
        self.admin = ("admin", secrets.token_urlsafe(12))
        self.events_secret = secrets.token_urlsafe(24)
        self.containers: list[str] = []

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.auth_port}/api/v1"

    def run(self, name: str, *args: str) -> None:
        self.containers.append(name)
        docker("run", "-d", "--name", name, "--network", self.network, *args)


def _start(stack: Stack) -> None:
    tmp = stack.tmp
    docker("network", "create", stack.network)
    db_password = secrets.token_urlsafe(16)
    stack.run(
        stack.db, "--network-alias", "db", "-e", f"MARIADB_ROOT_PASSWORD={secrets.token_urlsafe(16)}",
        "-e", "MARIADB_DATABASE=dockyard", "-e", "MARIADB_USER=dockyard", "-e", f"MARIADB_PASSWORD={db_password}",
        "dockyard/mariadb:latest",
    )  # fmt: skip

    # The token server's files, readable by its user (uid 10001) only where secret.
    conf = tmp / "auth"
    conf.mkdir()
    stack.signer_key, stack.signer_cert = self_signed("dockyard e2e token signer")
    key_path, cert_path = write_pair(conf, "token-signer", stack.signer_key, stack.signer_cert)
    (conf / "db-password").write_text(db_password)
    (conf / "admin-password").write_text(stack.admin[1])
    (conf / "events-secret").write_text(stack.events_secret)
    (conf / "config.yml").write_text(
        json.dumps(
            {
                "service": SERVICE,
                "issuer": ISSUER,
                "token": {"signing_key": "/etc/dockyard-auth/token-signer.key",
                          "signing_cert": "/etc/dockyard-auth/token-signer.crt"},
                "database": {"url": "mysql+pymysql://dockyard@db:3306/dockyard",
                             "password_file": "/etc/dockyard-auth/db-password"},
                "notifications": {"secret_file": "/etc/dockyard-auth/events-secret"},
                "registry": {"url": f"http://{stack.quiet}:5000"},
                "bootstrap_admin": {"name": "admin", "password_file": "/etc/dockyard-auth/admin-password"},
                # Every client here reaches the server from one address, and the refusals these tests
                # provoke add up; back-off has tests of its own (test_backoff.py, test_token_endpoint.py).
                "security": {"bcrypt_rounds": 10, "backoff": {"threshold": 100}},
            }
        )
    )  # fmt: skip
    conf.chmod(0o755)
    for secret in ("token-signer.key", "db-password", "admin-password", "events-secret"):
        (conf / secret).chmod(0o600)
        subprocess.run(["chown", "10001:10001", str(conf / secret)], check=True)
    for public in ("token-signer.crt", "config.yml"):
        (conf / public).chmod(0o644)

    wait_for(
        lambda: docker("inspect", "--format", "{{.State.Health.Status}}", stack.db).stdout.strip() == "healthy",
        "MariaDB healthy",
        120,
    )
    stack.run(stack.auth, "--network-alias", "auth", "-p", "127.0.0.1::5001", "-v", f"{conf}:/etc/dockyard-auth:ro",
              "dockyard/auth:latest")  # fmt: skip
    stack.auth_port = published_port(stack.auth, 5001)
    wait_for(lambda: http("GET", f"http://127.0.0.1:{stack.auth_port}/healthz")[0] == 200, "token server healthy")

    realm = f"http://127.0.0.1:{stack.auth_port}/token"
    for name, notify in ((stack.registry, "http://auth:5001/events"), (stack.quiet, None)):
        rdir = tmp / name
        rdir.mkdir()
        (rdir / "config.yml").write_text(registry_config(realm, notify, stack.events_secret))
        (rdir / "token-signer.crt").write_bytes(cert_path.read_bytes())
        rdir.chmod(0o755)
        stack.run(name, "-p", "127.0.0.1::5000", "-v", f"{rdir}:/etc/docker/registry:ro", "dockyard/registry:latest")
    stack.port = published_port(stack.registry, 5000)
    stack.quiet_port = published_port(stack.quiet, 5000)
    for port in (stack.port, stack.quiet_port):
        wait_for(lambda p=port: http("GET", f"http://127.0.0.1:{p}/v2/")[0] == 401, "registry answers 401")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tag = uuid.uuid4().hex[:8]
    s = Stack(tag, tmp_path_factory.mktemp("e2e"))
    try:
        _start(s)
        _seed(s)
        yield s
    finally:
        if s.containers:
            for name in s.containers:
                if name == s.auth:
                    print(docker("logs", name, check=False).stderr[-3000:])
            docker("rm", "-f", "-v", *s.containers, check=False)
        docker("network", "rm", s.network, check=False)


def _seed(stack: Stack) -> None:
    """Accounts through the admin API, as an operator would make them."""
    admin = stack.admin

    def call(method, path, body=None):
        status, _h, answer = http(method, stack.api + path, body=body, auth=admin)
        assert status in (200, 201, 204), (method, path, status, answer)
        return answer

    stack.passwords = {"alice": "alice-password-1", "bob": "bob-password-1"}
    for user, password in stack.passwords.items():
        call("POST", "/users", {"name": user, "password": password})
    call("POST", "/teams", {"name": "web"})
    call("POST", "/teams/web/members", {"user": "alice", "role": "contributor"})
    call("POST", "/teams/web/members", {"user": "bob", "role": "viewer"})
    call("POST", "/namespaces", {"name": "web", "team": "web", "visibility": "private"})
    call("POST", "/namespaces", {"name": "pub", "team": "web", "visibility": "public"})
    robot = call("POST", "/robots", {"name": "ci"})
    stack.robot = (robot["login"], robot["secret"])
    call("PUT", "/robots/ci/permissions/web", {"actions": ["pull", "push"]})


# -- clients -----------------------------------------------------------------
def run(*args: str, env=None, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        list(args), capture_output=True, text=True, env=env, input=input_text, timeout=180, check=False
    )
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(args[:4])} failed ({proc.returncode}): {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    return proc


@pytest.fixture
def docker_cli(tmp_path, monkeypatch):
    """The docker CLI with a config directory of this test's own (its logins stay here)."""
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config"), "PATH": "/usr/bin:/bin"}

    def cli(*args: str, input_text: str | None = None, check: bool = True):
        return run("docker", *args, env=env, input_text=input_text, check=check)

    return cli


def small_image(docker_cli, ref: str) -> None:
    """A one-file image with unique content, made without any registry."""
    buffer = io.BytesIO()
    payload = f"dockyard e2e {uuid.uuid4()}\n".encode()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    proc = subprocess.run(
        ["docker", "import", "-", ref], input=buffer.getvalue(), capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr


def login(docker_cli, port: int, user: str, password: str, check: bool = True):
    return docker_cli("login", f"127.0.0.1:{port}", "-u", user, "--password-stdin", input_text=password, check=check)


def pushed_digest(output: str) -> str:
    match = re.search(r"digest: (sha256:[0-9a-f]{64})", output)
    assert match, output
    return match.group(1)


def activities(stack: Stack, repository: str) -> list[dict]:
    status, _h, body = http("GET", f"{stack.api}/activities?repository={repository}", auth=stack.admin)
    assert status == 200, body
    return body["items"]


# -- the user's story ----------------------------------------------------------
def test_push_where_allowed_and_one_activity_with_the_pushed_digest(stack, docker_cli):
    ref = f"127.0.0.1:{stack.port}/alice/app:1"
    small_image(docker_cli, ref)
    try:
        assert "Login Succeeded" in login(docker_cli, stack.port, "alice", stack.passwords["alice"]).stdout
        digest = pushed_digest(docker_cli("push", ref).stdout)
        items = wait_for(lambda: activities(stack, "alice/app"), "the push's activity", 30)
        time.sleep(2)  # a second notification of the same push would have arrived by now
        items = activities(stack, "alice/app")
        assert [(a["action"], a["actor"], a["tag"], a["digest"]) for a in items] == [("push", "alice", "1", digest)]

        # The registry's delivery, replayed: still one activity.
        event = {
            "id": items[0]["event_id"], "timestamp": "2026-11-23T10:00:00.123456789Z", "action": "push",
            "target": {"mediaType": items[0]["media_type"], "repository": "alice/app", "digest": digest, "tag": "1"},
            "actor": {"name": "alice"},
        }  # fmt: skip
        status, _h, answer = http(
            "POST", f"http://127.0.0.1:{stack.auth_port}/events", body={"events": [event]},
            headers={"Authorization": f"Bearer {stack.events_secret}"},
        )  # fmt: skip
        assert (status, answer["duplicates"]) == (200, 1)
        assert len(activities(stack, "alice/app")) == 1
        tags = http("GET", f"{stack.api}/repositories/alice/app/tags", auth=stack.admin)[2]["items"]
        assert [(t["name"], t["digest"]) for t in tags] == [("1", digest)]
    finally:
        docker_cli("rmi", ref, check=False)


def test_denied_where_not_allowed_in_dockers_own_words(stack, docker_cli):
    ref = f"127.0.0.1:{stack.port}/web/app:1"
    small_image(docker_cli, ref)
    try:
        login(docker_cli, stack.port, "bob", stack.passwords["bob"])  # a viewer of web
        denied = docker_cli("push", ref, check=False)
        assert denied.returncode != 0
        assert "denied: requested access to the resource is denied" in denied.stderr + denied.stdout
        bad = login(docker_cli, stack.port, "bob", "not-his-password", check=False)
        assert bad.returncode != 0 and "unauthorized" in bad.stderr.lower()
    finally:
        docker_cli("rmi", ref, check=False)


def test_anonymous_pull_of_a_public_namespace_but_not_of_a_private_one(stack, docker_cli):
    public, private = f"127.0.0.1:{stack.port}/pub/tool:1", f"127.0.0.1:{stack.port}/web/secret:1"
    small_image(docker_cli, public)
    small_image(docker_cli, private)
    try:
        login(docker_cli, stack.port, "alice", stack.passwords["alice"])  # contributor of web (owns pub)
        docker_cli("push", public)
        docker_cli("push", private)
        docker_cli("logout", f"127.0.0.1:{stack.port}")
        docker_cli("rmi", public, private)
        docker_cli("pull", public)
        refused = docker_cli("pull", private, check=False)
        assert refused.returncode != 0
        assert "denied" in refused.stderr
    finally:
        docker_cli("rmi", public, private, check=False)


def test_skopeo_and_ctr(stack, docker_cli, tmp_path):
    ref = f"127.0.0.1:{stack.port}/web/ci:1"
    small_image(docker_cli, ref)
    archive = tmp_path / "image.tar"
    docker_cli("save", "-o", str(archive), ref)
    docker_cli("rmi", ref)
    login_name, secret = stack.robot
    # skopeo pushes as the CI robot (GET with Basic), then reads it back.
    run(
        "skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", f"{login_name}:{secret}",
        f"docker-archive:{archive}", f"docker://{ref}",
    )  # fmt: skip
    inspected = json.loads(
        run("skopeo", "inspect", "--tls-verify=false", "--creds", f"{login_name}:{secret}", f"docker://{ref}").stdout
    )
    assert inspected["Name"] == f"127.0.0.1:{stack.port}/web/ci"
    # The registry records the token's subject as the actor: the robot, named as it logs in.
    pushes = wait_for(lambda: activities(stack, "web/ci"), "the robot's push in the activity log", 30)
    assert {(a["action"], a["actor"]) for a in pushes} == {("push", login_name)} and login_name == "robot+ci"
    refused = run("skopeo", "inspect", "--tls-verify=false", "--creds", "bob:wrong", f"docker://{ref}", check=False)
    assert refused.returncode != 0
    # ctr (containerd's client, which tries the OAuth2 POST first) pulls as alice.
    namespace = f"dockyard-e2e-{stack.tag}"
    ctr = ["ctr", "--address", CONTAINERD, "--namespace", namespace]
    try:
        run(*ctr, "images", "pull", "--plain-http", "--user", f"alice:{stack.passwords['alice']}", ref)
        listed = run(*ctr, "images", "ls", "-q").stdout.split()
        assert ref in listed
        denied = run(
            *ctr, "images", "pull", "--plain-http", "--user", "alice:wrong", ref.replace(":1", ":2"), check=False
        )
        assert denied.returncode != 0
    finally:
        run(*ctr, "images", "rm", ref, check=False)
        run(*ctr, "namespaces", "rm", namespace, check=False)


def _signed(key, cert, claims, chain=None) -> str:
    headers = {"x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain or [cert]]}
    headers["kid"] = tokens.libtrust_kid(cert.public_key())
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def _claims(**changes) -> dict:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "sub": "admin", "aud": SERVICE, "exp": now + 300, "nbf": now - 5, "iat": now,
        "jti": secrets.token_hex(8), "access": [{"type": "repository", "name": "alice/app", "actions": ["pull"]}],
    }  # fmt: skip
    claims.update(changes)
    return claims


def _ca_and_leaf():
    ca_key, ca_cert = self_signed("dockyard e2e server CA")
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry.e2e.test")]))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ca_cert.not_valid_before_utc)
        .not_valid_after(ca_cert.not_valid_after_utc)
        .sign(ca_key, hashes.SHA256())
    )
    return leaf_key, leaf, ca_cert


def test_the_registry_accepts_only_tokens_of_the_signing_key_for_its_service(stack):
    url = f"http://127.0.0.1:{stack.port}/v2/alice/app/tags/list"

    def status(token: str) -> int:
        return http("GET", url, headers={"Authorization": f"Bearer {token}"})[0]

    assert status(_signed(stack.signer_key, stack.signer_cert, _claims())) == 200  # the control
    other_key, other_cert = self_signed("someone else's signer")
    leaf_key, leaf, ca_cert = _ca_and_leaf()
    now = int(time.time())
    refused = {
        "another key": _signed(other_key, other_cert, _claims()),
        "a TLS leaf of a server CA": _signed(leaf_key, leaf, _claims(), chain=[leaf, ca_cert]),
        "expired": _signed(stack.signer_key, stack.signer_cert, _claims(exp=now - 600, nbf=now - 900, iat=now - 900)),
        "another service": _signed(stack.signer_key, stack.signer_cert, _claims(aud="other.registry")),
    }
    assert {what: status(token) for what, token in refused.items()} == dict.fromkeys(refused, 401)


def test_a_password_changed_through_the_api_is_refused_at_once(stack, docker_cli):
    old, new = stack.passwords["bob"], "bob-password-2"
    login(docker_cli, stack.port, "bob", old)  # verified and cached by the server
    status, _h, _b = http("PATCH", f"{stack.api}/users/bob", body={"password": new}, auth=stack.admin)
    assert status == 200
    refused = login(docker_cli, stack.port, "bob", old, check=False)
    assert refused.returncode != 0
    assert "Login Succeeded" in login(docker_cli, stack.port, "bob", new).stdout
    stack.passwords["bob"] = new


def test_without_notifications_a_push_makes_no_activity_and_the_sync_finds_it(stack, docker_cli):
    ref = f"127.0.0.1:{stack.quiet_port}/alice/quiet:1"
    small_image(docker_cli, ref)
    try:
        login(docker_cli, stack.quiet_port, "alice", stack.passwords["alice"])
        digest = pushed_digest(docker_cli("push", ref).stdout)
        time.sleep(3)  # as long as the notifying registry needs to deliver an event
        assert activities(stack, "alice/quiet") == []
        synced = docker("exec", stack.auth, "dockyard-auth", "sync", "--strategy", "update").stdout
        assert json.loads(synced.strip().splitlines()[-1])["tags_added"] >= 1
        tags = http("GET", f"{stack.api}/repositories/alice/quiet/tags", auth=stack.admin)[2]["items"]
        assert [(t["name"], t["digest"]) for t in tags] == [("1", digest)]
        assert activities(stack, "alice/quiet") == []  # activities come from events only
    finally:
        docker_cli("rmi", ref, check=False)


def test_the_pool_survives_a_mariadb_restart_and_the_logs_hold_no_secret(stack):
    docker("restart", stack.db)
    wait_for(
        lambda: docker("inspect", "--format", "{{.State.Health.Status}}", stack.db).stdout.strip() == "healthy",
        "MariaDB healthy again",
        120,
    )
    url = f"http://127.0.0.1:{stack.auth_port}/token?service={SERVICE}&scope=repository:web/app:pull"
    # Every pooled connection died with the restart; the next requests get fresh ones.
    statuses = [http("GET", url, auth=("alice", stack.passwords["alice"]))[0] for _ in range(4)]
    assert statuses == [200] * 4
    logs = docker("logs", stack.auth).stdout + docker("logs", stack.auth).stderr
    assert "token for 'alice'" in logs
    for secret in [*stack.passwords.values(), stack.admin[1], stack.events_secret, stack.robot[1]]:
        assert secret not in logs

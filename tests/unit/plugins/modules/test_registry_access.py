"""dockyard.registry.registry_access through its own entry point, against a real dockyard-auth server.

The module-scoped fixture runs the project's images (dockyard/mariadb, dockyard/auth) on this machine's
Docker engine, on a network of their own, with names starting dockyard-access-test-<random>, and removes
them afterwards. Nothing here is skipped: without a Docker engine and those images the tests fail.
The API client's own behaviour (headers, paging, error messages) is tested at the end with a fake opener.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from urllib.error import HTTPError, URLError

import pytest
from ansible_collections.dockyard.registry.plugins.module_utils import _auth_api
from ansible_collections.dockyard.registry.plugins.modules import registry_access
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.conftest import docker
from tests.unit.plugins.conftest import ModuleFailed, mode_of

pytestmark = pytest.mark.images

SERVICE = "registry.access.test"
PREFIX = "dockyard-access-test"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ALICE_PW = "alice password 1"
BOB_PW = "bob password 1"


# ---------------------------------------------------------------- the server


def http(method: str, url: str, body: dict | None = None, auth: tuple[str, str] | None = None, headers=None):
    """One request on loopback: (status, parsed JSON or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 (loopback)
    if method != "GET":
        request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw) if raw else None


def wait_for(check, what: str, seconds: int):
    last = None
    for _second in range(seconds):
        try:
            last = check()
        except OSError as exc:
            last = exc
        if last is True:
            return
        time.sleep(1)
    pytest.fail(f"{what}: not after {seconds} s (last: {last!r})")


def signing_pair(directory) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "access test token signer")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    (directory / "token-signer.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (directory / "token-signer.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class Server:
    """A running dockyard-auth with its MariaDB; `api` and `token` URLs on loopback, the bootstrap admin."""

    def __init__(self, tag: str) -> None:
        self.network = f"{PREFIX}-{tag}"
        self.db = f"{PREFIX}-{tag}-db"
        self.auth = f"{PREFIX}-{tag}-auth"
        self.admin = ("admin", secrets.token_urlsafe(12))
        self.events_secret = secrets.token_urlsafe(24)
        self.containers: list[str] = []
        self.port = 0

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    @property
    def token(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def run(self, name: str, *args: str) -> None:
        self.containers.append(name)
        docker("run", "-d", "--name", name, "--network", self.network, *args)

    def get(self, path: str):
        status, body = http("GET", self.api + path, auth=self.admin)
        assert status == 200, body
        return body

    def names(self, path: str) -> list[str]:
        return [item["name"] for item in self.get(path + "?limit=500")["items"]]

    def snapshot(self) -> dict:
        """Everything the module manages, as the API shows it (times left out)."""
        shot = {}
        for kind in ("users", "teams", "namespaces", "robots"):
            items = self.get(f"/{kind}?limit=500")["items"]
            shot[kind] = [{k: v for k, v in item.items() if not k.endswith("_at") and k != "expired"} for item in items]
        shot["members"] = {t["name"]: self.get(f"/teams/{t['name']}/members")["items"] for t in shot["teams"]}
        shot["grants"] = {r["name"]: self.get(f"/robots/{r['name']}/permissions")["items"] for r in shot["robots"]}
        return shot

    def notify(self, action: str, repository: str) -> None:
        """What the registry would send after a push or a delete of `repository` (now)."""
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        target = {"repository": repository}
        if action == "push":
            target.update(mediaType=MANIFEST, digest="sha256:" + "ab" * 32, tag="v1")
        event = {"id": uuid.uuid4().hex, "timestamp": now, "action": action, "target": target, "actor": {"name": "ci"}}
        headers = {"Authorization": f"Bearer {self.events_secret}"}
        status, answer = http("POST", f"http://127.0.0.1:{self.port}/events", {"events": [event]}, headers=headers)
        assert status == 200, answer

    def login(self, name: str, password: str) -> int:
        status, _body = http(
            "GET", f"{self.token}?service={SERVICE}&scope=repository:web/app:pull", auth=(name, password)
        )
        return status


def _start(server: Server, tmp) -> None:
    if shutil.which("docker") is None:
        pytest.fail("these tests run dockyard/auth and dockyard/mariadb: install Docker (scripts/setup.sh does)")
    docker("network", "create", server.network)
    db_password = secrets.token_urlsafe(16)
    server.run(
        server.db, "--network-alias", "db", "-e", f"MARIADB_ROOT_PASSWORD={secrets.token_urlsafe(16)}",
        "-e", "MARIADB_DATABASE=dockyard", "-e", "MARIADB_USER=dockyard", "-e", f"MARIADB_PASSWORD={db_password}",
        "dockyard/mariadb:latest",
    )  # fmt: skip
    conf = tmp / "auth"
    conf.mkdir()
    signing_pair(conf)
    (conf / "db-password").write_text(db_password)
    (conf / "admin-password").write_text(server.admin[1])
    (conf / "events-secret").write_text(server.events_secret)
    (conf / "config.yml").write_text(
        json.dumps(
            {
                "service": SERVICE,
                "token": {"signing_key": "/etc/dockyard-auth/token-signer.key",
                          "signing_cert": "/etc/dockyard-auth/token-signer.crt"},
                "database": {"url": "mysql+pymysql://dockyard@db:3306/dockyard",
                             "password_file": "/etc/dockyard-auth/db-password"},
                "notifications": {"secret_file": "/etc/dockyard-auth/events-secret"},
                "bootstrap_admin": {"name": "admin", "password_file": "/etc/dockyard-auth/admin-password"},
                # The tests check wrong passwords on purpose, all from one address.
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
        lambda: docker("inspect", "--format", "{{.State.Health.Status}}", server.db).stdout.strip() == "healthy",
        "MariaDB healthy",
        120,
    )
    server.run(server.auth, "-p", "127.0.0.1::5001", "-v", f"{conf}:/etc/dockyard-auth:ro", "dockyard/auth:latest")
    server.port = int(docker("port", server.auth, "5001").stdout.split()[0].rsplit(":", 1)[1])
    wait_for(lambda: http("GET", f"http://127.0.0.1:{server.port}/healthz")[0] == 200, "token server healthy", 90)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(uuid.uuid4().hex[:8])
    try:
        _start(s, tmp_path_factory.mktemp("access"))
        yield s
    finally:
        if s.auth in s.containers:
            print(docker("logs", s.auth, check=False).stderr[-3000:])
        if s.containers:
            docker("rm", "-f", "-v", *s.containers, check=False)
        docker("network", "rm", s.network, check=False)


@pytest.fixture
def run(run_module, server):
    """Run the module against the server as its admin: run(check_mode=False, diff=False, **options)."""

    def _run(check_mode=False, diff=False, **options):
        args = {"api_url": server.api, "api_username": "admin", "api_password": server.admin[1], "service": SERVICE}
        return run_module(registry_access, dict(args, **options), check_mode, diff)

    return _run


WEB = {
    "users": [
        {"name": "admin", "admin": True},
        {"name": "alice", "password": ALICE_PW},
        {"name": "bob", "password": BOB_PW},
    ],
    "teams": [
        {"name": "web", "description": "The web team", "members": [{"user": "alice", "role": "owner"}, {"user": "bob"}]}
    ],
    "namespaces": [
        {"name": "web", "team": "web", "visibility": "protected"},
        {"name": "_global", "visibility": "public"},
    ],
    "robots": [{"name": "ci", "description": "CI", "grants": [{"namespace": "web", "actions": ["pull", "push"]}]}],
}
WEB_ACTIONS = [
    "create user alice",
    "create user bob",
    "update user admin (managed true)",
    "create team web",
    "set role owner for alice in team web",
    "set role viewer for bob in team web",
    "create namespace web",
    'update namespace _global (visibility public, description "", managed true)',  # the server gave it one
    "create robot ci",
    "grant pull,push on namespace web to robot ci",
]


# ---------------------------------------------------------------- the story, in order


def test_everything_from_empty_then_nothing(run, server, tmp_path):
    empty = server.snapshot()
    assert [u["name"] for u in empty["users"]] == ["admin"] and empty["teams"] == [] and empty["robots"] == []

    predicted = run(check_mode=True, diff=True, robot_secrets_dir=str(tmp_path), **WEB)
    assert predicted["changed"] is True
    assert predicted["actions"] == WEB_ACTIONS
    assert predicted["robot_secrets"] == {}
    assert "password: (set)" in predicted["diff"]["after"] and "password" not in predicted["diff"]["before"]
    assert ALICE_PW not in json.dumps(predicted)
    assert server.snapshot() == empty
    assert list(tmp_path.iterdir()) == []

    applied = run(diff=True, robot_secrets_dir=str(tmp_path), **WEB)
    assert applied["changed"] is True
    assert applied["actions"] == WEB_ACTIONS
    assert applied["diff"] == predicted["diff"]
    assert list(applied["robot_secrets"]) == ["ci"]
    secret = applied["robot_secrets"]["ci"]

    # What the server holds now, seen through the API.
    assert server.names("/users") == ["admin", "alice", "bob"]
    assert all(u["managed"] for u in server.get("/users")["items"])
    assert server.get("/teams/web") | {"created_at": None} == {
        "name": "web", "description": "The web team", "managed": True, "created_at": None,
    }  # fmt: skip
    members = server.get("/teams/web/members")["items"]
    assert members == [{"user": "alice", "role": "owner"}, {"user": "bob", "role": "viewer"}]
    web = server.get("/namespaces/web")
    assert (web["team"], web["visibility"], web["managed"]) == ("web", "protected", True)
    assert server.get("/namespaces/_global")["visibility"] == "public"
    assert server.get("/robots/ci/permissions")["items"] == [{"namespace": "web", "actions": ["pull", "push"]}]

    # The secret file: 0600, the secret; the robot gets a token with it.
    secret_file = tmp_path / "robot+ci.secret"
    assert [p.name for p in tmp_path.iterdir()] == ["robot+ci.secret"]
    assert mode_of(secret_file) == 0o600
    assert secret_file.read_text() == secret + "\n"
    assert server.login("robot+ci", secret_file.read_text().strip()) == 200
    assert server.login("alice", ALICE_PW) == 200

    # Check mode and a real run again: nothing to do.
    for check_mode in (True, False):
        again = run(check_mode=check_mode, diff=True, robot_secrets_dir=str(tmp_path), **WEB)
        assert again["changed"] is False, again["actions"]
        assert again["actions"] == [] and again["robot_secrets"] == {}
        assert again["diff"]["before"] == again["diff"]["after"]
    assert secret_file.read_text() == secret + "\n"


def test_removing_bob_from_the_team(run, server):
    teams = [{"name": "web", "description": "The web team", "members": [{"user": "alice", "role": "owner"}]}]
    predicted = run(check_mode=True, teams=teams)
    assert predicted["actions"] == ["remove bob from team web"]
    assert len(server.get("/teams/web/members")["items"]) == 2
    result = run(teams=teams)
    assert result["changed"] is True and result["actions"] == ["remove bob from team web"]
    assert server.get("/teams/web/members")["items"] == [{"user": "alice", "role": "owner"}]
    assert server.names("/users") == ["admin", "alice", "bob"]  # bob is still a user
    assert run(teams=teams)["changed"] is False


def test_a_changed_password_is_set_and_works(run, server):
    users = [{"name": "alice", "password": "alice password 2"}]
    predicted = run(check_mode=True, users=users)
    assert predicted["actions"] == ["update user alice (password)"]
    assert server.login("alice", ALICE_PW) == 200
    result = run(users=users)
    assert result["changed"] is True and result["actions"] == ["update user alice (password)"]
    assert server.login("alice", "alice password 2") == 200
    assert server.login("alice", ALICE_PW) == 401
    assert run(users=users)["changed"] is False
    # on_create leaves an existing user's password alone.
    on_create = {"update_password": "on_create"}
    assert run(users=[{"name": "alice", "password": ALICE_PW}], **on_create)["changed"] is False
    assert server.login("alice", "alice password 2") == 200


def test_rotating_a_secret(run, server, tmp_path):
    result = run(rotate_robot_secrets=["ci"], robot_secrets_dir=str(tmp_path))
    assert result["changed"] is True and result["actions"] == ["rotate the secret of robot ci"]
    secret = result["robot_secrets"]["ci"]
    assert (tmp_path / "robot+ci.secret").read_text() == secret + "\n"
    assert mode_of(tmp_path / "robot+ci.secret") == 0o600
    assert server.login("robot+ci", secret) == 200


def test_a_bad_declaration_changes_nothing(run, server):
    before = server.snapshot()
    with pytest.raises(ModuleFailed) as failed:
        run(
            users=[{"name": "carol", "password": "short"}, {"name": "Dave", "password": "dave password"}],
            teams=[{"name": "web", "members": [{"user": "alice", "role": "owner"}, {"user": "zoe"}]}],
            namespaces=[{"name": "api", "team": "nobody"}],
            robots=[{"name": "ci", "grants": [{"namespace": "nowhere", "actions": ["pull"]}]}],
        )
    assert failed.value.result["problems"] == [
        "users[1] 'Dave': the name is not valid; use 2 to 64 lowercase letters and digits, with '_', '__' or a run "
        "of '-' between them",
        "users[0] 'carol': the password has 5 characters; use 8 to 256",
        "teams[0] 'web': member 'zoe' is not a user; list the user in users or remove the member",
        "namespaces[0] 'api': team 'nobody' is not a team; list the team in teams or give the namespace another team",
        "robots[0] 'ci': grant on namespace 'nowhere' is not a namespace; list it in namespaces or remove the grant",
    ]
    assert failed.value.msg.startswith("5 problems in the declared access, nothing was changed: users[1] 'Dave'")
    assert server.snapshot() == before


def test_exclusive_removes_what_is_not_listed(run, server):
    # Made by hand, outside the module.
    admin = server.admin
    for path, made in (
        ("/users", {"name": "mallory", "password": "mallory password"}),
        ("/teams", {"name": "old"}),
        ("/namespaces", {"name": "legacy", "team": "old", "visibility": "private"}),
        ("/robots", {"name": "gone"}),
        ("/teams/old/members", {"user": "mallory", "role": "owner"}),
    ):
        status, answer = http("POST", server.api + path, made, admin)
        assert status == 201, answer
    declared = {
        "users": [{"name": "alice"}, {"name": "bob"}],
        "teams": [{"name": "web", "description": "The web team", "members": [{"user": "alice", "role": "owner"}]}],
        "namespaces": [{"name": "web", "team": "web", "visibility": "protected"}],
        "robots": [{"name": "ci", "description": "CI", "grants": [{"namespace": "web", "actions": ["pull", "push"]}]}],
    }
    everything = {"users": True, "teams": True, "namespaces": True, "robots": True}

    # Without the caller in users, exclusive.users fails before any change.
    before = server.snapshot()
    with pytest.raises(ModuleFailed) as failed:
        run(exclusive=everything, **declared)
    assert failed.value.result["problems"] == [
        "exclusive.users would remove the user 'admin', which this module logs in as (api_username); list it in users"
    ]
    assert server.snapshot() == before

    declared["users"].insert(0, {"name": "admin", "admin": True})

    # The server would refuse to delete a namespace that holds repositories: the module says so first.
    server.notify("push", "legacy/app")
    server.notify("push", "mallory/tool")
    with pytest.raises(ModuleFailed) as failed:
        run(exclusive=everything, **declared)
    assert failed.value.result["problems"] == [
        "exclusive.namespaces would remove namespace 'legacy', which holds 1 repository (legacy/app); delete them "
        "first, or list the namespace",
        "exclusive.users would remove user 'mallory', whose personal namespace holds 1 repository (mallory/tool); "
        "delete them first, or keep the user (list it, with enabled false to lock it out)",
    ]
    assert server.snapshot() == before
    server.notify("delete", "legacy/app")
    server.notify("delete", "mallory/tool")

    removals = ["remove robot gone", "remove namespace legacy", "remove team old", "remove user mallory"]
    assert run(check_mode=True, exclusive=everything, **declared)["actions"] == removals
    assert server.snapshot() == before
    result = run(exclusive=everything, **declared)
    assert result["changed"] is True and result["actions"] == removals
    assert server.names("/users") == ["admin", "alice", "bob"]
    assert server.names("/teams") == ["web"]
    assert server.names("/namespaces") == ["_global", "admin", "alice", "bob", "web"]
    assert server.names("/robots") == ["ci"]
    assert run(exclusive=everything, **declared)["changed"] is False


def test_the_module_changes_its_own_password_and_goes_on(run_module, server):
    old, new = server.admin[1], "admin password 2"
    args = {"api_url": server.api, "api_username": "admin", "api_password": old, "service": SERVICE}
    declared = {"users": [{"name": "admin", "admin": True, "password": new}], "teams": [{"name": "ops"}]}
    result = run_module(registry_access, dict(args, **declared))
    assert result["actions"] == ["update user admin (password)", "create team ops"]
    assert server.login("admin", new) == 200
    # And back, so that the fixture's credentials work again.
    web = {"name": "web", "description": "The web team", "members": [{"user": "alice", "role": "owner"}]}
    back = {"users": [{"name": "admin", "admin": True, "password": old}], "teams": [web], "exclusive": {"teams": True}}
    result = run_module(registry_access, dict(args, api_password=new, **back))
    assert result["actions"] == ["update user admin (password)", "remove team ops"]
    assert server.login("admin", old) == 200


def test_credentials_refused(run_module, server):
    args = {"api_url": server.api, "api_username": "admin", "api_password": "not the password", "users": []}
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_access, args)
    assert failed.value.msg == (
        f"cannot read the server's state: GET {server.api}/users?offset=0&limit=500 answered 401: the API "
        "credentials were refused (invalid username or password (UNAUTHORIZED)): check api_username 'admin' and "
        "api_password; the user must be an admin (or an api_admin robot)"
    )


def test_unreachable_server(run_module):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api/v1"
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_access, {"api_url": api, "api_username": "admin", "api_password": "x", "timeout": 5})
    assert failed.value.msg.startswith(
        f"cannot read the server's state: GET {api}/users?offset=0&limit=500 failed: connection refused ("
    )
    assert failed.value.msg.endswith("); check the URL and that the server is up")


# ---------------------------------------------------------------- the client, with a fake opener


class FakeResponse(io.BytesIO):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(body)
        self.status = status

    def getcode(self) -> int:
        return self.status


class FakeOpener:
    """Answers from a list, and records each request."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.requests: list[dict] = []

    def __call__(self, url, **kwargs):
        self.requests.append(dict(kwargs, url=url))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
        if status >= 300:
            raise HTTPError(url, status, "error", {}, io.BytesIO(raw))
        return FakeResponse(status, raw)


def client(opener) -> _auth_api.AuthApi:
    return _auth_api.AuthApi("https://auth.test/api/v1/", "admin", "pässword", timeout=7, opener=opener)


def test_every_changing_call_is_json_with_basic_credentials():
    opener = FakeOpener((201, {"name": "web"}), (204, b""), (200, {"items": []}))
    api = client(opener)
    assert api.post("/teams", {"name": "web"}) == {"name": "web"}
    assert api.delete("/teams/web") is None
    api.get("/teams/web")
    post, delete, get = opener.requests
    auth = "Basic " + base64.b64encode("admin:pässword".encode()).decode()
    assert post["url"] == "https://auth.test/api/v1/teams" and post["method"] == "POST"
    assert post["data"] == b'{"name": "web"}'
    assert post["headers"] == {"Accept": "application/json", "Authorization": auth, "Content-Type": "application/json"}
    assert delete["data"] is None and delete["headers"]["Content-Type"] == "application/json"
    assert "Content-Type" not in get["headers"]
    assert (post["timeout"], post["follow_redirects"], post["use_netrc"]) == (7, "none", False)


def test_lists_are_read_page_by_page():
    pages = [(200, {"items": list(range(500)), "total": 1001}), (200, {"items": list(range(500, 1000)), "total": 1001})]
    opener = FakeOpener(*pages, (200, {"items": [1000], "total": 1001}))
    assert client(opener).list_all("/users") == list(range(1001))
    assert [r["url"].split("?")[1] for r in opener.requests] == [
        "offset=0&limit=500",
        "offset=500&limit=500",
        "offset=1000&limit=500",
    ]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((409, {"errors": [{"code": "CONFLICT", "message": "team 'web' exists already"}]}),
         "POST https://auth.test/api/v1/teams answered 409: team 'web' exists already (CONFLICT)"),
        ((500, b"<html>Internal Server Error</html>"),
         "POST https://auth.test/api/v1/teams answered 500: <html>Internal Server Error</html>"),
        ((502, b""), "POST https://auth.test/api/v1/teams answered 502: no message in the answer"),
        ((200, b"not json"), "POST https://auth.test/api/v1/teams answered 200: unexpected answer, not JSON: not json"),
        (URLError(ConnectionRefusedError(111, "Connection refused")),
         "POST https://auth.test/api/v1/teams failed: connection refused ([Errno 111] Connection refused); check the "
         "URL and that the server is up"),
        (URLError(TimeoutError("timed out")),
         "POST https://auth.test/api/v1/teams failed: no answer within 7 s; check the URL and that the server is up, "
         "or raise timeout"),
        (URLError(socket.gaierror(-2, "Name or service not known")),
         "POST https://auth.test/api/v1/teams failed: cannot reach the server ([Errno -2] Name or service not known); "
         "check the URL and that the server is up"),
    ],
)  # fmt: skip
def test_errors_name_the_call_and_the_servers_message(answer, message):
    with pytest.raises(_auth_api.AuthApiError) as failed:
        client(FakeOpener(answer)).post("/teams", {"name": "web"})
    assert str(failed.value) == message
    assert (failed.value.method, failed.value.url) == ("POST", "https://auth.test/api/v1/teams")


def test_a_tls_failure_says_what_to_set():
    error = URLError(ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate"))
    with pytest.raises(_auth_api.AuthApiError) as failed:
        client(FakeOpener(error)).get("/users")
    assert "TLS failed" in str(failed.value) and "ca_path" in str(failed.value)


def test_login_works():
    opener = FakeOpener((200, {"token": "t"}), (401, {"errors": []}), (429, {"errors": []}))
    api = client(opener)
    assert [api.login_works("https://auth.test/token", SERVICE, "alice", "pw") for attempt in range(3)] == [
        True,
        False,
        None,
    ]
    request = opener.requests[0]
    assert request["url"] == f"https://auth.test/token?service={SERVICE}"
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"alice:pw").decode()
    with pytest.raises(_auth_api.AuthApiError):
        client(FakeOpener((400, {"errors": [{"code": "INVALID_REQUEST", "message": "wrong service"}]}))).login_works(
            "https://auth.test/token", "other", "alice", "pw"
        )


@pytest.mark.parametrize(
    ("api_url", "token_url"),
    [
        ("http://127.0.0.1:5001/api/v1", "http://127.0.0.1:5001/token"),
        ("https://registry.example.com/auth/api/v1/", "https://registry.example.com/auth/token"),
        ("https://registry.example.com/auth", None),
    ],
)
def test_token_url_for(api_url, token_url):
    assert _auth_api.token_url_for(api_url) == token_url

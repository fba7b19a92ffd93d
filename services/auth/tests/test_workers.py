# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every worker of a running server refuses a changed password or a disabled account on the very next request.

``dockyard-auth serve`` runs here as the role runs it on two CPUs: two gunicorn
workers, each with its own credential cache, against the test's MariaDB. Each
worker first issues tokens (so its cache holds the credentials); then the
account changes in the database, as another server or the admin API would
change it, and every request after that, in whichever worker, must be
refused. Which worker answered is read from the workers' Prometheus files
(one per process), so the test knows that each of them refused.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import datetime as dt
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest
from conftest import SEEDED_PASSWORDS, SERVICE, seed_accounts
from prometheus_client.mmap_dict import MmapedDict

from dockyard_auth.permissions import Role

SRC = Path(__file__).resolve().parents[1] / "src"
WORKERS = 2
MAX_REQUESTS = 400  # a bound on the requests spent until every worker has answered enough
PARALLEL = 4  # requests in flight at once, more than the workers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(make_client, config_data, tmp_path):
    """A running ``dockyard-auth serve`` with two workers on the seeded database: (port, metrics dir, server)."""
    _client, server = make_client()
    seed_accounts(server)
    port = free_port()
    config = {**config_data, "listen": f"127.0.0.1:{port}", "workers": WORKERS, "log_level": "warning"}
    # The refusals below are many and on purpose: no back-off (tested elsewhere) turns them into 429s.
    config["security"] = {**config_data["security"], "backoff": {"threshold": 1000}}
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    metrics = tmp_path / "metrics"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard_auth", "--config", str(config_file), "serve", "--no-migrate"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for _attempt in range(300):
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            with contextlib.suppress(OSError):
                if get(port, "/healthz")[0] == 200:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"the server did not become healthy:\n{(tmp_path / 'server.log').read_text()}")
        yield port, metrics, server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    """One request on a connection of its own, so that any worker may take it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def token_answers(metrics: Path) -> dict[str, Counter]:
    """GET /token answers so far, by worker (its pid) and outcome (ok, unauthorized, ...)."""
    answers: dict[str, Counter] = {}
    for path in metrics.glob("counter_*.db"):
        pid = path.stem.removeprefix("counter_")
        for key, value, _pos in MmapedDict.read_all_values_from_file(str(path)):
            _metric, sample, labels, _help = json.loads(key)
            if sample == "dockyard_auth_requests_total" and labels.get("route") == "/token":
                answers.setdefault(pid, Counter())[labels["outcome"]] += int(value)
    return answers


def token_path(scope: str | None = None) -> str:
    query = {"service": SERVICE, **({"scope": scope} if scope else {})}
    return "/token?" + urllib.parse.urlencode(query)


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def until_every_worker(port: int, metrics: Path, headers: dict, outcome: str, scope: str | None = None) -> list:
    """Ask for tokens until each worker has answered at least twice with ``outcome`` since now; the answers."""
    start = token_answers(metrics)
    answers = []
    # Requests in parallel: a sync worker takes one connection at a time, so while one is busy the others
    # must accept. One after another, the kernel may hand every connection to the same idle worker.
    with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for _batch in range(MAX_REQUESTS // PARALLEL):
            answers += pool.map(lambda _i: get(port, token_path(scope), headers), range(PARALLEL))
            now = token_answers(metrics)
            done = [pid for pid in now if now[pid][outcome] - start.get(pid, Counter())[outcome] >= 2]
            if len(done) == WORKERS:
                return answers
    pytest.fail(
        f"not every worker answered {outcome} twice in {MAX_REQUESTS} requests: {token_answers(metrics)} "
        f"(files {sorted(p.name for p in metrics.iterdir())}; last answer {answers[-1]})"
    )


def granted(body: bytes) -> list[str]:
    token = json.loads(body)["token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return [action for entry in claims["access"] for action in entry["actions"]]


def test_every_worker_refuses_a_changed_password_at_once(served):
    port, metrics, server = served
    alice = basic("alice", SEEDED_PASSWORDS["alice"])
    assert all(status == 200 for status, _body in until_every_worker(port, metrics, alice, "ok"))  # both cached
    server.store.update_user("alice", password_hash=server.hasher.hash("alice-new-pw"))
    assert {status for status, _body in until_every_worker(port, metrics, alice, "unauthorized")} == {401}
    new = basic("alice", "alice-new-pw")
    assert {status for status, _body in until_every_worker(port, metrics, new, "ok")} == {200}
    server.store.update_user("alice", enabled=False)
    assert {status for status, _body in until_every_worker(port, metrics, new, "unauthorized")} == {401}


def test_every_worker_refuses_a_rotated_disabled_or_expired_robot_at_once(served):
    port, metrics, server = served
    robot = basic("robot+ci", SEEDED_PASSWORDS["robot+ci"])
    assert {status for status, _body in until_every_worker(port, metrics, robot, "ok")} == {200}
    server.store.update_robot("ci", enabled=False)
    assert {status for status, _body in until_every_worker(port, metrics, robot, "unauthorized")} == {401}
    server.store.update_robot("ci", enabled=True)
    assert {status for status, _body in until_every_worker(port, metrics, robot, "ok")} == {200}
    server.store.update_robot("ci", expires_at=dt.datetime(2020, 1, 1))
    assert {status for status, _body in until_every_worker(port, metrics, robot, "unauthorized")} == {401}
    server.store.update_robot("ci", expires_at=None, secret_hash=server.hasher.hash("rotated-secret"))
    assert {status for status, _body in until_every_worker(port, metrics, robot, "unauthorized")} == {401}


def test_every_worker_grants_what_the_database_says_now(served):
    port, metrics, server = served
    alice = basic("alice", SEEDED_PASSWORDS["alice"])
    scope = "repository:web/app:pull,push"
    pushes = until_every_worker(port, metrics, alice, "ok", scope)
    assert {tuple(granted(body)) for _status, body in pushes} == {("pull", "push")}
    server.store.set_member("web", "alice", Role.VIEWER)
    pulls = until_every_worker(port, metrics, alice, "ok", scope)
    assert {tuple(granted(body)) for _status, body in pulls} == {("pull",)}
    server.store.remove_member("web", "alice")
    nothing = until_every_worker(port, metrics, alice, "ok", scope)
    assert {tuple(granted(body)) for _status, body in nothing} == {()}


def test_each_token_is_logged_once_in_its_access_line_and_no_secret_is(served, tmp_path):
    port, _metrics, _server = served
    password = SEEDED_PASSWORDS["alice"]
    tokens = []
    for _request in range(3):
        status, body = get(port, token_path("repository:web/app:pull,push"), basic("alice", password))
        assert status == 200
        tokens.append(json.loads(body)["token"])
    assert get(port, token_path(), basic("alice", "not-her-password"))[0] == 401
    log = tmp_path / "server.log"
    # gunicorn writes a request's access line after its answer: wait for the four, a bounded number of times.
    for _attempt in range(100):
        if log.read_text().count('"GET /token"') >= 4:
            break
        time.sleep(0.1)
    text = log.read_text()
    lines = [line for line in text.splitlines() if '"GET /token"' in line]
    assert len(lines) == 4, text[-3000:]
    granted = [line for line in lines if "token for 'alice'" in line]
    assert len(granted) == 3 and text.count("token for") == 3  # once per token, in its access line
    for line in granted:
        assert '"GET /token" 200 ' in line and line.endswith(" token for 'alice': repository:web/app:pull,push")
    for secret in (password, "not-her-password", *tokens):
        assert secret not in text

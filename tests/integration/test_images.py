"""The project's images, run on this machine's Docker engine as a user would run them.

The set-up built them; these tests check that a second build changes nothing
and that each image does what its upstream counterpart does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import ROOT, docker

pytestmark = pytest.mark.images

BUILDER = ROOT / "roles" / "images" / "files" / "dockyard_images.py"


def published_port(name: str, port: int) -> int:
    # `docker port` prints e.g. "127.0.0.1:49153"
    return int(docker("port", name, str(port)).stdout.split()[0].rsplit(":", 1)[1])


def http_get(url: str, attempts: int = 30) -> tuple[int, dict, bytes]:
    """GET with a bounded wait for the server to come up (30 tries, 0.5 s apart)."""
    last = None
    for _attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback only)
                return resp.status, dict(resp.headers), resp.read()
        except OSError as exc:
            last = exc
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer: {last}")


def test_a_second_build_changes_nothing(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(BUILDER), "build", "--downloads", str(ROOT / ".cache" / "downloads"), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    names = ["debian", "auth", "mariadb", "nginx", "redis", "registry", "seaweedfs", "testhost"]
    assert [r["name"] for r in results] == names
    assert [r["name"] for r in results if r["changed"]] == []
    assert f"0 image(s) built, {len(names)} up to date" in proc.stdout
    for r in results:
        assert docker("image", "inspect", "--format", "{{.Id}}", r["image"]).stdout.strip() == r["id"]


def test_registry_serves_the_v2_api_on_port_5000(container):
    name = container("dockyard/registry:latest", options=("-p", "127.0.0.1::5000"))
    status, headers, body = http_get(f"http://127.0.0.1:{published_port(name, 5000)}/v2/")
    assert status == 200
    assert headers.get("Docker-Distribution-Api-Version") == "registry/2.0"
    assert json.loads(body) == {}


def test_registry_keeps_its_data_in_a_volume_and_reads_the_upstream_config_path():
    info = json.loads(docker("image", "inspect", "dockyard/registry:latest").stdout)[0]["Config"]
    assert "/var/lib/registry" in info["Volumes"]
    assert "5000/tcp" in info["ExposedPorts"]
    assert info["Cmd"] == ["/etc/docker/registry/config.yml"]
    config = docker("run", "--rm", "dockyard/registry:latest", "cat", "/etc/docker/registry/config.yml").stdout
    assert "rootdirectory: /var/lib/registry" in config


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--version"], "registry github.com/docker/distribution 2.8"),
        (["help"], "serve"),
        (["sh", "-c", "echo any command runs"], "any command runs"),
    ],
)
def test_registry_entrypoint_behaves_like_upstream(args, expected):
    proc = docker("run", "--rm", "dockyard/registry:latest", *args)
    assert expected in proc.stdout + proc.stderr


def test_nginx_serves_and_logs_to_the_container_output(container):
    name = container("dockyard/nginx:latest", options=("-p", "127.0.0.1::80"))
    status, _headers, body = http_get(f"http://127.0.0.1:{published_port(name, 80)}/")
    assert (status, body) == (200, b"dockyard nginx\n")
    assert '"GET / HTTP/1.1" 200' in docker("logs", name).stdout
    assert "syntax is ok" in docker("exec", name, "nginx", "-t").stderr


def wait_healthy(name: str, seconds: int = 90) -> None:
    for _second in range(seconds):
        status = docker("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()
        if status == "healthy":
            return
        time.sleep(1)
    pytest.fail(f"{name} not healthy after {seconds} s: {docker('logs', name).stderr[-2000:]}")


def mariadb_tcp(name: str, login: tuple[str, str], sql: str, *, database: str | None = None, check: bool = True):
    """Run SQL in the container as a network client (TCP to 127.0.0.1), as an application would log in."""
    user, password = login
    args = ["exec", name, "mariadb", "--no-defaults", "-h", "127.0.0.1", "-u", user, f"-p{password}", "-N", "-e", sql]
    return docker(*args, *([database] if database else []), check=check)


def test_mariadb_initialises_from_the_environment(container):
    name = container(
        "dockyard/mariadb:latest",
        options=(
            "-e",
            "MARIADB_ROOT_PASSWORD=root's secret",
            "-e",
            "MARIADB_DATABASE=portus",
            "-e",
            "MARIADB_USER=dockyard",
            "-e",
            "MARIADB_PASSWORD=app secret",
        ),
    )
    wait_healthy(name)
    query = "SELECT CURRENT_USER(), DATABASE(), @@character_set_server, @@collation_server"
    out = mariadb_tcp(name, ("dockyard", "app secret"), query, database="portus").stdout.split("\t")
    assert [s.strip() for s in out] == ["dockyard@%", "portus", "utf8mb4", "utf8mb4_bin"]
    assert mariadb_tcp(name, ("root", "root's secret"), "SELECT 1").stdout.strip() == "1"
    wrong = mariadb_tcp(name, ("root", "wrong"), "SELECT 1", check=False)
    assert wrong.returncode != 0 and "Access denied" in wrong.stderr


def test_mariadb_without_a_root_password_says_what_to_set():
    proc = docker("run", "--rm", "dockyard/mariadb:latest", check=False)
    assert proc.returncode != 0
    assert "set MARIADB_ROOT_PASSWORD" in proc.stderr


AUTH = "dockyard/auth:latest"


def test_auth_image_runs_the_token_servers_cli():
    proc = docker("run", "--rm", AUTH, "--version")
    assert proc.stdout.strip() == "dockyard-auth 0.1.0"


def test_auth_image_runs_as_its_own_unprivileged_user():
    assert docker("run", "--rm", "--entrypoint", "id", AUTH, "-u").stdout.strip() == "10001"
    assert docker("run", "--rm", "--entrypoint", "id", AUTH, "-g").stdout.strip() == "10001"
    info = json.loads(docker("image", "inspect", AUTH).stdout)[0]["Config"]
    assert info["User"] == "10001:10001"
    assert "5001/tcp" in info["ExposedPorts"]
    assert (info["Entrypoint"], info["Cmd"]) == (["dockyard-auth"], ["serve"])
    assert "DOCKYARD_AUTH_CONFIG=/etc/dockyard-auth/config.yml" in info["Env"]
    assert "PROMETHEUS_MULTIPROC_DIR=/run/dockyard-auth/metrics" in info["Env"]
    # The user can write its metrics directory, not its configuration.
    script = "touch /run/dockyard-auth/metrics/probe && ! touch /etc/dockyard-auth/probe 2>/dev/null && echo ok"
    assert docker("run", "--rm", "--entrypoint", "sh", AUTH, "-c", script).stdout.strip() == "ok"


def test_auth_image_has_bookworms_libraries():
    imports = "import flask, sqlalchemy, pymysql, alembic, jwt, passlib.hash, bcrypt, prometheus_client, gunicorn, yaml"
    proc = docker("run", "--rm", "--entrypoint", "python3", AUTH, "-c", f"{imports}; print(sqlalchemy.__version__)")
    assert proc.stdout.strip().startswith("1.4")


def test_auth_image_holds_the_package_compiled_and_no_tests():
    listing = docker("run", "--rm", "--entrypoint", "find", AUTH, "/opt/dockyard-auth").stdout.split()
    assert "/opt/dockyard-auth/dockyard_auth/__main__.py" in listing
    assert not [path for path in listing if "test" in path.rsplit("/", 1)[-1]]
    # Compiled at build time: it starts on a read-only root without writing bytecode.
    proc = docker("run", "--rm", "--read-only", AUTH, "--version")
    assert proc.stdout.strip() == "dockyard-auth 0.1.0"
    assert any(path.endswith("cli.cpython-311.pyc") for path in listing)


def test_redis_refuses_clients_without_the_password_a_conf_d_file_sets(container, tmp_path):
    conf = tmp_path / "auth.conf"
    conf.write_text("requirepass image-test-secret\n")
    conf.chmod(0o644)
    name = container("dockyard/redis:latest", options=("-v", f"{conf}:/etc/redis/conf.d/auth.conf:ro"))
    wait_healthy(name)
    refused = docker("exec", name, "redis-cli", "ping").stdout
    assert "NOAUTH" in refused
    answered = docker("exec", "-e", "REDISCLI_AUTH=image-test-secret", name, "redis-cli", "ping").stdout
    assert answered.strip() == "PONG"
    # A cache: nothing is written to disk.
    config = docker("exec", "-e", "REDISCLI_AUTH=image-test-secret", name, "redis-cli", "config", "get", "save").stdout
    assert config.split() == ["save"]


def test_seaweedfs_serves_s3_from_one_weed_server(container):
    name = container(
        "dockyard/seaweedfs:latest",
        "server",
        "-dir=/data",
        "-ip=127.0.0.1",
        "-ip.bind=0.0.0.0",
        "-filer",
        "-s3",
        "-s3.port=8333",
        "-master.volumeSizeLimitMB=64",
        options=("-p", "127.0.0.1::8333"),
    )
    status, _headers, body = http_get(f"http://127.0.0.1:{published_port(name, 8333)}/", attempts=60)
    assert status == 200
    assert b"<ListAllMyBucketsResult" in body
    assert docker("exec", name, "id", "-u").stdout.strip() == "990"
    assert "4.48" in docker("run", "--rm", "dockyard/seaweedfs:latest", "version").stdout

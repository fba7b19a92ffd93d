# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the token server's tests: a real MariaDB, a fresh database per test, a signing key.

MariaDB is Debian's mariadb-server in the project's dockyard/mariadb image,
started once per test session on a loopback port and removed at the end.
Each test gets a database of its own, migrated to the newest revision.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import settings

from dockyard_auth import migrate
from dockyard_auth.app import Server, create_app
from dockyard_auth.config import parse
from dockyard_auth.database import Reader, make_engine
from dockyard_auth.permissions import Role, Visibility

MARIADB_IMAGE = os.environ.get("DOCKYARD_MARIADB_IMAGE", "dockyard/mariadb:latest")


def docker(*args: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


class MariaDB:
    """A running MariaDB container this test session started."""

    def __init__(self, name: str, port: int, password: str) -> None:
        self.name, self.port, self.password = name, port, password

    def url(self, database: str = "") -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}"

    def engine(self, database: str = "", **kwargs) -> sqlalchemy.engine.Engine:
        return make_engine(self.url(database), self.password, **kwargs)

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = self.engine()
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin")
        engine.dispose()
        return name

    def drop_database(self, name: str) -> None:
        engine = self.engine()
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        engine.dispose()


@pytest.fixture(scope="session")
def mariadb():
    name = f"dockyard-auth-test-db-{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(16)
    docker(
        "run", "-d", "--name", name, "-p", "127.0.0.1::3306",
        "-e", f"MARIADB_ROOT_PASSWORD={password}", MARIADB_IMAGE,
    )  # fmt: skip
    try:
        for _second in range(120):
            status = docker("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()
            if status == "healthy":
                break
            time.sleep(1)
        else:
            pytest.fail(f"MariaDB did not become healthy in 120 s: {docker('logs', name, check=False).stderr[-2000:]}")
        port = int(docker("port", name, "3306").stdout.split()[0].rsplit(":", 1)[1])
        yield MariaDB(name, port, password)
    finally:
        docker("rm", "-f", "-v", name, check=False)


@pytest.fixture
def database(mariadb):
    """The name of an empty database of this test's own."""
    name = mariadb.create_database()
    yield name
    mariadb.drop_database(name)


@pytest.fixture
def engine(mariadb, database):
    """An engine on a database migrated to the newest revision."""
    engine = mariadb.engine(database)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def self_signed(common_name: str, key=None, days: int = 30, not_before: dt.datetime | None = None):
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    return key, cert


def write_pair(directory: Path, stem: str, key, cert) -> tuple[Path, Path]:
    key_path, cert_path = directory / f"{stem}.key", directory / f"{stem}.crt"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture(scope="session")
def signing_files(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("signer")
    key, cert = self_signed("dockyard token signer")
    return write_pair(directory, "token-signer", key, cert)


SERVICE = "registry.dockyard.test"
EVENTS_SECRET = "events-shared-secret-for-tests"  # noqa: S105 (a test value)


@pytest.fixture
def config_data(mariadb, database, signing_files, tmp_path) -> dict:
    """A valid configuration (as parsed YAML) for this test's database; tests change what they need."""
    password_file = tmp_path / "db-password"
    password_file.write_text(mariadb.password + "\n")
    secret_file = tmp_path / "events-secret"
    secret_file.write_text(EVENTS_SECRET + "\n")
    key, cert = signing_files
    return {
        "service": SERVICE,
        "issuer": "dockyard-auth",
        "token": {"signing_key": str(key), "signing_cert": str(cert), "ttl": 300},
        "database": {"url": mariadb.url(database), "password_file": str(password_file)},
        "notifications": {"secret_file": str(secret_file)},
        # bcrypt's lowest cost keeps the tests quick; the cost is a setting, not a logic branch.
        "security": {"bcrypt_rounds": 4},
    }


@pytest.fixture
def make_client(engine, config_data):
    """Build a Flask test client (and its Server) from the configuration, after a test changed it."""
    readers = []

    def build(data: dict | None = None):
        config = parse(data or config_data)
        reader = Reader(config.database_url, config.database_password(), pool_size=2)
        readers.append(reader)
        server = Server.from_config(config, engine=engine, reader=reader)
        app = create_app(config, server)
        return app.test_client(), server

    yield build
    for reader in readers:
        reader.dispose()


@pytest.fixture
def client(make_client):
    return make_client()


SEEDED_PASSWORDS = {"admin": "admin-pw", "alice": "alice-pw", "bob": "bob-pw", "robot+ci": "robot-secret"}


def seed_accounts(server) -> None:
    """An admin; alice (contributor) and bob (viewer) of team web, which owns web (private) and pub (public);
    robot ci pulling and pushing in web. Their passwords are SEEDED_PASSWORDS."""
    store, hasher = server.store, server.hasher
    store.create_user("admin", hasher.hash(SEEDED_PASSWORDS["admin"]), admin=True)
    for user in ("alice", "bob"):
        store.create_user(user, hasher.hash(SEEDED_PASSWORDS[user]))
    store.create_team("web", "the web team")
    store.set_member("web", "alice", Role.CONTRIBUTOR)
    store.set_member("web", "bob", Role.VIEWER)
    store.create_namespace("web", "web", Visibility.PRIVATE)
    store.create_namespace("pub", "web", Visibility.PUBLIC)
    store.create_robot("ci", hasher.hash(SEEDED_PASSWORDS["robot+ci"]))
    store.set_robot_permission("ci", "web", ["pull", "push"])


# -- property tests (hypothesis, schemathesis) --------------------------------------------
# The same examples on every run (derandomized), no example database, no deadline (most
# examples go to MariaDB) and a bounded number of examples, so the fuzz tests take the same,
# short time in CI and on a laptop; tests that need fewer set their own. Hypothesis's caches
# (Unicode tables, constants of the code under test) go to the temp directory, not the tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "dockyard-hypothesis"))
settings.register_profile("dockyard", derandomize=True, database=None, deadline=None, max_examples=200)
settings.load_profile("dockyard")

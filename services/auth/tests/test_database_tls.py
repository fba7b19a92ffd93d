# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS to MariaDB (``database.ca_file``) against a real MariaDB that serves a certificate of a CA made here.

The dockyard/mariadb image (Debian's mariadb-server, built with OpenSSL) gets
its TLS settings as a .cnf in /etc/mysql/mariadb.conf.d/, the certificate and
key in a directory of their own (readable by the mysql user), and a user
``app`` created ``REQUIRE SSL``. The server's certificate names 127.0.0.1 (an
IP SAN), the address the tests connect to.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import time
import uuid
from pathlib import Path

import pymysql
import pytest
import sqlalchemy
import yaml
from conftest import MARIADB_IMAGE, docker, write_pair
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dockyard_auth import cli, migrate
from dockyard_auth.config import ConfigError
from dockyard_auth.database import SSL_CONNECTION_ERROR, make_engine, tls_context

ADDRESS = "127.0.0.1"
TLS_DIR = "/etc/mysql/tls"
SERVER_CNF = f"""[mariadbd]
ssl_cert = {TLS_DIR}/server.crt
ssl_key = {TLS_DIR}/server.key
ssl_ca = {TLS_DIR}/ca.crt
"""
SIGNS_CERTIFICATES = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
)  # fmt: skip


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: str, public_key) -> x509.CertificateBuilder:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
    )


def make_ca(common_name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(common_name, common_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(SIGNS_CERTIFICATES, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(ca_key, ca_cert, address: str):
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    cert = (
        _builder("mariadb", issuer, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


class TlsMariaDB:
    def __init__(self, port: int, root_password: str, app_password: str, ca_file: Path, other_ca_file: Path) -> None:
        self.port, self.root_password, self.app_password = port, root_password, app_password
        self.ca_file, self.other_ca_file = ca_file, other_ca_file

    def url(self, user: str = "app", host: str = ADDRESS) -> str:
        return f"mysql+pymysql://{user}@{host}:{self.port}/app"


@pytest.fixture(scope="module")
def tls_mariadb(tmp_path_factory):
    """A MariaDB with TLS whose certificate ``ca_file`` signed; ``other_ca_file`` is a CA that signed nothing."""
    files = tmp_path_factory.mktemp("mariadb-tls")
    ca_key, ca_cert = make_ca("dockyard test database CA")
    _key, ca_file = write_pair(files, "ca", ca_key, ca_cert)
    _key, other_ca_file = write_pair(files, "other-ca", *make_ca("a CA that signed nothing"))
    key_file, _cert = write_pair(files, "server", *make_server_cert(ca_key, ca_cert, ADDRESS))
    # The server runs as mysql, not as the owner of these files: a test key, so readable by all.
    key_file.chmod(0o644)
    files.chmod(0o755)
    cnf = files / "70-tls.cnf"
    cnf.write_text(SERVER_CNF)
    root_password, app_password = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    initdb = tmp_path_factory.mktemp("mariadb-initdb")
    initdb.chmod(0o755)
    (initdb / "app.sql").write_text(
        "CREATE DATABASE app;\n"
        f"CREATE USER 'app'@'%' IDENTIFIED BY '{app_password}' REQUIRE SSL;\n"
        "GRANT ALL ON app.* TO 'app'@'%';\n"
    )
    name = f"dockyard-auth-test-tls-db-{uuid.uuid4().hex[:8]}"
    docker(
        "run", "-d", "--name", name, "-p", f"{ADDRESS}::3306", "-e", f"MARIADB_ROOT_PASSWORD={root_password}",
        "-v", f"{files}:{TLS_DIR}:ro", "-v", f"{cnf}:/etc/mysql/mariadb.conf.d/70-tls.cnf:ro",
        "-v", f"{initdb}:/docker-entrypoint-initdb.d:ro", MARIADB_IMAGE,
    )  # fmt: skip
    try:
        port = int(docker("port", name, "3306").stdout.split()[0].rsplit(":", 1)[1])
        _wait_for(name, port, root_password, ca_file)
        yield TlsMariaDB(port, root_password, app_password, ca_file, other_ca_file)
    finally:
        docker("rm", "-f", "-v", name, check=False)


def _wait_for(name: str, port: int, password: str, ca_file: Path) -> None:
    """Until the real server (not the one of the initialisation, which has no network) answers over TLS."""
    deadline = time.monotonic() + 60
    while True:
        try:
            pymysql.connect(
                host=ADDRESS, port=port, user="root", password=password, ssl=tls_context(ca_file), connect_timeout=2
            ).close()
            return
        except pymysql.err.OperationalError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"MariaDB with TLS did not answer in 60 s: {docker('logs', name, check=False).stderr[-2000:]}"
                )
            time.sleep(0.3)


def status(engine: sqlalchemy.engine.Engine, query: str) -> str:
    with engine.connect() as conn:
        return conn.exec_driver_sql(query).one()[-1]


def refusal(url: str, password: str, ca_file: Path | None) -> pymysql.err.OperationalError:
    """The driver's error for a connection that must fail."""
    engine = make_engine(url, password, pool_size=1, ca_file=ca_file)
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError) as refused, engine.connect():
            pass
    finally:
        engine.dispose()
    return refused.value.orig


def test_with_the_ca_file_the_connection_is_tls_and_the_server_verified(tls_mariadb):
    engine = make_engine(tls_mariadb.url(), tls_mariadb.app_password, pool_size=1, ca_file=tls_mariadb.ca_file)
    try:
        assert status(engine, "SHOW STATUS LIKE 'Ssl_cipher'")
        assert status(engine, "SHOW STATUS LIKE 'Ssl_version'").startswith("TLSv1.")
        # Debian's mariadb-server is built with OpenSSL (not wolfSSL, not yaSSL).
        assert status(engine, "SELECT @@version_ssl_library").startswith("OpenSSL ")
    finally:
        engine.dispose()


def test_the_server_migrates_over_tls_with_ca_file_in_its_configuration(tls_mariadb, signing_files, tmp_path):
    password_file = tmp_path / "db-password"
    password_file.write_text(tls_mariadb.app_password + "\n")
    key, cert = signing_files
    config = {
        "service": "registry.dockyard.test",
        "token": {"signing_key": str(key), "signing_cert": str(cert)},
        "database": {
            "url": tls_mariadb.url(),
            "password_file": str(password_file),
            "ca_file": str(tls_mariadb.ca_file),
        },
        "notifications": {"enabled": False},
    }
    config_file = tmp_path / "config.yml"
    config_file.write_text(yaml.safe_dump(config))
    assert cli.main(["--config", str(config_file), "migrate"]) == 0
    engine = make_engine(tls_mariadb.url(), tls_mariadb.app_password, pool_size=1, ca_file=tls_mariadb.ca_file)
    try:
        assert migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()


def test_a_certificate_another_ca_signed_is_refused(tls_mariadb):
    error = refusal(tls_mariadb.url(), tls_mariadb.app_password, tls_mariadb.other_ca_file)
    assert "CERTIFICATE_VERIFY_FAILED" in str(error)


def test_a_certificate_for_another_name_is_refused(tls_mariadb):
    """The certificate names 127.0.0.1; reached as localhost, the same server is not the one named."""
    error = refusal(tls_mariadb.url(host="localhost"), tls_mariadb.app_password, tls_mariadb.ca_file)
    assert "CERTIFICATE_VERIFY_FAILED" in str(error) and "mismatch" in str(error)


def test_without_the_ca_file_there_is_no_tls_and_a_user_that_requires_it_is_refused(tls_mariadb):
    engine = make_engine(tls_mariadb.url(user="root"), tls_mariadb.root_password, pool_size=1)
    try:
        assert status(engine, "SHOW STATUS LIKE 'Ssl_cipher'") == ""
    finally:
        engine.dispose()
    error = refusal(tls_mariadb.url(), tls_mariadb.app_password, None)
    assert error.args[0] == 1045  # access denied: 'app' is REQUIRE SSL


def test_a_server_without_tls_is_refused_before_it_hears_the_credentials(mariadb, tls_mariadb):
    """PyMySQL alone would log in in plain text; the error is not 'access denied' although the password is wrong."""
    url = f"mysql+pymysql://root@{ADDRESS}:{mariadb.port}/"
    error = refusal(url, "not-the-password", tls_mariadb.ca_file)
    assert error.args[0] == SSL_CONNECTION_ERROR
    assert "does not offer TLS, and database.ca_file asks for it" in error.args[1]


@pytest.mark.parametrize(("name", "reason"), [("none.pem", "No such file"), ("empty.pem", "no certificate")])
def test_a_ca_file_that_cannot_be_loaded_stops_the_start_naming_the_key(tmp_path, name, reason):
    (tmp_path / "empty.pem").write_text("")
    with pytest.raises(ConfigError, match=f"database.ca_file: cannot load {tmp_path / name} as PEM CA.*{reason}"):
        make_engine(f"mysql+pymysql://app@{ADDRESS}:3306/app", "pw", ca_file=tmp_path / name)

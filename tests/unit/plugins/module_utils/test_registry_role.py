"""The registry role's decisions, against tables typed out by hand."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from ansible_collections.dockyard.registry.plugins.module_utils import _registry_role as rr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

M = "/etc/docker/registry"
FS = {"filesystem": {"rootdirectory": "/var/lib/registry"}}
NOSNIFF = {"X-Content-Type-Options": ["nosniff"]}
HEALTH = {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}}
NO_DELETE = {"delete": {"enabled": False}}

# (case, role inputs, registry_config, expected options for registry_config)
CASES = [
    (
        "defaults: filesystem, plain HTTP on :5000, no auth",
        {},
        {},
        {
            "storage": {**FS, **NO_DELETE},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "health": HEALTH,
        },
    ),
    (
        "native: TLS, basic auth, a shared secret, deletes",
        {
            "tls": True,
            "auth": "htpasswd",
            "realm": "Dockyard Registry",
            "http_secret": "s3cr3t",
            "delete_enabled": True,
        },
        {},
        {
            "storage": {**FS, "delete": {"enabled": True}},
            "http": {
                "addr": ":5000",
                "headers": NOSNIFF,
                "secret": "s3cr3t",
                "tls": {"certificate": f"{M}/tls/server.crt", "key": f"{M}/tls/server.key"},
            },
            "auth": {"htpasswd": {"realm": "Dockyard Registry", "path": f"{M}/auth/htpasswd"}},
            "health": HEALTH,
        },
    ),
    (
        "behind a proxy on another host: TLS demanding the proxy's client certificate",
        {"tls": True, "client_ca": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
        {},
        {
            "storage": {**FS, **NO_DELETE},
            "http": {
                "addr": ":5000",
                "headers": NOSNIFF,
                "tls": {
                    "certificate": f"{M}/tls/server.crt",
                    "key": f"{M}/tls/server.key",
                    "clientcas": [f"{M}/tls/client-ca.crt"],
                },
            },
            "health": HEALTH,
        },
    ),
    (
        "a client CA without TLS is not used",
        {"tls": False, "client_ca": "-----BEGIN CERTIFICATE-----\n"},
        {},
        {"storage": {**FS, **NO_DELETE}, "http": {"addr": ":5000", "headers": NOSNIFF}, "health": HEALTH},
    ),
    (
        "a blank secret and a blank client CA count as none",
        {"tls": True, "client_ca": "  \n", "http_secret": " "},
        {},
        {
            "storage": {**FS, **NO_DELETE},
            "http": {
                "addr": ":5000",
                "headers": NOSNIFF,
                "tls": {"certificate": f"{M}/tls/server.crt", "key": f"{M}/tls/server.key"},
            },
            "health": HEALTH,
        },
    ),
    (
        "booleans given as text (-e registry_tls=false) are read as booleans",
        {"tls": "false", "delete_enabled": "yes"},
        {},
        {
            "storage": {**FS, "delete": {"enabled": True}},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "health": HEALTH,
        },
    ),
    (
        "another mount point, given with a trailing slash",
        {"tls": True, "auth": "htpasswd", "realm": "R", "mount": "/etc/distribution/"},
        {},
        {
            "storage": {**FS, **NO_DELETE},
            "http": {
                "addr": ":5000",
                "headers": NOSNIFF,
                "tls": {"certificate": "/etc/distribution/tls/server.crt", "key": "/etc/distribution/tls/server.key"},
            },
            "auth": {"htpasswd": {"realm": "R", "path": "/etc/distribution/auth/htpasswd"}},
            "health": HEALTH,
        },
    ),
    (
        "a storage driver of the user's replaces the filesystem default; delete still merged",
        {"delete_enabled": True},
        {"storage": {"s3": {"region": "eu-west-1", "bucket": "b"}}},
        {
            "storage": {"delete": {"enabled": True}, "s3": {"region": "eu-west-1", "bucket": "b"}},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "health": HEALTH,
        },
    ),
    (
        "the user's filesystem settings merge into the default driver",
        {},
        {"storage": {"filesystem": {"rootdirectory": "/data", "maxthreads": 100}, "delete": {"enabled": True}}},
        {
            "storage": {"filesystem": {"rootdirectory": "/data", "maxthreads": 100}, "delete": {"enabled": True}},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "health": HEALTH,
        },
    ),
    (
        "inmemory storage (an empty dict inside storage) is kept",
        {},
        {"storage": {"inmemory": {}}},
        {
            "storage": {"delete": {"enabled": False}, "inmemory": {}},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "health": HEALTH,
        },
    ),
    (
        "every section and replicas reach the module: catalog, compatibility, reporting, replicas, log",
        {},
        {
            "catalog": {"maxentries": 500},
            "compatibility": {"schema1": {"enabled": True}},
            "reporting": {"newrelic": {"name": "reg"}},
            "replicas": 2,
            "log": {"level": "info"},
        },
        {
            "storage": {**FS, **NO_DELETE},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "health": HEALTH,
            "catalog": {"maxentries": 500},
            "compatibility": {"schema1": {"enabled": True}},
            "reporting": {"newrelic": {"name": "reg"}},
            "replicas": 2,
            "log": {"level": "info"},
        },
    ),
    (
        "http merges key by key; a list (a header's values) is replaced, not appended",
        {"http_secret": "s"},
        {"http": {"addr": ":6000", "headers": {"X-Content-Type-Options": ["other"], "X-Frame": ["DENY"]}}},
        {
            "storage": {**FS, **NO_DELETE},
            "http": {
                "addr": ":6000",
                "headers": {"X-Content-Type-Options": ["other"], "X-Frame": ["DENY"]},
                "secret": "s",
            },
            "health": HEALTH,
        },
    ),
    (
        "token auth of the user's with the role's auth none; health turned off",
        {},
        {
            "auth": {"token": {"realm": "https://a/token", "service": "s", "issuer": "i", "rootcertbundle": "/c"}},
            "health": {"storagedriver": {"enabled": False}},
        },
        {
            "storage": {**FS, **NO_DELETE},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "health": {"storagedriver": {"enabled": False, "interval": "10s", "threshold": 3}},
            "auth": {"token": {"realm": "https://a/token", "service": "s", "issuer": "i", "rootcertbundle": "/c"}},
        },
    ),
    (
        "empty top-level sections are left out; an unknown key is kept (preflight refuses it, nothing is dropped)",
        {},
        {"notifications": {}, "nosuch": {"a": 1}},
        {
            "storage": {**FS, **NO_DELETE},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "health": HEALTH,
            "nosuch": {"a": 1},
        },
    ),
    (
        "token auth (2.8): the signer's certificate beside config.yml, notifications with the shared secret",
        {
            "auth": "token",
            "delete_enabled": True,
            "token_realm": "https://reg.example/auth/token",
            "token_service": "reg.example",
            "token_issuer": "dockyard-auth",
            "notifications_url": "http://dockyard-auth:5001/events",
            "notifications_secret": "EV",
        },
        {},
        {
            "storage": {**FS, "delete": {"enabled": True}},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "auth": {
                "token": {
                    "realm": "https://reg.example/auth/token",
                    "service": "reg.example",
                    "issuer": "dockyard-auth",
                    "rootcertbundle": f"{M}/token/token-signer.crt",
                }
            },
            "notifications": {
                "endpoints": [
                    {
                        "name": "dockyard-auth",
                        "url": "http://dockyard-auth:5001/events",
                        "headers": {"Authorization": ["Bearer EV"]},
                        "timeout": "5s",
                        "threshold": 3,
                        "backoff": "2s",
                        "ignore": {"actions": ["pull"]},
                    }
                ]
            },
            "health": HEALTH,
        },
    ),
    (
        "token auth (3): the JWKS too",
        {
            "auth": "token",
            "version": "3",
            "token_realm": "https://r/auth/token",
            "token_service": "r",
            "token_issuer": "i",
        },
        {},
        {
            "storage": {**FS, **NO_DELETE},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "auth": {
                "token": {
                    "realm": "https://r/auth/token",
                    "service": "r",
                    "issuer": "i",
                    "rootcertbundle": f"{M}/token/token-signer.crt",
                    "jwks": f"{M}/token/token-signer.jwks.json",
                }
            },
            "health": HEALTH,
        },
    ),
    (
        "behind a proxy on this host: a socket, and no line per request (nginx logs them)",
        {"socket_dir": "/var/lib/dockyard/registry-socket/", "request_log": False},
        {},
        {
            "storage": {**FS, **NO_DELETE},
            "http": {"net": "unix", "addr": "/var/lib/dockyard/registry-socket/registry.sock", "headers": NOSNIFF},
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "health": HEALTH,
        },
    ),
    (
        "the user's log level wins, the access log stays off",
        {"request_log": "false"},
        {"log": {"level": "info"}},
        {
            "storage": {**FS, **NO_DELETE},
            "http": {"addr": ":5000", "headers": NOSNIFF},
            "log": {"level": "info", "accesslog": {"disabled": True}},
            "health": HEALTH,
        },
    ),
    (
        "no registry_config at all (None)",
        {},
        None,
        {"storage": {**FS, **NO_DELETE}, "http": {"addr": ":5000", "headers": NOSNIFF}, "health": HEALTH},
    ),
]


@pytest.mark.parametrize(("inputs", "user", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_role_config(inputs, user, expected):
    assert rr.role_config(user, **inputs) == expected


def test_role_config_does_not_change_its_inputs():
    user = {"storage": {"filesystem": {"rootdirectory": "/data"}}}
    rr.role_config(user, tls=True)
    first = rr.role_config({}, delete_enabled=True)
    first["health"]["storagedriver"]["enabled"] = False
    assert user == {"storage": {"filesystem": {"rootdirectory": "/data"}}}
    assert rr.role_config({})["health"] == HEALTH


KNOWN = (
    "log, storage, http, auth, notifications, redis, health, proxy, validation, catalog, reporting, compatibility, "
    "replicas"
)


@pytest.mark.parametrize(
    ("user", "errors"),
    [
        ({}, []),
        (None, []),
        ({"catalog": {"maxentries": 500}, "replicas": 2, "reporting": {}, "compatibility": {}}, []),
        (
            {"nosuch": {}},
            [
                "registry_config.nosuch: not a section of the registry's configuration that "
                f"dockyard.registry.registry_config takes; use one of {KNOWN}"
            ],
        ),
        (
            {"log": {}, "version": "0.1", "middleware": {}},
            [
                "registry_config.version: not a section of the registry's configuration that "
                f"dockyard.registry.registry_config takes; use one of {KNOWN}",
                "registry_config.middleware: not a section of the registry's configuration that "
                f"dockyard.registry.registry_config takes; use one of {KNOWN}",
            ],
        ),
        (["log"], ["registry_config: must be a dict of sections, got list"]),
    ],
)
def test_config_errors(user, errors):
    assert rr.config_errors(user) == errors


def test_known_keys_are_the_modules_sections_and_replicas():
    assert ", ".join(rr.KNOWN_KEYS) == KNOWN


@pytest.mark.parametrize(
    ("auth", "deps"),
    [
        (
            "none",
            [
                {"module": "yaml", "packages": ["python3-yaml"]},
                {"module": "requests", "packages": ["python3-requests"]},
            ],
        ),
        (
            "htpasswd",
            [
                {"module": "yaml", "packages": ["python3-yaml"]},
                {"module": "requests", "packages": ["python3-requests"]},
                {"module": "passlib.hash, bcrypt", "packages": ["python3-passlib", "python3-bcrypt"]},
            ],
        ),
    ],
)
def test_module_deps(auth, deps):
    assert rr.module_deps(auth) == deps


@pytest.mark.parametrize(
    ("args", "files"),
    [
        (("C", "K"), [
            {"path": "server.crt", "content": "C\n", "mode": "0644"},
            {"path": "server.key", "content": "K\n", "mode": "0600", "secret": True},
        ]),
        (("\n C \n", "K\n\n", "CA"), [
            {"path": "server.crt", "content": "C\n", "mode": "0644"},
            {"path": "server.key", "content": "K\n", "mode": "0600", "secret": True},
            {"path": "client-ca.crt", "content": "CA\n", "mode": "0644"},
        ]),
        (("C", "K", " "), [
            {"path": "server.crt", "content": "C\n", "mode": "0644"},
            {"path": "server.key", "content": "K\n", "mode": "0600", "secret": True},
        ]),
        (("C", "K", "CA", False), []),
        (("", "", "", "false"), []),
    ],
)  # fmt: skip
def test_tls_files(args, files):
    assert rr.tls_files(*args) == files


@pytest.mark.parametrize(
    ("args", "files"),
    [
        (("C", "J", "token", "2.8"), [{"path": "token-signer.crt", "content": "C\n", "mode": "0644"}]),
        (("C\n\n", " J ", "token", "3"), [
            {"path": "token-signer.crt", "content": "C\n", "mode": "0644"},
            {"path": "token-signer.jwks.json", "content": "J\n", "mode": "0644"},
        ]),
        (("C", "J", "htpasswd", "3"), []),
        (("", "", "none", "2.8"), []),
    ],
)  # fmt: skip
def test_token_files(args, files):
    assert rr.token_files(*args) == files


def test_inputs_digest_is_sha256_of_a_canonical_document():
    files = [{"path": "server.key", "content": "K\n", "secret": True}, {"path": "server.crt", "content": "C\n"}]
    text = (
        '{"config":{"catalog":{"maxentries":500},"http":{"addr":":5000"}},'
        '"files":[{"content":"C\\n","path":"server.crt"},{"content":"K\\n","path":"server.key"}],'
        '"registry_version":"2.8"}'
    )
    digest = rr.inputs_digest({"http": {"addr": ":5000"}, "catalog": {"maxentries": 500}}, files, "2.8")
    assert digest == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("other", "same"),
    [
        (({"http": {"addr": ":5000"}}, [], "2.8"), True),
        (({"http": {"addr": ":5001"}}, [], "2.8"), False),
        (({"http": {"addr": ":5000"}}, [], "3"), False),
        (({"http": {"addr": ":5000"}}, [{"path": "server.crt", "content": "C\n"}], "2.8"), False),
        (({"http": {"addr": ":5000"}}, None, "2.8"), True),
    ],
)
def test_inputs_digest_changes_with_any_input(other, same):
    base = rr.inputs_digest({"http": {"addr": ":5000"}}, [], "2.8")
    assert (rr.inputs_digest(*other) == base) is same


def _key(kind):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _cert(key, issuer_key=None, name="registry.test"):
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(issuer_key or key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )


def _pem(key, fmt=serialization.PrivateFormat.PKCS8, encryption=None):
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def keys():
    return {"ec": _key("ec"), "ec2": _key("ec"), "rsa": _key("rsa")}


def test_tls_key_matches(keys):
    ec_cert = _cert(keys["ec"])
    rsa_cert = _cert(keys["rsa"])
    ca_cert = _cert(keys["ec2"], name="ca")
    table = [
        (ec_cert, _pem(keys["ec"]), True),
        (rsa_cert, _pem(keys["rsa"]), True),
        (rsa_cert, _pem(keys["rsa"], serialization.PrivateFormat.TraditionalOpenSSL), True),
        ("\n" + ec_cert + "\n", "  " + _pem(keys["ec"]) + "\n\n", True),
        (ec_cert + ca_cert, _pem(keys["ec"]), True),  # a chain: the first certificate is the server's
        (ca_cert + ec_cert, _pem(keys["ec"]), False),
        (ec_cert, _pem(keys["ec2"]), False),
        (rsa_cert, _pem(keys["ec"]), False),
        (_cert(keys["ec2"], issuer_key=keys["ec"]), _pem(keys["ec"]), False),  # signed by the key, not for it
    ]
    for certificate, key, expected in table:
        assert rr.tls_key_matches(certificate, key) is expected


def test_tls_key_problems_name_the_input_never_its_content(keys):
    cert = _cert(keys["ec"])
    key = _pem(keys["ec"])
    encrypted = _pem(keys["ec"], encryption=serialization.BestAvailableEncryption(b"pw"))
    table = [
        ("not a certificate", key, "the certificate is not a PEM certificate"),
        ("", key, "the certificate is not a PEM certificate"),
        (key, key, "the certificate is not a PEM certificate"),
        (cert, "", "the key is not an unencrypted PEM private key"),
        (cert, cert, "the key is not an unencrypted PEM private key"),
        (cert, encrypted, "the key is not an unencrypted PEM private key"),
        (cert, key.replace("A", "B", 3), "the key is not an unencrypted PEM private key"),
    ]
    for certificate, private, message in table:
        with pytest.raises(rr.TlsInputError) as caught:
            rr.tls_key_matches(certificate, private)
        assert str(caught.value) == message


@pytest.mark.parametrize(
    ("network_mode", "published_port", "addr"),
    [("", 5443, ":5000"), ("host", 5443, ":5443"), ("host", 5000, ":5000")],
)
def test_in_the_hosts_network_the_registry_listens_on_the_published_port(network_mode, published_port, addr):
    config = rr.role_config({}, network_mode=network_mode, published_port=published_port)
    assert config["http"]["addr"] == addr

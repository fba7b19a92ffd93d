"""registry_config through its own entry point: good and bad inputs, check mode, diff, idempotence, masking."""

from __future__ import annotations

import difflib
import os
import stat

import pytest
import yaml
from ansible_collections.dockyard.registry.plugins.module_utils import _registry_config as rc
from ansible_collections.dockyard.registry.plugins.module_utils._registry_config_schema import SECTIONS, doc_options
from ansible_collections.dockyard.registry.plugins.modules import registry_config

from tests.unit.plugins.conftest import ModuleFailed

TOKEN = {
    "realm": "https://auth.example.com/token",
    "service": "registry.example.com",
    "issuer": "dockyard",
    "rootcertbundle": "/etc/docker/registry/token.crt",
}
TLS = {"certificate": "/etc/docker/registry/tls.crt", "key": "/etc/docker/registry/tls.key"}


@pytest.fixture
def target(tmp_path):
    return tmp_path / "config.yml"


def written(path) -> dict:
    return yaml.safe_load(path.read_text())


# --- Good inputs: what lands in the file ----------------------------------------------------------

GOOD = [
    pytest.param(
        "2.8",
        {},
        {"storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}}, "http": {"addr": ":5000"}},
        id="nothing-given",
    ),
    pytest.param(
        "2.8",
        {
            "storage": {
                "s3": {
                    "region": "eu-west-1",
                    "bucket": "b",
                    "accesskey": "AKIA",
                    "secretkey": "sk",
                    "chunksize": 5242880,
                },
                "cache": {"blobdescriptor": "redis"},
                "redirect": {"disable": True},
            },
            "redis": {"addr": "redis:6379", "password": "rp", "db": 1, "pool": {"maxidle": 16, "idletimeout": "300s"}},
        },
        {
            "storage": {
                "s3": {
                    "accesskey": "AKIA",
                    "secretkey": "sk",
                    "region": "eu-west-1",
                    "bucket": "b",
                    "chunksize": 5242880,
                },
                "redirect": {"disable": True},
                "cache": {"blobdescriptor": "redis"},
            },
            "http": {"addr": ":5000"},
            "redis": {"addr": "redis:6379", "password": "rp", "db": 1, "pool": {"maxidle": 16, "idletimeout": "300s"}},
        },
        id="s3-with-redis-cache-2.8",
    ),
    pytest.param(
        "3",
        {
            "storage": {
                "azure": {
                    "accountname": "acc",
                    "container": "c",
                    "accountkey": "ak",
                    "credentials": {"type": "shared_key"},
                },
                "cache": {"blobdescriptor": "inmemory", "blobdescriptorsize": 5000},
            },
            "redis": {
                "addrs": ["r1:6379", "r2:6379"],
                "poolsize": 10,
                "tls": {"certificate": "/c.pem", "key": "/k.pem"},
            },
        },
        {
            "storage": {
                "azure": {
                    "accountname": "acc",
                    "accountkey": "ak",
                    "container": "c",
                    "credentials": {"type": "shared_key"},
                },
                "cache": {"blobdescriptor": "inmemory", "blobdescriptorsize": 5000},
            },
            "http": {"addr": ":5000"},
            "redis": {
                "addrs": ["r1:6379", "r2:6379"],
                "poolsize": 10,
                "tls": {"certificate": "/c.pem", "key": "/k.pem"},
            },
        },
        id="azure-and-redis-3",
    ),
    pytest.param(
        "2.8",
        {"storage": {"gcs": {"bucket": "b", "credentials": {"type": "service_account", "private_key": "PEM"}}}},
        {
            "storage": {"gcs": {"bucket": "b", "credentials": {"type": "service_account", "private_key": "PEM"}}},
            "http": {"addr": ":5000"},
        },
        id="gcs-inline-credentials",
    ),
    pytest.param(
        "2.8",
        {
            "storage": {
                "swift": {"authurl": "https://keystone.example/v3", "username": "u", "password": "p", "container": "c"}
            }
        },
        {
            "storage": {
                "swift": {"authurl": "https://keystone.example/v3", "username": "u", "password": "p", "container": "c"}
            },
            "http": {"addr": ":5000"},
        },
        id="swift-2.8",
    ),
    pytest.param(
        "2.8",
        {"storage": {"oss": {"accesskeyid": "i", "accesskeysecret": "s", "region": "oss-cn-hangzhou", "bucket": "b"}}},
        {
            "storage": {
                "oss": {"accesskeyid": "i", "accesskeysecret": "s", "region": "oss-cn-hangzhou", "bucket": "b"}
            },
            "http": {"addr": ":5000"},
        },
        id="oss-2.8",
    ),
    pytest.param(
        "2.8",
        {
            "http": {
                "addr": "0.0.0.0:5443",
                "host": "https://registry.example.com",
                "secret": "hs",
                "tls": {**TLS, "clientcas": ["/etc/docker/registry/ca.pem"], "minimumtls": "tls1.2"},
                "headers": {"X-Content-Type-Options": "nosniff"},
                "debug": {"addr": "127.0.0.1:5001", "prometheus": {"enabled": True, "path": "/metrics"}},
            },
            "storage": {
                "filesystem": {"rootdirectory": "/srv/registry", "maxthreads": 50},
                "maintenance": {
                    "uploadpurging": {"enabled": True, "age": "168h", "interval": "24h", "dryrun": False},
                    "readonly": {"enabled": False},
                },
            },
        },
        {
            "storage": {
                "filesystem": {"rootdirectory": "/srv/registry", "maxthreads": 50},
                "maintenance": {
                    "uploadpurging": {"enabled": True, "age": "168h", "interval": "24h", "dryrun": False},
                    "readonly": {"enabled": False},
                },
            },
            "http": {
                "addr": "0.0.0.0:5443",
                "host": "https://registry.example.com",
                "secret": "hs",
                "tls": {**TLS, "clientcas": ["/etc/docker/registry/ca.pem"], "minimumtls": "tls1.2"},
                "headers": {"X-Content-Type-Options": ["nosniff"]},
                "debug": {"addr": "127.0.0.1:5001", "prometheus": {"enabled": True, "path": "/metrics"}},
            },
        },
        id="tls-mtls-headers-debug",
    ),
    pytest.param(
        "3",
        {
            "auth": {
                "token": {
                    "realm": "https://a.example/token",
                    "service": "s",
                    "issuer": "i",
                    "jwks": "/etc/jwks.json",
                    "signingalgorithms": ["RS256", "ES256"],
                }
            },
            "log": {"level": "debug", "formatter": "json", "reportcaller": True, "fields": {"service": "registry"}},
        },
        {
            "log": {"level": "debug", "formatter": "json", "fields": {"service": "registry"}, "reportcaller": True},
            "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}},
            "http": {"addr": ":5000"},
            "auth": {
                "token": {
                    "realm": "https://a.example/token",
                    "service": "s",
                    "issuer": "i",
                    "jwks": "/etc/jwks.json",
                    "signingalgorithms": ["RS256", "ES256"],
                }
            },
        },
        id="token-with-jwks-only-3",
    ),
    pytest.param(
        "2.8",
        {"auth": {"htpasswd": {"path": "/etc/docker/registry/htpasswd"}}},
        {
            "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}},
            "http": {"addr": ":5000"},
            "auth": {"htpasswd": {"realm": "Registry Realm", "path": "/etc/docker/registry/htpasswd"}},
        },
        id="htpasswd-default-realm",
    ),
    pytest.param(
        "2.8",
        {
            "notifications": {
                "events": {"includereferences": True},
                "endpoints": [
                    {
                        "name": "hook",
                        "url": "https://hooks.example/registry",
                        "timeout": "1s",
                        "headers": {"Authorization": ["Bearer t"]},
                        "ignore": {"actions": ["pull"], "mediatypes": ["application/octet-stream"]},
                    }
                ],
            },
            "health": {
                "storagedriver": {"enabled": True, "interval": "10s", "threshold": 3},
                "file": [{"file": "/etc/docker/registry/down"}],
                "http": [{"uri": "http://up.example/health", "statuscode": 200}],
                "tcp": [{"addr": "redis:6379", "timeout": "3s"}],
            },
        },
        {
            "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}},
            "http": {"addr": ":5000"},
            "notifications": {
                "events": {"includereferences": True},
                "endpoints": [
                    {
                        "name": "hook",
                        "url": "https://hooks.example/registry",
                        "headers": {"Authorization": ["Bearer t"]},
                        "timeout": "1s",
                        "ignore": {"mediatypes": ["application/octet-stream"], "actions": ["pull"]},
                    }
                ],
            },
            "health": {
                "storagedriver": {"enabled": True, "interval": "10s", "threshold": 3},
                "file": [{"file": "/etc/docker/registry/down"}],
                "http": [{"uri": "http://up.example/health", "statuscode": 200}],
                "tcp": [{"addr": "redis:6379", "timeout": "3s"}],
            },
        },
        id="notifications-and-health",
    ),
    pytest.param(
        "3",
        {
            "proxy": {
                "remoteurl": "https://registry-1.docker.io",
                "exec": {"command": "/usr/bin/cred", "lifetime": "1h"},
                "ttl": "0",
            },
            "validation": {
                "disabled": False,
                "manifests": {
                    "indexes": {"platforms": "list", "platformlist": [{"architecture": "amd64", "os": "linux"}]}
                },
            },
        },
        {
            "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}},
            "http": {"addr": ":5000"},
            "proxy": {
                "remoteurl": "https://registry-1.docker.io",
                "ttl": "0",
                "exec": {"command": "/usr/bin/cred", "lifetime": "1h"},
            },
            "validation": {
                "disabled": False,
                "manifests": {
                    "indexes": {"platforms": "list", "platformlist": [{"architecture": "amd64", "os": "linux"}]}
                },
            },
        },
        id="proxy-exec-ttl-and-index-validation-3",
    ),
    pytest.param(
        "2.8",
        {
            "reporting": {"bugsnag": {"apikey": "k", "releasestage": "prod"}},
            "compatibility": {"schema1": {"enabled": True}},
            "catalog": {"maxentries": 200},
            "proxy": {"remoteurl": "https://mirror.example", "username": "u", "password": "p"},
        },
        {
            "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}},
            "http": {"addr": ":5000"},
            "proxy": {"remoteurl": "https://mirror.example", "username": "u", "password": "p"},
            "catalog": {"maxentries": 200},
            "reporting": {"bugsnag": {"apikey": "k", "releasestage": "prod"}},
            "compatibility": {"schema1": {"enabled": True}},
        },
        id="reporting-compatibility-proxy-2.8",
    ),
]


@pytest.mark.parametrize(("version", "args", "expected"), GOOD)
def test_good_input_is_written_as_the_registry_reads_it(run_module, target, version, args, expected):
    result = run_module(registry_config, {"path": str(target), "registry_version": version, **args})
    assert result["changed"] is True
    assert written(target) == {"version": "0.1", **expected}
    assert list(written(target)) == ["version", *[s for s in SECTIONS if s in expected]]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert result["path"] == str(target)
    assert result["config"] == rc.mask(written(target))
    again = run_module(registry_config, {"path": str(target), "registry_version": version, **args})
    assert again["changed"] is False


# --- Bad inputs: the message names the option, and nothing is written -------------------------------

BAD = [
    # strictness and versions
    ("2.8", {"storage": {"s3": {"region": "r", "bucket": "b", "regoin": "x"}}}, "storage.s3.regoin"),
    ("2.8", {"storage": {"inmemory": {"size": 1}}}, "storage.inmemory: takes no parameters, found size"),
    ("2.8", {"auth": {"token": {**TOKEN, "jwks": "/j.json"}}}, "auth.token.jwks: registry 2.8 does not have it"),
    ("2.8", {"redis": {"addrs": ["r:6379"]}}, "redis.addrs: registry 2.8 does not have it"),
    ("2.8", {"proxy": {"remoteurl": "https://r.example", "ttl": "1h"}}, "proxy.ttl: registry 2.8 does not have it"),
    ("2.8", {"log": {"reportcaller": True}}, "log.reportcaller: registry 2.8 does not have it"),
    (
        "3",
        {"storage": {"swift": {}}},
        "storage.swift: registry 3 does not have it: the swift driver was removed in registry 3.0",
    ),
    (
        "3",
        {"storage": {"oss": {}}},
        "storage.oss: registry 3 does not have it: the oss driver was removed in registry 3.0",
    ),
    ("3", {"redis": {"addr": "r:6379"}}, "redis.addr: registry 3 does not have it: removed in registry 3.0: use addrs"),
    ("3", {"redis": {"addrs": ["r:1"], "pool": {"maxidle": 1}}}, "redis.pool: registry 3 does not have it"),
    (
        "3",
        {"reporting": {}},
        "reporting: registry 3 does not have it: the reporting section was removed in registry 3.0",
    ),
    (
        "3",
        {"compatibility": {"schema1": {"enabled": True}}},
        "compatibility: registry 3 does not have it: schema1 manifests",
    ),
    (
        "3",
        {"http": {"tls": {**TLS, "minimumtls": "tls1.1"}}},
        "http.tls.minimumtls: 'tls1.1' is not known to registry 3",
    ),
    # storage
    (
        "2.8",
        {"storage": {"filesystem": {}, "s3": {"region": "r", "bucket": "b"}}},
        "storage: filesystem and s3 are all given",
    ),
    ("2.8", {"storage": {"s3": {"bucket": "b"}}}, "storage.s3.region: required by the s3 driver"),
    ("2.8", {"storage": {"s3": {"region": "r"}}}, "storage.s3.bucket: required by the s3 driver"),
    (
        "2.8",
        {"storage": {"s3": {"region": "r", "bucket": "b", "accesskey": "a"}}},
        "storage.s3.accesskey, storage.s3.secretkey: give both",
    ),
    (
        "2.8",
        {"storage": {"s3": {"region": "r", "bucket": "b", "regionendpoint": "minio:9000"}}},
        "storage.s3.regionendpoint: 'minio:9000' is not an absolute http(s) URL",
    ),
    (
        "2.8",
        {"storage": {"azure": {"accountname": "a", "container": "c"}}},
        "storage.azure.accountkey: required by the azure driver",
    ),
    (
        "3",
        {"storage": {"azure": {"accountname": "a", "container": "c", "accountkey": "k"}}},
        "storage.azure.credentials.type: required by registry 3.x",
    ),
    (
        "3",
        {"storage": {"azure": {"accountname": "a", "container": "c", "credentials": {"type": "shared_key"}}}},
        "storage.azure.accountkey: required with storage.azure.credentials.type: shared_key",
    ),
    (
        "3",
        {
            "storage": {
                "azure": {
                    "accountname": "a",
                    "container": "c",
                    "credentials": {"type": "client_secret", "clientid": "i", "tenantid": "t"},
                }
            }
        },
        "storage.azure.credentials.secret: required with storage.azure.credentials.type: client_secret",
    ),
    (
        "2.8",
        {"storage": {"azure": {"container": "c", "accountkey": "k"}}},
        "storage.azure.accountname: required by the azure driver",
    ),
    ("2.8", {"storage": {"gcs": {"keyfile": "/k.json"}}}, "storage.gcs.bucket: required by the gcs driver"),
    (
        "2.8",
        {"storage": {"gcs": {"bucket": "b", "keyfile": "/k.json", "credentials": {"type": "service_account"}}}},
        "storage.gcs.keyfile, storage.gcs.credentials: give one",
    ),
    (
        "2.8",
        {"storage": {"swift": {"authurl": "https://k.example", "username": "u", "container": "c"}}},
        "storage.swift.password: required by the swift driver",
    ),
    (
        "2.8",
        {"storage": {"oss": {"accesskeyid": "i", "accesskeysecret": "s", "bucket": "b"}}},
        "storage.oss.region: required by the oss driver",
    ),
    ("2.8", {"storage": {"filesystem": {"maxthreads": 10}}}, "storage.filesystem.maxthreads: must be at least 25"),
    (
        "2.8",
        {"storage": {"filesystem": {"rootdirectory": "data"}}},
        "storage.filesystem.rootdirectory: 'data' is not an absolute path",
    ),
    (
        "2.8",
        {"storage": {"cache": {"blobdescriptor": "redis"}}},
        "storage.cache.blobdescriptor: redis needs the redis section (redis.addr)",
    ),
    (
        "3",
        {"storage": {"cache": {"blobdescriptor": "redis", "blobdescriptorsize": 10}}, "redis": {"addrs": ["r:1"]}},
        "storage.cache.blobdescriptorsize: only applies with storage.cache.blobdescriptor: inmemory",
    ),
    (
        "2.8",
        {"storage": {"maintenance": {"uploadpurging": {"age": "7 days"}}}},
        "storage.maintenance.uploadpurging.age: '7 days' is not a duration",
    ),
    # replicas
    ("2.8", {"replicas": 3}, "http.secret: required with replicas: 3"),
    (
        "2.8",
        {"replicas": 2, "http": {"secret": "s"}, "storage": {"inmemory": {}}},
        "storage.inmemory: each of the 2 replicas",
    ),
    ("2.8", {"replicas": 0}, "replicas: 0 must be 1 or more"),
    # http
    (
        "2.8",
        {"http": {"host": "https://r.example", "relativeurls": True}},
        "http.host, http.relativeurls: with http.host set the registry ignores relativeurls",
    ),
    (
        "2.8",
        {"http": {"host": "registry.example.com"}},
        "http.host: 'registry.example.com' is not an absolute http(s) URL",
    ),
    ("2.8", {"http": {"addr": ":70000"}}, "http.addr: ':70000' has port 70000; give a port from 1 to 65535"),
    ("3", {"http": {"addr": "localhost:abc"}}, "http.addr: 'localhost:abc' has port 'abc', not a number"),
    ("2.8", {"http": {"addr": ":0"}}, "http.addr: ':0' has port 0, so the registry would listen on a random port"),
    ("3", {"http": {"addr": "localhost:"}}, "http.addr: 'localhost:' has no port after the ':'"),
    ("2.8", {"http": {"net": "unix"}}, "http.addr: required with http.net: unix"),
    ("2.8", {"http": {"tls": {"certificate": "/c.pem"}}}, "http.tls.certificate, http.tls.key: give both"),
    (
        "2.8",
        {"http": {"tls": {"clientcas": ["/ca.pem"]}}},
        "http.tls.clientcas: needs http.tls.certificate and http.tls.key",
    ),
    (
        "2.8",
        {"http": {"tls": {**TLS, "clientcas": ["ca.pem"]}}},
        "http.tls.clientcas: 'ca.pem' is not an absolute path",
    ),
    (
        "2.8",
        {"http": {"tls": {"letsencrypt": {"email": "a@example.com"}}}},
        "http.tls.letsencrypt.cachefile: required to use Let's Encrypt",
    ),
    (
        "2.8",
        {"http": {"debug": {"prometheus": {"enabled": True}}}},
        "http.debug.prometheus.enabled: metrics are served on the debug server; set http.debug.addr",
    ),
    ("2.8", {"http": {"headers": {"X-A": [1]}}}, "http.headers.X-A: must be a string or a non-empty list of strings"),
    # auth
    (
        "2.8",
        {"auth": {"htpasswd": {"path": "/h"}, "token": TOKEN}},
        "auth: htpasswd and token are both given; the registry takes one provider",
    ),
    ("2.8", {"auth": {"htpasswd": {"realm": "R"}}}, "auth.htpasswd.path: required by htpasswd authentication"),
    ("2.8", {"auth": {"htpasswd": {"path": "htpasswd"}}}, "auth.htpasswd.path: 'htpasswd' is not an absolute path"),
    *(
        (
            "2.8",
            {"auth": {"token": {k: v for k, v in TOKEN.items() if k != missing}}},
            f"auth.token.{missing}: required by token authentication",
        )
        for missing in ("realm", "service", "issuer", "rootcertbundle")
    ),
    (
        "3",
        {"auth": {"token": {k: v for k, v in TOKEN.items() if k != "rootcertbundle"}}},
        "auth.token.rootcertbundle: required by token authentication (or auth.token.jwks on 3.x)",
    ),
    (
        "2.8",
        {"auth": {"token": {**TOKEN, "realm": "/token"}}},
        "auth.token.realm: '/token' is not an absolute http(s) URL",
    ),
    (
        "3",
        {"auth": {"token": {**TOKEN, "autoredirectpath": "/auth"}}},
        "auth.token.autoredirectpath: only used with auth.token.autoredirect: true",
    ),
    # notifications
    (
        "2.8",
        {"notifications": {"endpoints": [{"url": "https://h.example/e"}]}},
        "notifications.endpoints[0].name: required for every endpoint",
    ),
    (
        "2.8",
        {"notifications": {"endpoints": [{"name": "a"}]}},
        "notifications.endpoints[0].url: required for every endpoint",
    ),
    (
        "2.8",
        {
            "notifications": {
                "endpoints": [{"name": "a", "url": "https://h.example/1"}, {"name": "a", "url": "https://h.example/2"}]
            }
        },
        "notifications.endpoints[1].name: 'a' is used twice",
    ),
    (
        "2.8",
        {"notifications": {"endpoints": [{"name": "a", "url": "https://h.example/e", "timeout": "1"}]}},
        "notifications.endpoints[0].timeout: '1' is not a duration",
    ),
    # redis
    ("2.8", {"redis": {"password": "p"}}, "redis.addr: required when the redis section is given"),
    ("3", {"redis": {"db": 1}}, "redis.addrs: required when the redis section is given"),
    (
        "3",
        {"redis": {"addrs": ["r:1"], "tls": {"certificate": "/c.pem"}}},
        "redis.tls.certificate, redis.tls.key: give both",
    ),
    # health
    ("2.8", {"health": {"file": [{"interval": "10s"}]}}, "health.file[0].file: required for every file check"),
    ("2.8", {"health": {"http": [{"statuscode": 200}]}}, "health.http[0].uri: required for every http check"),
    ("2.8", {"health": {"tcp": [{"timeout": "1s"}]}}, "health.tcp[0].addr: required for every tcp check"),
    # proxy
    ("2.8", {"proxy": {"username": "u", "password": "p"}}, "proxy.remoteurl: required"),
    (
        "2.8",
        {"proxy": {"remoteurl": "https://r.example", "username": "u"}},
        "proxy.username, proxy.password: give both",
    ),
    (
        "2.8",
        {"proxy": {"remoteurl": "https://r.example"}, "storage": {"delete": {"enabled": True}}},
        "proxy, storage.delete.enabled: a pull-through cache refuses every DELETE",
    ),
    (
        "3",
        {"proxy": {"remoteurl": "https://r.example", "username": "u", "password": "p", "exec": {"command": "/c"}}},
        "proxy.exec, proxy.username: give one",
    ),
    (
        "3",
        {"proxy": {"remoteurl": "https://r.example", "exec": {"lifetime": "1h"}}},
        "proxy.exec.command: required with proxy.exec",
    ),
    # validation
    (
        "3",
        {"validation": {"manifests": {"indexes": {"platforms": "list"}}}},
        "validation.manifests.indexes.platformlist: required with platforms: list",
    ),
    (
        "3",
        {"validation": {"manifests": {"indexes": {"platforms": "all", "platformlist": [{"os": "linux"}]}}}},
        "validation.manifests.indexes.platformlist: only used with platforms: list",
    ),
    # Ansible's own checks
    ("4", {}, "value of registry_version must be one of: 2.8, 3, got: 4"),
    (
        "2.8",
        {"log": {"level": "trace"}},
        "value of level must be one of: error, warn, info, debug, got: trace found in log",
    ),
]


@pytest.mark.parametrize(("version", "args", "message"), BAD, ids=[f"{i:02d}-{b[2][:40]}" for i, b in enumerate(BAD)])
def test_bad_input_fails_naming_the_option_and_writes_nothing(run_module, target, version, args, message):
    target.write_text("old: file\n")
    for check_mode in (True, False):
        with pytest.raises(ModuleFailed) as failed:
            run_module(
                registry_config, {"path": str(target), "registry_version": version, **args}, check_mode=check_mode
            )
        assert message in failed.value.msg
        assert target.read_text() == "old: file\n"


def test_every_problem_is_reported_at_once(run_module, target):
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_config, {"path": str(target), "storage": {"s3": {}}, "replicas": 2})
    assert failed.value.result["errors"] == [
        "storage.s3.region: required by the s3 driver",
        "storage.s3.bucket: required by the s3 driver",
        "http.secret: required with replicas: 2; every replica needs the same secret,"
        " or uploads that move between replicas fail",
    ]
    assert not target.exists()


def test_a_directory_as_path_is_refused(run_module, tmp_path):
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_config, {"path": str(tmp_path)})
    assert failed.value.msg == f"path: {tmp_path} is a directory; give the file, e.g. {tmp_path / 'config.yml'}"


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_missing_directory_fails_in_check_mode_as_in_a_real_run(run_module, tmp_path, check_mode):
    path = tmp_path / "absent" / "config.yml"
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_config, {"path": str(path)}, check_mode=check_mode)
    assert failed.value.msg == f"cannot write {path}: the directory {path.parent} does not exist; create it first"
    assert not path.parent.exists()


# --- Check mode, idempotence, diff, masking ------------------------------------------------------

SECRET_ARGS = {
    "http": {"secret": "http-secret-value", "relativeurls": True},
    "storage": {"s3": {"region": "eu-west-1", "bucket": "b", "accesskey": "AKIA", "secretkey": "s3-secret-value"}},
    "redis": {"addr": "redis:6379", "password": "redis-secret-value"},
    "proxy": {"remoteurl": "https://mirror.example", "username": "u", "password": "proxy-secret-value"},
    "notifications": {
        "endpoints": [
            {"name": "n", "url": "https://h.example/e", "headers": {"Authorization": "Bearer hook-secret-value"}}
        ]
    },
}
SECRET_VALUES = [
    "http-secret-value",
    "s3-secret-value",
    "redis-secret-value",
    "proxy-secret-value",
    "hook-secret-value",
]


def test_four_runs_then_one_change(run_module, target):
    args = {"path": str(target), "storage": {"delete": {"enabled": False}}}
    first = run_module(registry_config, args, check_mode=True, diff=True)
    assert first["changed"] is True
    assert not target.exists()
    assert first["diff"]["before"] == ""
    assert run_module(registry_config, args)["changed"] is True
    content = target.read_bytes()
    assert run_module(registry_config, args, check_mode=True)["changed"] is False
    assert run_module(registry_config, args)["changed"] is False
    assert target.read_bytes() == content

    changed = {**args, "storage": {"delete": {"enabled": True}}}
    predicted = run_module(registry_config, changed, check_mode=True, diff=True)
    assert predicted["changed"] is True
    assert target.read_bytes() == content
    before = predicted["diff"]["before"].splitlines()
    after = predicted["diff"]["after"].splitlines()
    assert [line for line in before if line not in after] == ["    enabled: false"]
    assert [line for line in after if line not in before] == ["    enabled: true"]
    assert run_module(registry_config, changed)["changed"] is True
    assert written(target)["storage"]["delete"] == {"enabled": True}


def test_diff_and_result_never_show_secrets(run_module, target):
    args = {"path": str(target), **SECRET_ARGS}
    first = run_module(registry_config, args, diff=True)
    on_disk = target.read_text()
    for secret in SECRET_VALUES:
        assert secret in on_disk
    changed = {**args, "http": {**SECRET_ARGS["http"], "secret": "rotated-secret-value"}}
    second = run_module(registry_config, changed, diff=True)
    assert second["changed"] is True
    for result in (first, second):
        shown = repr(result)
        for secret in [*SECRET_VALUES, "rotated-secret-value"]:
            assert secret not in shown
    assert second["config"]["http"]["secret"] == rc.MASK
    assert second["config"]["notifications"]["endpoints"][0]["headers"] == {"Authorization": [rc.MASK]}


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines a unified diff of the two texts removes and adds."""
    removed, added = [], []
    old, new = before.splitlines(), after.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += old[i1:i2]
            added += new[j1:j2]
    return removed, added


ROTATED = [
    pytest.param("http", {"secret": "rotated-secret-value"}, "  secret: ", id="http.secret"),
    pytest.param(
        "storage",
        {"s3": {**SECRET_ARGS["storage"]["s3"], "secretkey": "rotated-secret-value"}},
        "    secretkey: ",
        id="storage.s3.secretkey",
    ),
    pytest.param("redis", {"password": "rotated-secret-value"}, "  password: ", id="redis.password"),
    pytest.param("proxy", {"password": "rotated-secret-value"}, "  password: ", id="proxy.password"),
    pytest.param(
        "notifications",
        {
            "endpoints": [
                {**SECRET_ARGS["notifications"]["endpoints"][0], "headers": {"Authorization": "rotated-secret-value"}}
            ]
        },
        "      - ",
        id="notifications.endpoints.headers",
    ),
]


@pytest.mark.parametrize(("section", "change", "prefix"), ROTATED)
@pytest.mark.parametrize("check_mode", [True, False])
def test_a_changed_secret_alone_shows_in_the_diff_masked(run_module, target, section, change, prefix, check_mode):  # noqa: PLR0913, PLR0917
    args = {"path": str(target), **SECRET_ARGS}
    run_module(registry_config, args)
    section_args = {**SECRET_ARGS[section], **change} if section in ("http", "redis", "proxy") else change
    result = run_module(registry_config, {**args, section: section_args}, check_mode=check_mode, diff=True)
    assert result["changed"] is True
    removed, added = changed_lines(result["diff"]["before"], result["diff"]["after"])
    assert removed == [f"{prefix}'{rc.MASK}'"]
    assert added == [f"{prefix}'{rc.MASK} (changed)'"]
    shown = repr(result)
    for secret in [*SECRET_VALUES, "rotated-secret-value"]:
        assert secret not in shown
    # RV(config) stays the plain masked configuration; only the diff marks the change.
    assert rc.MASK + " (changed)" not in repr(result["config"])


def test_an_unchanged_secret_is_not_marked(run_module, target):
    args = {"path": str(target), **SECRET_ARGS}
    run_module(registry_config, args)
    result = run_module(registry_config, {**args, "http": {**SECRET_ARGS["http"], "relativeurls": False}}, diff=True)
    removed, added = changed_lines(result["diff"]["before"], result["diff"]["after"])
    assert (removed, added) == (["  relativeurls: true"], ["  relativeurls: false"])


def test_mode_owner_follow_the_file_arguments(run_module, target):
    run_module(registry_config, {"path": str(target)})
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    result = run_module(registry_config, {"path": str(target), "mode": "0600"})
    assert result["changed"] is True
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_a_hand_written_file_is_replaced_and_its_diff_masks_secrets(run_module, target):
    target.write_text("version: 0.1\nhttp:\n  secret: old-hand-secret\nstorage:\n  filesystem: {}\n")
    result = run_module(registry_config, {"path": str(target)}, diff=True)
    assert result["changed"] is True
    assert "old-hand-secret" not in result["diff"]["before"]
    assert "secret: '********'" in result["diff"]["before"]
    assert written(target) == rc.build({})


# --- The documentation says what the schema says -------------------------------------------------


def test_documentation_is_the_schema():
    """DOCUMENTATION holds doc_options(SECTIONS) exactly: types, choices, defaults, version notes, secrets."""
    options = yaml.safe_load(registry_config.DOCUMENTATION)["options"]
    assert {k: v for k, v in options.items() if k in SECTIONS} == doc_options(SECTIONS)
    assert set(options) == {*SECTIONS, "path", "registry_version", "replicas"}


def test_documentation_notes_every_version_only_key():
    text = registry_config.DOCUMENTATION
    assert text.count("Registry 2.8 only:") == 6
    assert text.count("Registry 3.x only.") == 35
    assert "Registry 2.8 only: the swift driver was removed in registry 3.0" in text
    assert "- Registry 3.x only." in text


def test_without_pyyaml_the_module_says_which_package_to_install(run_module, target, monkeypatch):
    monkeypatch.setattr(rc, "YAML_IMPORT_ERROR", "Traceback: ModuleNotFoundError: No module named 'yaml'")
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_config, {"path": str(target)})
    assert "PyYAML (python3-yaml)" in failed.value.msg
    assert not target.exists()

"""The stack plan: every topology x TLS x auth, typed out by hand, and every refusal with its message."""

# The tables are typed out one case a line, to be read across; bind addresses are data.
# ruff: noqa: S104, S105, E501

from __future__ import annotations

import datetime

import pytest
from ansible_collections.dockyard.registry.plugins.module_utils import _pki
from ansible_collections.dockyard.registry.plugins.module_utils import _stack_plan as sp

NAME = "registry.example.test"
# Each material a distinct text, so that a mix-up shows.
MATERIALS = {
    "ca": "CA",
    "server_cert": "SRV",
    "server_key": "SRVKEY",
    "hop_ca": "HOPCA",
    "hop_registry_cert": "REG",
    "hop_registry_key": "REGKEY",
    "hop_client_cert": "CLI",
    "hop_client_key": "CLIKEY",
    "http_secret": "SECRET",
    "password:alice": "PW",
    "signer_cert": "SIGNER",
    "signer_key": "SIGNERKEY",
    "signer_jwks": "JWKS",
    "events_secret": "EVENTS",
    "database_password": "DBPW",
    "database_root_password": "DBROOT",
    "database_ca": "DBCA",
    "database_cert": "DBCERT",
    "database_key": "DBKEY",
    "s3_access_key": "S3KEY",
    "s3_secret_key": "S3SECRET",
    "redis_password": "REDISPW",
    "mirror_cert": "MCERT",
    "mirror_key": "MKEY",
    "mirror_password": "UPW",
}
ALICE = [{"name": "alice", "password": "PW"}]
SOCKET_DIR = "/var/lib/dockyard/registry-socket"
TOPOLOGIES = {
    # proxy and registry on one host, nginx in a container
    "local": ({"registry_hosts": ["web1"], "proxy_hosts": ["web1"]}, "container"),
    # proxy and registry on one host, the host's own nginx
    "host": ({"registry_hosts": ["web1"], "proxy_hosts": ["web1"]}, "host"),
    # proxy and registry on two hosts: the hop is mutual TLS
    "split": ({"registry_hosts": ["reg1"], "proxy_hosts": ["web1"]}, "container"),
    # the registry alone, serving clients itself
    "native": ({"registry_hosts": ["reg1"], "proxy_hosts": []}, "container"),
}


def choices(**over) -> dict:
    base = {
        "registry_name": NAME,
        "registry_port": None,
        "tls": "self_signed",
        "auth": "htpasswd",
        "proxy_mode": "container",
        "registry_version": "2.8",
        "registry_image_source": "local",
        "users": [{"name": "alice", "password": None}],
        "secrets_dir": "/srv/secrets",
        "anonymous_pull": False,
    }
    base.update(over)
    return base


# One case a line, read across. y/n booleans, - empty, @ the registry's name, alice: the user alice with password PW.
# S: the socket directory, U: the socket as nginx names it (unix:S/registry.sock).
# registry: publish, bind address, networks, published port, tls, certificate, key, client CA, auth, users, socket
# proxy (- for none): tls, https port, http port, upstream, networks, upstream tls, certificate, auth, users
# clients: address, insecure, CA, login
TABLE_TEXT = """
local  self_signed htpasswd | n 0.0.0.0 dockyard 5000 n - - - none - S | y 443 80 U - n SRV htpasswd alice | @ n CA alice
local  self_signed none     | n 0.0.0.0 dockyard 5000 n - - - none - S | y 443 80 U - n SRV none - | @ n CA -
local  provided    htpasswd | n 0.0.0.0 dockyard 5000 n - - - none - S | y 443 80 U - n SRV htpasswd alice | @ n CA alice
local  provided    none     | n 0.0.0.0 dockyard 5000 n - - - none - S | y 443 80 U - n SRV none - | @ n CA -
local  none        htpasswd | n 0.0.0.0 dockyard 5000 n - - - none - S | n 80 80 U - n - htpasswd alice | @:80 y - alice
local  none        none     | n 0.0.0.0 dockyard 5000 n - - - none - S | n 80 80 U - n - none - | @:80 y - -
host   self_signed htpasswd | n 0.0.0.0 dockyard 5000 n - - - none - S | y 443 80 U - n SRV htpasswd alice | @ n CA alice
host   self_signed none     | n 0.0.0.0 dockyard 5000 n - - - none - S | y 443 80 U - n SRV none - | @ n CA -
host   provided    htpasswd | n 0.0.0.0 dockyard 5000 n - - - none - S | y 443 80 U - n SRV htpasswd alice | @ n CA alice
host   provided    none     | n 0.0.0.0 dockyard 5000 n - - - none - S | y 443 80 U - n SRV none - | @ n CA -
host   none        htpasswd | n 0.0.0.0 dockyard 5000 n - - - none - S | n 80 80 U - n - htpasswd alice | @:80 y - alice
host   none        none     | n 0.0.0.0 dockyard 5000 n - - - none - S | n 80 80 U - n - none - | @:80 y - -
split  self_signed htpasswd | y 0.0.0.0 - 5000 y REG REGKEY HOPCA none - - | y 443 80 reg1:5000 - y SRV htpasswd alice | @ n CA alice
split  self_signed none     | y 0.0.0.0 - 5000 y REG REGKEY HOPCA none - - | y 443 80 reg1:5000 - y SRV none - | @ n CA -
split  provided    htpasswd | y 0.0.0.0 - 5000 y REG REGKEY HOPCA none - - | y 443 80 reg1:5000 - y SRV htpasswd alice | @ n CA alice
split  provided    none     | y 0.0.0.0 - 5000 y REG REGKEY HOPCA none - - | y 443 80 reg1:5000 - y SRV none - | @ n CA -
split  none        htpasswd | y 0.0.0.0 - 5000 y REG REGKEY HOPCA none - - | n 80 80 reg1:5000 - y - htpasswd alice | @:80 y - alice
split  none        none     | y 0.0.0.0 - 5000 y REG REGKEY HOPCA none - - | n 80 80 reg1:5000 - y - none - | @:80 y - -
native self_signed htpasswd | y 0.0.0.0 - 5000 y SRV SRVKEY - htpasswd alice - | - | @:5000 n CA alice
native self_signed none     | y 0.0.0.0 - 5000 y SRV SRVKEY - none - - | - | @:5000 n CA -
native provided    htpasswd | y 0.0.0.0 - 5000 y SRV SRVKEY - htpasswd alice - | - | @:5000 n CA alice
native provided    none     | y 0.0.0.0 - 5000 y SRV SRVKEY - none - - | - | @:5000 n CA -
native none        htpasswd | y 0.0.0.0 - 5000 n - - - htpasswd alice - | - | @:5000 y - alice
native none        none     | y 0.0.0.0 - 5000 n - - - none - - | - | @:5000 y - -"""


def cell(text: str):
    """One cell of the table as a value."""
    values = {"y": True, "n": False, "-": "", "alice": ALICE, "S": SOCKET_DIR, "U": f"unix:{SOCKET_DIR}/registry.sock"}
    if text in values:
        return values[text]
    if text.isdigit():
        return int(text)
    return text.replace("@", NAME)


def parse_table(text: str) -> list[tuple]:
    rows = []
    for line in text.strip().splitlines():
        head, registry, proxy, clients = (part.split() for part in line.split("|"))
        registry = [cell(c) for c in registry]
        registry[2] = [registry[2]] if registry[2] else []  # networks
        registry[9] = registry[9] or []  # users
        if proxy == ["-"]:
            proxy = None
        else:
            proxy = [cell(c) for c in proxy]
            proxy[4] = [proxy[4]] if proxy[4] else []
            proxy[8] = proxy[8] or []
            proxy = tuple(proxy)
        address, insecure, ca, login = (cell(c) for c in clients)
        rows.append((*head, tuple(registry), proxy, (address, insecure, ca, "alice" if login else None)))
    return rows


TABLE = parse_table(TABLE_TEXT)


def materials_for(plan_choices: dict, groups: dict) -> dict:
    """What the module would read and generate for these choices: only the materials the plan asks for."""
    shape = sp.decide(plan_choices, groups)
    wanted = set(sp.material_files(shape)) | set(sp.secret_files(shape))
    return {name: value for name, value in MATERIALS.items() if name in wanted}


def test_the_tables_cover_every_mode():
    rows = [row[:3] for row in TABLE] + [(t, tls, "token") for t, tls, *unused in TOKEN_TABLE]
    assert len(rows) == len(set(rows))
    assert set(rows) == {(t, tls, auth) for t in TOPOLOGIES for tls in sp.TLS_MODES for auth in sp.AUTH_MODES}


@pytest.mark.parametrize(("topology", "tls", "auth", "registry", "proxy", "clients"), TABLE)
def test_what_each_role_gets(topology, tls, auth, registry, proxy, clients):
    groups, proxy_mode = TOPOLOGIES[topology]
    users = [{"name": "alice", "password": None}] if auth == "htpasswd" else []
    provided = {
        "tls_provided_certificate": "/c/srv.crt",
        "tls_provided_key": "/c/srv.key",
        "tls_provided_ca": "/c/ca.crt",
    }
    plan_choices = choices(tls=tls, auth=auth, proxy_mode=proxy_mode, users=users, **provided)
    plan = sp.stack_plan(plan_choices, groups, materials_for(plan_choices, groups))

    r = plan["registry"]
    got = (
        r["publish"], r["bind_address"], r["networks"], r["published_port"], r["tls"],
        r["tls_certificate"], r["tls_key"], r["tls_client_ca"], r["auth"], r["htpasswd_users"], r["socket_dir"],
    )  # fmt: skip
    assert got == registry
    assert r["http_secret"] == MATERIALS["http_secret"]
    assert r["allow_anonymous"] == (auth == "none")
    assert r["version"] == "2.8"
    assert r["delete_enabled"] is True
    # The proxy's nginx workers (www-data) may connect to the socket.
    assert r["socket_group"] == ("33" if r["socket_dir"] else "")
    # On a host of its own behind the proxy, the registry is in the host's network.
    assert r["network_mode"] == ("host" if topology == "split" else "")
    # One registry on its filesystem: nothing shared to configure, no redis, no SeaweedFS.
    assert (r["config"], plan["redis"], plan["seaweedfs"]) == ({}, {}, {})
    # nginx's log has a line per request; without a proxy the registry's own log keeps them.
    assert r["request_log"] is (proxy is None)

    if proxy is None:
        assert plan["mode"] == "native"
        assert plan["proxy"] == {}
    else:
        p = plan["proxy"]
        assert plan["mode"] == "proxy"
        got = (
            p["tls"], p["https_port"], p["http_port"], p["upstreams"][0], p["networks"], p["upstream_tls"],
            p["tls_certificate"], p["auth"], p["htpasswd_users"],
        )  # fmt: skip
        assert got == proxy
        assert p["upstreams"] == [proxy[3]]
        assert p["server_name"] == NAME
        assert p["mode"] == proxy_mode
        # Clients reach nginx without docker's userland proxy.
        assert p["network_mode"] == "host"
        assert p["tls_key"] == ("SRVKEY" if p["tls"] else "")
        hop = ("HOPCA", "CLI", "CLIKEY") if p["upstream_tls"] else ("", "", "")
        assert (p["upstream_ca_cert"], p["upstream_client_cert"], p["upstream_client_key"]) == hop

    address, insecure, ca, login = clients
    c = plan["clients"]
    assert plan["address"] == address
    assert c["registries"] == [{"address": address, "ca_cert": ca, "insecure": insecure}]
    expected_logins = [{"registry": address, "username": "alice", "password": "PW"}] if login else []
    assert c["logins"] == expected_logins
    assert c["check"]["api"] == ("http://" if insecure else "https://") + address
    assert c["check"]["ca_path"] == ("" if insecure else f"/etc/docker/certs.d/{address}/ca.crt")


# ---------------------------------------------------------------- token mode

LOCAL_TOKEN = HOST_TOKEN = (["dockyard"], False, "127.0.0.1:5001", [], ["bridge"])
TLS_NONE = r"stack_auth token with stack_tls none would send passwords and tokens in clear"
NO_PROXY = r"stack_auth token needs a host in proxy_hosts"
SPLIT_TOKEN = ([], True, "127.0.0.1:5001", [], ["bridge"])
# topology tls: (registry networks, registry published, the proxy's token upstream, networks the token server
# trusts X-Forwarded-For from, networks whose gateway alone it trusts), or the refusal (a regular expression).
TOKEN_TABLE = [
    ("local", "self_signed", LOCAL_TOKEN, None),
    ("local", "provided", LOCAL_TOKEN, None),
    ("local", "none", None, TLS_NONE),
    ("host", "self_signed", HOST_TOKEN, None),
    ("host", "provided", HOST_TOKEN, None),
    ("host", "none", None, TLS_NONE),
    ("split", "self_signed", SPLIT_TOKEN, None),
    ("split", "provided", SPLIT_TOKEN, None),
    ("split", "none", None, TLS_NONE),
    ("native", "self_signed", None, NO_PROXY),
    ("native", "provided", None, NO_PROXY),
    ("native", "none", None, NO_PROXY),
]
PROVIDED = {"tls_provided_certificate": "/c/srv.crt", "tls_provided_key": "/c/srv.key", "tls_provided_ca": "/c/ca.crt"}


def token_plan(groups: dict, **over) -> dict:
    plan_choices = choices(auth="token", anonymous_pull=None, **PROVIDED)
    plan_choices.update(over)
    return sp.stack_plan(plan_choices, groups, materials_for(plan_choices, groups))


@pytest.mark.parametrize(("topology", "tls", "expected", "refusal"), TOKEN_TABLE)
def test_token_mode(topology, tls, expected, refusal):
    groups, proxy_mode = TOPOLOGIES[topology]
    if refusal:
        with pytest.raises(sp.PlanError) as refused:
            token_plan(groups, tls=tls, proxy_mode=proxy_mode)
        assert any(__import__("re").search(refusal, error) for error in refused.value.errors), refused.value.errors
        return
    plan = token_plan(groups, tls=tls, proxy_mode=proxy_mode)
    r, p, t, c = plan["registry"], plan["proxy"], plan["token_auth"], plan["clients"]
    got = (r["networks"], r["publish"], p["token_upstream"], t["trusted_proxy_networks"], t["trusted_proxy_gateways"])
    assert got == expected
    assert (r["auth"], r["htpasswd_users"], r["delete_enabled"]) == ("token", [], True)
    assert r["token"] == {
        "realm": f"https://{NAME}/auth/token",
        "service": NAME,
        "issuer": "dockyard-auth",
        "rootcertbundle": "SIGNER",
        "jwks": "JWKS",
    }
    if topology == "split":
        # From another host: through the proxy, trusting the clients' CA, and nginx lets only the registry post.
        assert r["notifications"] == {"url": f"https://{NAME}/auth/events", "secret": "EVENTS"}
        assert (r["trusted_ca"], p["events_from"], t["registry_url"]) == ("CA", ["reg1"], "")
    else:
        assert r["notifications"] == {"url": "http://dockyard-auth:5001/events", "secret": "EVENTS"}
        assert (r["trusted_ca"], p["events_from"]) == ("", [])
        assert t["registry_url"] == f"unix:{SOCKET_DIR}/registry.sock"
    assert (p["auth"], p["htpasswd_users"], p["tls_certificate"]) == ("token", [], "SRV")
    assert (t["service"], t["issuer"], t["realm"]) == (NAME, "dockyard-auth", f"https://{NAME}/auth/token")
    assert (t["signing_key"], t["signing_cert"], t["events_secret"]) == ("SIGNERKEY", "SIGNER", "EVENTS")
    assert (t["admin_name"], t["admin_password"]) == ("alice", "PW")
    assert c["logins"] == [{"registry": NAME, "username": "alice", "password": "PW"}]
    assert c["check"]["token"] is True
    # Anonymous pull is on by default in token mode; the registry itself never allows anonymous access.
    assert plan["anonymous_pull"] is True
    assert r["allow_anonymous"] is False
    assert plan["pki"]["token_signing"] == {"name": "token-signer", "key_type": "ecdsa"}


# database groups / URL -> database host, published, TLS, networks, client hosts, the token server's URL, the
# network it reaches MariaDB on, the CA it checks MariaDB's certificate with, the names it resolves, what
# registry_pki makes
DATABASE_TABLE = [
    (
        {},
        None,
        ("web1", False, False, [], ["localhost"],
         "mysql+pymysql://dockyard@localhost/dockyard?unix_socket=/run/mysqld/mysqld.sock",
         "/run/dockyard-mariadb", "", [], ["server"]),
    ),
    (
        {"database_hosts": ["web1"], "auth_hosts": ["web1"]},
        None,
        ("web1", False, False, [], ["localhost"],
         "mysql+pymysql://dockyard@localhost/dockyard?unix_socket=/run/mysqld/mysqld.sock",
         "/run/dockyard-mariadb", "", [], ["server"]),
    ),
    (
        {"database_hosts": ["db1"]},
        None,
        ("db1", True, True, [], ["web1"], "mysql+pymysql://dockyard@db1:3306/dockyard",
         "", "DBCA", ["db1"], ["server", "database"]),
    ),
    (
        {},
        "mysql+pymysql://auth@db.example.test:3307/auth",
        (None, None, None, None, None, "mysql+pymysql://auth@db.example.test:3307/auth",
         "", "", [], ["server"]),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("groups_changed", "url", "expected"), DATABASE_TABLE)
def test_where_mariadb_runs(groups_changed, url, expected):
    groups = dict(TOPOLOGIES["local"][0], **groups_changed)
    plan = token_plan(groups, tls="self_signed", database_url=url)
    d, t = plan["database"], plan["token_auth"]
    host, publish, tls, networks, clients, db_url, socket_dir, ca, resolve, certificates = expected
    if host is None:
        assert d == {}
        assert "database_root_password" not in plan["secret_files"]
        assert plan["given_secrets"] == ["database_password"]
    else:
        assert (d["host"], d["publish"], d["tls"], d["networks"], d["client_hosts"]) == (
            host, publish, tls, networks, clients,
        )  # fmt: skip
        assert (d["require_ssl"], d["password"], d["root_password"]) == (tls, "DBPW", "DBROOT")
        assert d["socket_dir"] == "/run/dockyard-mariadb"
        assert (d["tls_certificate"], d["tls_key"]) == (("DBCERT", "DBKEY") if tls else ("", ""))
        assert plan["given_secrets"] == []
    assert (t["database_url"], t["database_socket_dir"], t["database_ca"], t["resolve_hosts"]) == (
        db_url, socket_dir, ca, resolve,
    )  # fmt: skip
    assert t["networks"] == ["dockyard"]
    assert t["database_password"] == "DBPW"
    assert [cert["name"] for cert in plan["pki"]["certificates"]] == certificates
    if "database" in certificates:
        assert plan["pki"]["certificates"][-1]["dns_names"] == ["db1"]


def test_token_mode_access_and_the_first_admin():
    groups = TOPOLOGIES["local"][0]
    namespaces = [{"name": "pub", "team": "web", "visibility": "public"}]
    plan = token_plan(
        groups,
        tls="self_signed",
        users=[{"name": "alice", "password": None}, {"name": "bob", "password": "bobpassword"}],
        teams=[{"name": "web", "members": [{"user": "bob", "role": "viewer"}]}],
        namespaces=namespaces,
        access_exclusive={"robots": True},
    )
    a = plan["access"]
    assert (a["host"], a["api_url"], a["api_username"], a["api_password"]) == (
        "web1", "http://127.0.0.1:5001/api/v1", "alice", "PW",
    )  # fmt: skip
    # The first user is the admin the token server bootstraps; the others are plain users unless they say admin.
    assert a["users"] == [
        {"name": "alice", "password": "PW", "admin": True},
        {"name": "bob", "password": "bobpassword", "admin": False},
    ]
    assert a["namespaces"] == namespaces
    assert a["exclusive"] == {"users": False, "teams": False, "namespaces": False, "robots": True}
    assert a["robot_secrets_dir"] == "/srv/secrets/robots"
    assert a["service"] == NAME
    assert plan["clients"]["check"]["public_namespace"] == "pub"
    assert plan["secret_files"]["events_secret"] == "/srv/secrets/events.secret"
    assert plan["secret_files"]["database_root_password"] == "/srv/secrets/database-root.password"
    assert any("Anonymous pull of public namespaces: on." in line for line in plan["summary"])


def test_access_declared_for_token_mode_is_ignored_with_basic_auth_and_said():
    plan = sp.stack_plan(choices(teams=[{"name": "web"}], robots=[{"name": "ci"}]), SPLIT)
    assert plan["access"] == {}
    assert plan["token_auth"] == {}
    assert any("stack_teams, stack_robots: declared for the token server, ignored" in w for w in plan["warnings"])


def test_token_mode_without_users_makes_admin_the_admin():
    plan = token_plan(TOPOLOGIES["local"][0], tls="self_signed", users=[])
    assert plan["users"] == [{"name": "admin", "password": None, "admin": True}]
    assert plan["token_auth"]["admin_name"] == "admin"


TOKEN_REFUSED = [
    # choices changed, groups changed, message (a regular expression)
    ({}, {"auth_hosts": ["a1", "a2"]}, r"auth_hosts may have one host or none \(it has 2\)"),
    ({}, {"auth_hosts": ["a1"]}, r"the token server's host a1 \(auth_hosts\) is not the proxy host web1"),
    ({}, {"database_hosts": ["d1", "d2"]}, r"database_hosts may have one host or none \(it has 2\)"),
    (
        {"database_url": "mysql+pymysql://auth@db.example:3306/auth"},
        {"database_hosts": ["db1"]},
        r"stack_database_url names an existing MariaDB and database_hosts lists db1: choose one",
    ),
    (
        {"database_url": "mysql+pymysql://auth:secret@db.example/auth"},
        {},
        r"stack_database_url .* is not mysql\+pymysql://USER@HOST\[:PORT\]/DATABASE \(the password goes in the file",
    ),
    ({"database_url": "postgresql://auth@db/auth"}, {}, r"stack_database_url 'postgresql://auth@db/auth' is not"),
    (
        {"anonymous_pull": False, "namespaces": [{"name": "pub", "team": "web", "visibility": "public"}]},
        {},
        r"stack_namespaces\[0\] 'pub' is public but stack_anonymous_pull is false",
    ),
]


@pytest.mark.parametrize(("changed", "groups_changed", "message"), TOKEN_REFUSED)
def test_token_mode_refused(changed, groups_changed, message):
    with pytest.raises(sp.PlanError) as refused:
        token_plan(dict(TOPOLOGIES["local"][0], **groups_changed), tls="self_signed", **changed)
    assert any(__import__("re").search(message, error) for error in refused.value.errors), refused.value.errors


PKI_TABLE = [
    # topology tls            certificates registry_pki makes
    ("local", "self_signed", ["server"]),
    ("local", "provided", []),
    ("local", "none", []),
    ("host", "self_signed", ["server"]),
    ("split", "self_signed", ["server", "registry", "proxy-client"]),
    ("split", "provided", ["registry", "proxy-client"]),
    ("split", "none", ["registry", "proxy-client"]),
    ("native", "self_signed", ["server"]),
    ("native", "provided", []),
    ("native", "none", []),
]


@pytest.mark.parametrize(("topology", "tls", "names"), PKI_TABLE)
def test_what_the_pki_makes(topology, tls, names):
    groups, proxy_mode = TOPOLOGIES[topology]
    provided = {
        "tls_provided_certificate": "/c/srv.crt",
        "tls_provided_key": "/c/srv.key",
        "tls_provided_ca": "/c/ca.crt",
    }
    plan = sp.stack_plan(choices(tls=tls, proxy_mode=proxy_mode, **provided), groups)
    assert [c["name"] for c in plan["pki"]["certificates"]] == names


def test_the_server_certificate_names_the_registry_its_aliases_and_addresses():
    groups = TOPOLOGIES["split"][0]
    plan = sp.stack_plan(choices(registry_aliases=["Mirror.Example.Test"], registry_ip_addresses=["192.0.2.7"]), groups)
    server, registry, client = plan["pki"]["certificates"]
    assert server == {
        "name": "server",
        "usage": "server",
        "common_name": NAME,
        "dns_names": [NAME, "mirror.example.test"],
        "ip_addresses": ["192.0.2.7"],
    }
    assert (registry["dns_names"], registry["usage"]) == (["reg1"], "server")
    assert (client["common_name"], client["usage"]) == ("web1 (proxy)", "client")


def test_files_and_secrets_it_reads():
    groups = TOPOLOGIES["split"][0]
    plan = sp.stack_plan(
        choices(users=[{"name": "alice", "password": None}, {"name": "bob", "password": "given"}]), groups
    )
    assert plan["material_files"]["server_key"] == "/srv/secrets/pki/server.key"
    assert plan["material_files"]["hop_client_key"] == "/srv/secrets/pki/proxy-client.key"
    # bob's password is given: no file for it
    assert plan["secret_files"] == {
        "http_secret": "/srv/secrets/http.secret",
        "password:alice": "/srv/secrets/alice.password",
    }
    provided = sp.stack_plan(
        choices(
            tls="provided",
            tls_provided_certificate="/c/s.crt",
            tls_provided_key="/c/s.key",
            tls_provided_ca="/c/ca.crt",
        ),
        TOPOLOGIES["local"][0],
    )
    assert provided["material_files"] == {"ca": "/c/ca.crt", "server_cert": "/c/s.crt", "server_key": "/c/s.key"}


DEFAULTS = [
    # groups (registry, proxy)     tls            name given   port given -> name, port, address
    ((["reg1"], ["proxy.example"]), "self_signed", None, None, "proxy.example", 443, "proxy.example"),
    ((["reg1"], ["proxy.example"]), "none", None, None, "proxy.example", 80, "proxy.example:80"),
    ((["reg.example"], []), "self_signed", None, None, "reg.example", 5000, "reg.example:5000"),
    ((["reg1"], []), "self_signed", None, None, "reg1", 5000, "reg1:5000"),
    ((["reg1"], ["web1"]), "self_signed", NAME, 8443, NAME, 8443, NAME + ":8443"),
    ((["reg1"], ["web1"]), "self_signed", "Reg.Example", "443", "reg.example", 443, "reg.example"),
    ((["reg1"], []), "self_signed", "192.0.2.9", None, "192.0.2.9", 5000, "192.0.2.9:5000"),
]


@pytest.mark.parametrize(("hosts", "tls", "name", "port", "want_name", "want_port", "want_address"), DEFAULTS)
def test_name_and_port(hosts, tls, name, port, want_name, want_port, want_address):
    groups = {"registry_hosts": hosts[0], "proxy_hosts": hosts[1]}
    plan = sp.stack_plan(choices(registry_name=name, registry_port=port, tls=tls), groups)
    assert (plan["name"], plan["port"], plan["address"]) == (want_name, want_port, want_address)


def test_no_users_with_htpasswd_means_admin():
    plan = sp.stack_plan(choices(users=[]), TOPOLOGIES["local"][0], {"password:admin": "GEN", "http_secret": "S"})
    assert plan["users"] == [{"name": "admin", "password": None, "admin": True}]
    assert plan["secret_files"]["password:admin"] == "/srv/secrets/admin.password"
    assert plan["proxy"]["htpasswd_users"] == [{"name": "admin", "password": "GEN"}]


SPLIT = TOPOLOGIES["split"][0]
REFUSED = [
    # choices changed                                   groups changed                                   message (a regular expression)
    (
        {"anonymous_pull": True},
        {},
        r"stack_anonymous_pull with stack_auth htpasswd cannot work with the docker CLI.*Use stack_auth token",
    ),
    ({}, {"registry_hosts": []}, r"the inventory group registry_hosts is empty: give it the host"),
    ({}, {"proxy_hosts": ["p1", "p2"]}, r"proxy_hosts may have one host or none \(it has 2\)"),
    ({"registry_name": "bad_name!"}, {}, r"stack_registry_name 'bad_name!' is not a DNS name"),
    ({"registry_name": "*.example.test"}, {}, r"stack_registry_name '\*.example.test' is a wildcard"),
    (
        {"registry_name": "proxy1"},
        {},
        r"stack_registry_name 'proxy1' has no dot: docker would read proxy1/team/app as a Docker Hub repository",
    ),
    ({"registry_name": None}, {"registry_hosts": [], "proxy_hosts": []}, r"stack_registry_name is empty"),
    ({"registry_port": 70000}, {}, r"stack_registry_port 70000 is out of range: give a port 1-65535"),
    ({"registry_port": 0}, {}, r"stack_registry_port 0 is out of range"),
    ({"registry_port": "https"}, {}, r"stack_registry_port 'https' is not a number"),
    ({"registry_aliases": ["ok.example", "no way"]}, {}, r"stack_registry_aliases\[1\] 'no way' is not a DNS name"),
    (
        {"registry_ip_addresses": ["300.1.1.1"]},
        {},
        r"stack_registry_ip_addresses\[0\] '300.1.1.1' is not an IP address",
    ),
    ({"users": [{"name": "a:b"}]}, {}, r"stack_users\[0\].name 'a:b' is not a usable user name"),
    ({"users": [{"name": "../escaped"}]}, {}, r"stack_users\[0\].name '../escaped' is not a usable user name"),
    ({"users": [{"name": ".hidden"}]}, {}, r"stack_users\[0\].name '.hidden' is not a usable user name"),
    ({"users": [{"user": "admin"}]}, {}, r"stack_users\[0\] has unknown key\(s\) user"),
    ({"users": [{"name": "al"}, {"name": "al"}]}, {}, r"stack_users\[1\].name 'al' is listed twice"),
    (
        {"users": [{"name": "al", "password": "x" * 73}]},
        {},
        r"stack_users\[0\].password \(user al\) is 73 bytes: bcrypt reads at most 72",
    ),
    ({"users": [{"name": "al", "password": "é" * 37}]}, {}, r"stack_users\[0\].password \(user al\) is 74 bytes"),
    ({"users": ["alice"]}, {}, r"stack_users\[0\] must be a dictionary"),
    (
        {"auth": "none"},
        {},
        r"stack_users lists 1 user\(s\) but stack_auth is none.*Set stack_auth: token or htpasswd, or remove",
    ),
    (
        {"registry_version": "3"},
        {},
        r"stack_registry_version 3 cannot run on the locally built image.*registry_image_source: upstream",
    ),
    ({"registry_version": "2"}, {}, r"stack_registry_version '2' is not one of 2.8, 3"),
    ({"tls": "provided"}, {}, r"stack_tls is provided but stack_tls_provided_certificate is empty"),
    ({"tls": "acme"}, {}, r"stack_tls 'acme' is not one of self_signed, provided, none"),
    ({"auth": "ldap", "users": []}, {}, r"stack_auth 'ldap' is not one of token, htpasswd, none"),
    ({"proxy_mode": "sidecar"}, {}, r"stack_proxy_mode 'sidecar' is not one of container, host"),
    ({"registry_image_source": "hub"}, {}, r"registry_image_source 'hub' is not one of local, upstream"),
    ({"secrets_dir": "secrets"}, {}, r"stack_secrets_dir 'secrets' must be an absolute path"),
]


@pytest.mark.parametrize(("changed", "groups_changed", "message"), REFUSED)
def test_refused(changed, groups_changed, message):
    with pytest.raises(sp.PlanError) as refused:
        sp.stack_plan(choices(**changed), dict(SPLIT, **groups_changed))
    assert any(__import__("re").search(message, error) for error in refused.value.errors), refused.value.errors


def test_accepted_edge_cases():
    # Version 3 with the upstream image; 72 bytes exactly; a name of 64 characters.
    sp.stack_plan(choices(registry_version="3", registry_image_source="upstream"), SPLIT)
    sp.stack_plan(choices(users=[{"name": "a" * 64, "password": "x" * 72}]), SPLIT)
    # A name without a dot is fine on another port, and localhost always.
    sp.stack_plan(choices(registry_name="registry", registry_port=5000), SPLIT)
    sp.stack_plan(choices(registry_name="localhost"), SPLIT)


def test_every_problem_is_reported_at_once():
    with pytest.raises(sp.PlanError) as refused:
        sp.stack_plan(choices(registry_name="bad_name!", registry_port=70000, users=[{"name": "a:b"}]), SPLIT)
    assert len(refused.value.errors) == 3


# ---------------------------------------------------------------- provided certificates

NOW = datetime.datetime.now(datetime.UTC)
SPEC = _pki.KeySpec("ecdsa", curve="secp256r1")


def make_ca(name="Company CA"):
    key = _pki.generate_key(SPEC)
    return _pki.build_ca(key, name, 30, NOW), key


def make_leaf(ca, ca_key, dns=(NAME,), ips=(), usage="server"):
    key = _pki.generate_key(SPEC)
    wanted = _pki.Wanted(dns[0] if dns else "leaf", usage, SPEC, 30, list(dns), list(ips))
    return _pki.build_leaf(key.public_key(), wanted, ca, ca_key, NOW), key


def make_intermediate(root, root_key):
    """An intermediate CA signed by the root (built by hand: _pki makes leaves and roots only)."""
    key = _pki.generate_key(SPEC)
    x509 = _pki.x509
    cert = (
        x509.CertificateBuilder()
        .subject_name(_pki.subject("Company Issuing CA"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root_key, _pki.hashes.SHA256())
    )
    return cert, key


def pem(*certs) -> bytes:
    return b"".join(_pki.certificate_pem(c) for c in certs)


def test_a_good_provided_certificate():
    ca, ca_key = make_ca()
    leaf, key = make_leaf(ca, ca_key)
    assert sp.provided_problems(NAME, pem(leaf), _pki.private_key_pem(key), pem(ca)) == []


def test_a_chain_through_an_intermediate_and_a_wildcard():
    root, root_key = make_ca()
    issuing, issuing_key = make_intermediate(root, root_key)
    leaf, key = make_leaf(issuing, issuing_key, dns=("*.example.test",))
    assert sp.provided_problems(NAME, pem(leaf, issuing), _pki.private_key_pem(key), pem(root)) == []
    # Without the intermediate in the file it does not chain.
    problems = sp.provided_problems(NAME, pem(leaf), _pki.private_key_pem(key), pem(root))
    assert len(problems) == 1
    assert "does not chain to the CA in stack_tls_provided_ca" in problems[0]


def test_an_ip_address_name():
    ca, ca_key = make_ca()
    leaf, key = make_leaf(ca, ca_key, dns=(), ips=("192.0.2.9",))
    assert sp.provided_problems("192.0.2.9", pem(leaf), _pki.private_key_pem(key), pem(ca)) == []


def test_a_key_that_does_not_match():
    ca, ca_key = make_ca()
    leaf, unused = make_leaf(ca, ca_key)
    other = _pki.generate_key(SPEC)
    (problem,) = sp.provided_problems(NAME, pem(leaf), _pki.private_key_pem(other), pem(ca))
    assert "stack_tls_provided_key does not belong to the certificate" in problem
    assert "key values mismatch" in problem


def test_a_certificate_for_another_name():
    ca, ca_key = make_ca()
    leaf, key = make_leaf(ca, ca_key, dns=("other.example.test",))
    (problem,) = sp.provided_problems(NAME, pem(leaf), _pki.private_key_pem(key), pem(ca))
    assert f"does not name stack_registry_name '{NAME}'" in problem
    assert "(other.example.test)" in problem


def test_a_certificate_of_another_ca():
    ca, ca_key = make_ca()
    other_ca, unused = make_ca("Other CA")
    leaf, key = make_leaf(ca, ca_key)
    (problem,) = sp.provided_problems(NAME, pem(leaf), _pki.private_key_pem(key), pem(other_ca))
    assert "does not chain to the CA" in problem


def test_all_three_wrong_at_once():
    ca, ca_key = make_ca()
    other_ca, unused = make_ca("Other CA")
    leaf, unused = make_leaf(ca, ca_key, dns=("other.example.test",))
    problems = sp.provided_problems(NAME, pem(leaf), _pki.private_key_pem(_pki.generate_key(SPEC)), pem(other_ca))
    assert len(problems) == 3


def test_files_that_are_not_pem():
    ca, ca_key = make_ca()
    leaf, key = make_leaf(ca, ca_key)
    assert (
        "stack_tls_provided_certificate is not a PEM certificate"
        in sp.provided_problems(NAME, b"junk", _pki.private_key_pem(key), pem(ca))[0]
    )
    assert (
        "stack_tls_provided_key is not a usable private key"
        in sp.provided_problems(NAME, pem(leaf), b"junk", pem(ca))[0]
    )
    assert (
        "stack_tls_provided_ca is not a PEM certificate"
        in sp.provided_problems(NAME, pem(leaf), _pki.private_key_pem(key), b"junk")[0]
    )


@pytest.mark.parametrize(
    ("topology", "proxy_image_source", "group"),
    [("local", "local", "33"), ("local", "upstream", "101"), ("host", "upstream", "33"), ("split", "upstream", "")],
)
def test_the_socket_is_open_to_the_group_of_nginx_workers(topology, proxy_image_source, group):
    # Debian's nginx (on the host or in the local image) runs its workers as www-data, the upstream image as 101.
    groups, proxy_mode = TOPOLOGIES[topology]
    plan_choices = choices(proxy_mode=proxy_mode, proxy_image_source=proxy_image_source)
    plan = sp.stack_plan(plan_choices, groups, materials_for(plan_choices, groups))
    assert plan["registry"]["socket_group"] == group


# ---------------------------------------------------------------- scale-out: several registries, shared storage

SCALE = {"registry_hosts": ["reg1", "reg2"], "proxy_hosts": ["web1"], "storage_hosts": ["s3a", "s3b"]}
ONE_S3 = {"registry_hosts": ["reg1", "reg2"], "proxy_hosts": ["web1"], "storage_hosts": ["s3a"]}
OWN_S3 = {"storage": "s3", "s3_endpoint": "https://s3.example.test:9000/", "s3_bucket": "images"}
ALL = ["master", "volume", "filer", "s3"]
# groups, choices -> upstreams, SeaweedFS components by host ({} none), replication, S3 endpoint, secure, bucket,
# redis host ('' none), the hop certificate's names, the secrets the operator gives
SCALE_TABLE = [
    (SCALE, {"storage": "seaweedfs"},
     (["reg1:5000", "reg2:5000"], {"s3a": ALL, "s3b": ["volume"]}, "001", "http://s3a:8333", False, "registry",
      "web1", ["reg1", "reg2"], [])),
    (ONE_S3, {"storage": "seaweedfs"},
     (["reg1:5000", "reg2:5000"], {"s3a": ALL}, "000", "http://s3a:8333", False, "registry",
      "web1", ["reg1", "reg2"], [])),
    (dict(SCALE, registry_hosts=["reg1"]), {"storage": "seaweedfs"},
     (["reg1:5000"], {"s3a": ALL, "s3b": ["volume"]}, "001", "http://s3a:8333", False, "registry",
      "", ["reg1"], [])),
    (dict(SCALE, storage_hosts=[]), OWN_S3,
     (["reg1:5000", "reg2:5000"], {}, None, "https://s3.example.test:9000", True, "images",
      "web1", ["reg1", "reg2"], ["s3_access_key", "s3_secret_key"])),
    ({"registry_hosts": ["web1"], "proxy_hosts": ["web1"]}, dict(OWN_S3, s3_endpoint="http://10.0.0.5:8333"),
     ([f"unix:{SOCKET_DIR}/registry.sock"], {}, None, "http://10.0.0.5:8333", False, "images", "", None,
      ["s3_access_key", "s3_secret_key"])),
]  # fmt: skip


@pytest.mark.parametrize(("groups", "changed", "expected"), SCALE_TABLE)
def test_scale_out(groups, changed, expected):
    plan_choices = choices(auth="htpasswd", **changed)
    plan = sp.stack_plan(plan_choices, groups, materials_for(plan_choices, groups))
    upstreams, components, replication, endpoint, secure, bucket, redis_host, hop_names, given = expected
    r, p, w, rd = plan["registry"], plan["proxy"], plan["seaweedfs"], plan["redis"]
    several = len(groups["registry_hosts"]) > 1
    assert p["upstreams"] == upstreams
    assert (w.get("components", {}), w.get("replication")) == (components, replication)
    if w:
        assert (w["master"], w["filer"], w["buckets"]) == ("s3a:9333", "s3a:8888", ["registry"])
        assert (w["access_key"], w["secret_key"]) == ("S3KEY", "S3SECRET")
    s3 = r["config"]["storage"]["s3"]
    assert (s3["regionendpoint"], s3["secure"], s3["bucket"]) == (endpoint, secure, bucket)
    assert (s3["accesskey"], s3["secretkey"], s3["region"], s3["v4auth"]) == ("S3KEY", "S3SECRET", "us-east-1", True)
    assert "forcepathstyle" not in s3  # a 3.x option; 2.8 uses path style whenever regionendpoint is set
    assert r["config"]["storage"]["redirect"] == {"disable": True}
    assert r["http_secret"] == "SECRET"
    if redis_host:
        assert rd == {
            "host": redis_host,
            "password": "REDISPW",
            "port": 6379,
            "publish": True,
            "bind_address": "0.0.0.0",
            # The registries' hosts alone reach the published port.
            "allowed_sources": ["reg1", "reg2"],
        }
        assert r["config"]["storage"]["cache"] == {"blobdescriptor": "redis"}
        assert r["config"]["redis"]["addr"] == f"{redis_host}:6379"
        assert r["config"]["redis"]["password"] == "REDISPW"
        assert r["config"]["replicas"] == 2
        assert plan["secret_files"]["redis_password"] == "/srv/secrets/redis.password"
    else:
        assert rd == {}
        assert "redis" not in r["config"] and "cache" not in r["config"]["storage"]
        assert "redis_password" not in plan["secret_files"]
    hop = [c for c in plan["pki"]["certificates"] if c["name"] == "registry"]
    if hop_names is None:
        assert hop == [] and p["upstream_tls_name"] == ""
    else:
        assert hop[0]["dns_names"] == hop_names
        # nginx checks one name, the first registry's, in the certificate they share.
        assert p["upstream_tls_name"] == hop_names[0]
    assert plan["given_secrets"] == given
    assert {"s3_access_key", "s3_secret_key"} <= set(plan["secret_files"])
    assert any("Storage:" in line for line in plan["summary"])
    assert any("balanced by nginx" in line for line in plan["summary"]) is several


def test_several_registries_with_tokens_post_their_notifications_through_the_proxy():
    plan = token_plan(SCALE, tls="self_signed", storage="seaweedfs")
    r, p, t = plan["registry"], plan["proxy"], plan["token_auth"]
    assert r["notifications"] == {"url": f"https://{NAME}/auth/events", "secret": "EVENTS"}
    assert r["trusted_ca"] == "CA"
    assert p["events_from"] == ["reg1", "reg2"]
    assert r["network_mode"] == "host"
    # Every registry trusts the same signer; the token server has no registry socket to sync from.
    assert (r["token"]["rootcertbundle"], t["registry_url"]) == ("SIGNER", "")


def test_registry_3_on_shared_storage_uses_its_own_option_names():
    plan_choices = choices(storage="seaweedfs", registry_version="3", registry_image_source="upstream")
    plan = sp.stack_plan(plan_choices, SCALE, materials_for(plan_choices, SCALE))
    config = plan["registry"]["config"]
    assert config["storage"]["s3"]["forcepathstyle"] is True
    assert config["redis"]["addrs"] == ["web1:6379"] and "addr" not in config["redis"]


SCALE_REFUSED = [
    # groups, choices changed, message (a regular expression)
    (SCALE, {}, r"registry_hosts has 2 hosts, but stack_storage is filesystem: each registry would see only its own disk"),
    (SCALE, {}, r"storage_hosts lists s3a, s3b but stack_storage is filesystem"),
    (dict(SCALE, proxy_hosts=[]), {"storage": "seaweedfs"}, r"registry_hosts has 2 hosts but proxy_hosts is empty"),
    (dict(SCALE, proxy_hosts=["reg2"]), {"storage": "seaweedfs"}, r"the proxy host reg2 is one of them"),
    (dict(SCALE, storage_hosts=[]), {"storage": "seaweedfs"}, r"stack_storage is seaweedfs but the inventory group storage_hosts is empty"),
    (dict(SCALE, storage_hosts=[]), {"storage": "s3", "s3_endpoint": "s3.example.test"},
     r"stack_s3_endpoint 's3.example.test' is not http\(s\)://HOST\[:PORT\]"),
    (dict(SCALE, storage_hosts=[]), {"storage": "s3", "s3_endpoint": "http://s3/path"}, r"stack_s3_endpoint 'http://s3/path' is not"),
    (dict(SCALE, storage_hosts=[]), dict(OWN_S3, s3_bucket="Images_1"), r"stack_s3_bucket 'Images_1' is not an S3 bucket name"),
    (SCALE, {"storage": "nfs"}, r"stack_storage 'nfs' is not one of filesystem, seaweedfs, s3"),
]  # fmt: skip


@pytest.mark.parametrize(("groups", "changed", "message"), SCALE_REFUSED)
def test_scale_out_refused(groups, changed, message):
    with pytest.raises(sp.PlanError) as refused:
        sp.stack_plan(choices(**changed), groups)
    assert any(__import__("re").search(message, error) for error in refused.value.errors), refused.value.errors


def test_the_groups_site_yml_runs_the_placed_parts_on():
    plan = token_plan(
        dict(SCALE, mirror_hosts=["reg2"]),
        tls="self_signed",
        storage="seaweedfs",
        mirror_upstream="https://registry-1.docker.io",
    )
    assert plan["planned_groups"] == [
        {"host": "web1", "group": "dockyard_planned_auth"},
        {"host": "web1", "group": "dockyard_planned_database"},
        {"host": "web1", "group": "dockyard_planned_cache"},
        {"host": "s3a", "group": "dockyard_planned_storage"},
        {"host": "s3b", "group": "dockyard_planned_storage"},
        {"host": "reg2", "group": "dockyard_planned_mirror"},
    ]
    assert sp.stack_plan(choices(), TOPOLOGIES["split"][0])["planned_groups"] == []


# ---------------------------------------------------------------- the pull-through mirror

# upstream, stack_mirror_of -> the name clients know it by, docker's registry-mirrors entries
MIRROR_TABLE = [
    ("https://registry-1.docker.io", None, "docker.io", ["https://m1:5443", "https://m2:5443"]),
    ("https://index.docker.io/", None, "docker.io", ["https://m1:5443", "https://m2:5443"]),
    ("https://quay.example.test", None, "quay.example.test", []),
    ("http://upstream.test:5001", None, "upstream.test:5001", []),
    ("https://hub-cache.example.test", "docker.io", "docker.io", ["https://m1:5443", "https://m2:5443"]),
]


@pytest.mark.parametrize(("upstream", "mirror_of", "name", "docker_mirrors"), MIRROR_TABLE)
def test_the_mirror(upstream, mirror_of, name, docker_mirrors):
    groups = dict(TOPOLOGIES["split"][0], mirror_hosts=["m1", "m2"])
    plan_choices = choices(mirror_upstream=upstream, mirror_of=mirror_of)
    materials = materials_for(plan_choices, groups)
    plan = sp.stack_plan(plan_choices, groups, materials)
    mirror, clients = plan["mirror"], plan["clients"]
    assert (mirror["addresses"], mirror["container_name"], mirror["port"]) == (
        ["m1:5443", "m2:5443"],
        "dockyard-mirror",
        5443,
    )
    assert (mirror["tls_certificate"], mirror["tls_key"], mirror["upstream_name"]) == ("MCERT", "MKEY", name)
    # Registry 2.8 keeps what it fetched for 168 h, fixed: no proxy.ttl.
    assert mirror["config"] == {"proxy": {"remoteurl": upstream.rstrip("/")}}
    # The clients trust the mirrors with the stack's CA and get them as mirrors of that upstream.
    assert clients["registries"][1:] == [
        {"address": "m1:5443", "ca_cert": "CA", "insecure": False},
        {"address": "m2:5443", "ca_cert": "CA", "insecure": False},
    ]
    assert clients["mirrors"] == [
        {"url": "https://m1:5443", "upstream": name},
        {"url": "https://m2:5443", "upstream": name},
    ]
    assert [u["url"] for u in clients["mirrors"] if u["upstream"] == "docker.io"] == docker_mirrors
    mirror_cert = [c for c in plan["pki"]["certificates"] if c["name"] == "mirror"]
    assert mirror_cert[0]["dns_names"] == ["m1", "m2"]
    assert any("Pull-through mirror" in line for line in plan["summary"])


def test_the_mirrors_upstream_credentials_are_given_not_generated():
    groups = dict(TOPOLOGIES["local"][0], mirror_hosts=["web1"])
    plan_choices = choices(
        mirror_upstream="https://registry-1.docker.io",
        mirror_username="bot",
        mirror_ttl="24h",
        registry_version="3",
        registry_image_source="upstream",
    )
    materials = materials_for(plan_choices, groups)
    plan = sp.stack_plan(plan_choices, groups, materials)
    assert plan["mirror"]["config"]["proxy"] == {
        "remoteurl": "https://registry-1.docker.io",
        "ttl": "24h",
        "username": "bot",
        "password": "UPW",
    }
    assert plan["secret_files"]["mirror_password"] == "/srv/secrets/mirror-upstream.password"
    assert plan["given_secrets"] == ["mirror_password"]
    assert sp.stack_plan(choices(), TOPOLOGIES["local"][0])["mirror"] == {}


MIRROR_REFUSED = [
    ({"mirror_hosts": ["m1"]}, {}, r"stack_mirror_upstream '' is not http\(s\)://HOST\[:PORT\]"),
    ({}, {"mirror_upstream": "https://registry-1.docker.io"}, r"the inventory group mirror_hosts is empty"),
    ({"mirror_hosts": ["m1"]}, {"mirror_upstream": "registry-1.docker.io"}, r"stack_mirror_upstream 'registry-1.docker.io' is not"),
    ({"mirror_hosts": ["m1"]}, {"mirror_upstream": "https://hub.test", "mirror_ttl": "7 days"}, r"stack_mirror_ttl '7 days' is not a duration"),
    ({"mirror_hosts": ["m1"]}, {"mirror_upstream": "https://hub.test", "tls": "none"},
     r"certificate of the stack's own CA, which stack_tls none does not have"),
    ({"mirror_hosts": ["m1"]}, {"mirror_upstream": "https://hub.test", "mirror_of": "docker.io/library"},
     r"stack_mirror_of 'docker.io/library' is not a registry name"),
    ({"mirror_hosts": ["m1"]}, {"mirror_upstream": "https://hub.test", "mirror_ttl": "24h"},
     r"stack_mirror_ttl '24h': registry 2.8 keeps what its mirror fetched for 168h, fixed"),
]  # fmt: skip


@pytest.mark.parametrize(("groups_changed", "changed", "message"), MIRROR_REFUSED)
def test_the_mirror_refused(groups_changed, changed, message):
    with pytest.raises(sp.PlanError) as refused:
        sp.stack_plan(choices(**changed), dict(TOPOLOGIES["split"][0], **groups_changed))
    assert any(__import__("re").search(message, error) for error in refused.value.errors), refused.value.errors

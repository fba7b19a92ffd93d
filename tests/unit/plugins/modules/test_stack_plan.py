"""dockyard.registry.stack_plan through its own entry point: secrets, check mode, provided certificates."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible_collections.dockyard.registry.plugins.module_utils import _pki
from ansible_collections.dockyard.registry.plugins.modules import stack_plan

from tests.unit.plugins.conftest import ModuleFailed
from tests.unit.plugins.module_utils.test_stack_plan import NAME, make_ca, make_leaf, pem

SPLIT = {"registry_hosts": ["reg1"], "proxy_hosts": ["web1"], "docker_clients": ["ci1"]}
LOCAL = {"registry_hosts": ["web1"], "proxy_hosts": ["web1"], "docker_clients": ["ci1"]}


def args(secrets, **over) -> dict:
    base = {
        "registry_name": NAME,
        "tls": "self_signed",
        "auth": "htpasswd",
        "users": [{"name": "alice"}, {"name": "bob", "password": "bob-given"}],
        "secrets_dir": str(secrets),
        "groups": SPLIT,
    }
    base.update(over)
    return base


def everything_under(path) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _dirs, files in os.walk(path) for f in files)


def test_check_mode_on_a_new_stack_writes_nothing_and_predicts_consistent_certificates(run_module, tmp_path):
    secrets = tmp_path / "secrets"
    result = run_module(stack_plan, args(secrets), check_mode=True)
    assert not secrets.exists()
    assert result["changed"] is True
    assert result["predicted_pki"] is True
    assert sorted(result["generated"]) == [f"{secrets}/alice.password", f"{secrets}/http.secret"]
    plan = result["plan"]
    # What stands in for the certificates hangs together: the proxy's key matches its certificate, which names the
    # registry and chains to the CA the clients get; the hop's pair chains to the hop CA.
    proxy = plan["proxy"]
    cert = _pki.load_certificate(proxy["tls_certificate"].encode())
    key = _pki.load_private_key(proxy["tls_key"].encode())
    assert _pki.same_public_key(cert.public_key(), key.public_key())
    assert _pki.sans_of(cert)[0] == [NAME]
    ca = _pki.load_certificate(plan["clients"]["registries"][0]["ca_cert"].encode())
    assert _pki.issued_by(cert, _pki.Issuer.of(ca))
    hop = _pki.load_certificate(plan["registry"]["tls_certificate"].encode())
    assert _pki.issued_by(hop, _pki.Issuer.of(_pki.load_certificate(plan["registry"]["tls_client_ca"].encode())))
    users = {u["name"]: u["password"] for u in proxy["htpasswd_users"]}
    assert users["bob"] == "bob-given"
    assert len(users["alice"]) == 32


def test_secrets_are_made_once_mode_0600_and_read_back(run_module, tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    first = run_module(stack_plan, args(secrets, tls="none", groups=LOCAL))
    assert first["changed"] is True
    assert everything_under(secrets) == ["alice.password", "http.secret"]
    for name in ("alice.password", "http.secret"):
        assert stat.S_IMODE(os.stat(secrets / name).st_mode) == 0o600
    second = run_module(stack_plan, args(secrets, tls="none", groups=LOCAL))
    assert second["changed"] is False
    assert second["plan"]["registry"]["http_secret"] == first["plan"]["registry"]["http_secret"]
    assert len(second["plan"]["registry"]["http_secret"]) == 48
    alice = second["plan"]["proxy"]["htpasswd_users"][0]
    assert alice["password"] == (secrets / "alice.password").read_text().strip()


def test_a_password_file_of_the_password_lookup_is_read(run_module, tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    given = "s3cret"
    (secrets / "alice.password").write_text(f"{given} salt=abcdefgh\n")
    result = run_module(stack_plan, args(secrets, tls="none", groups=LOCAL), check_mode=True)
    assert result["plan"]["proxy"]["htpasswd_users"][0]["password"] == given


def test_without_materials_no_password_is_returned(run_module, tmp_path):
    result = run_module(stack_plan, args(tmp_path, materials=False))
    assert result["changed"] is False
    assert [u["password"] for u in result["plan"]["users"]] == [None, None]
    assert "bob-given" not in repr(result)
    assert [c["name"] for c in result["plan"]["pki"]["certificates"]] == ["server", "registry", "proxy-client"]


def test_a_refusal_names_the_variable_and_changes_nothing(run_module, tmp_path):
    secrets = tmp_path / "secrets"
    with pytest.raises(ModuleFailed) as failed:
        run_module(stack_plan, args(secrets, registry_name="bad_name!", users=[{"name": "../escaped"}]))
    assert "nothing was changed" in failed.value.msg
    assert "stack_registry_name 'bad_name!'" in failed.value.msg
    assert "stack_users[0].name '../escaped'" in failed.value.msg
    assert not secrets.exists()
    assert not (tmp_path / "escaped.password").exists()


def test_a_missing_certificate_in_a_real_run_is_an_error(run_module, tmp_path):
    with pytest.raises(ModuleFailed) as failed:
        run_module(stack_plan, args(tmp_path))
    assert "pki/ca.crt is missing" in failed.value.msg


@pytest.fixture
def provided(tmp_path):
    ca, ca_key = make_ca()
    leaf, key = make_leaf(ca, ca_key)
    files = {"certificate": pem(leaf), "key": _pki.private_key_pem(key), "ca": pem(ca)}
    for name, content in files.items():
        (tmp_path / f"{name}.pem").write_bytes(content)
    return {f"tls_provided_{name}": str(tmp_path / f"{name}.pem") for name in files}


def test_provided_files_are_used(run_module, tmp_path, provided):
    result = run_module(stack_plan, args(tmp_path / "s", tls="provided", groups=LOCAL, **provided), check_mode=True)
    plan = result["plan"]
    with open(provided["tls_provided_certificate"]) as cert, open(provided["tls_provided_ca"]) as ca:
        assert plan["proxy"]["tls_certificate"] == cert.read()
        assert plan["clients"]["registries"][0]["ca_cert"] == ca.read()
    assert result["predicted_pki"] is False


def test_a_provided_key_that_does_not_match_is_refused(run_module, tmp_path, provided):
    with open(provided["tls_provided_key"], "wb") as handle:
        handle.write(_pki.private_key_pem(_pki.generate_key(_pki.KeySpec("ecdsa", curve="secp256r1"))))
    with pytest.raises(ModuleFailed) as failed:
        run_module(stack_plan, args(tmp_path / "s", tls="provided", materials=False, **provided))
    assert "stack_tls_provided_key does not belong to the certificate" in failed.value.msg


def test_a_provided_file_that_is_missing(run_module, tmp_path, provided):
    provided["tls_provided_ca"] = str(tmp_path / "nope.pem")
    with pytest.raises(ModuleFailed) as failed:
        run_module(stack_plan, args(tmp_path / "s", tls="provided", materials=False, **provided))
    assert "stack_tls_provided_ca" in failed.value.msg
    assert "is not a file on the controller" in failed.value.msg


def test_token_mode_in_check_mode_writes_nothing_and_predicts_the_signer_and_the_database_link(run_module, tmp_path):
    secrets = tmp_path / "secrets"
    groups = dict(LOCAL, database_hosts=["db1"])
    result = run_module(stack_plan, args(secrets, auth="token", groups=groups), check_mode=True)
    assert not secrets.exists()
    assert result["predicted_pki"] is True
    assert sorted(os.path.basename(path) for path in result["generated"]) == [
        "alice.password", "database-root.password", "database.password", "events.secret", "http.secret",
    ]  # fmt: skip
    plan = result["plan"]
    signer = _pki.load_certificate(plan["registry"]["token"]["rootcertbundle"].encode())
    key = _pki.load_private_key(plan["token_auth"]["signing_key"].encode())
    assert _pki.same_public_key(signer.public_key(), key.public_key())
    # The JWKS (registry 3.x) names the signer's key by the libtrust id, the kid registry 2.8 matches too.
    (jwk,) = json.loads(plan["registry"]["token"]["jwks"])["keys"]
    assert jwk["kid"] == _pki.libtrust_kid(signer.public_key())
    # MariaDB's certificate names db1 and chains to the CA the token server checks it with.
    database = _pki.load_certificate(plan["database"]["tls_certificate"].encode())
    assert _pki.sans_of(database)[0] == ["db1"]
    assert _pki.issued_by(database, _pki.Issuer.of(_pki.load_certificate(plan["token_auth"]["database_ca"].encode())))
    assert plan["database"]["password"] == plan["token_auth"]["database_password"]
    assert plan["registry"]["notifications"]["secret"] == plan["token_auth"]["events_secret"]


def test_an_existing_database_needs_its_password_file(run_module, tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    url = "mysql+pymysql://auth@db.example.test:3306/auth"
    with pytest.raises(ModuleFailed) as failed:
        run_module(stack_plan, args(secrets, auth="token", groups=LOCAL, database_url=url), check_mode=True)
    assert "database.password is missing or empty: write the password of the user in stack_database_url" in str(
        failed.value
    )
    (secrets / "database.password").write_text("given-db-password\n")
    result = run_module(stack_plan, args(secrets, auth="token", groups=LOCAL, database_url=url), check_mode=True)
    assert result["plan"]["token_auth"]["database_password"] == "given-db-password"  # noqa: S105 (a test value)
    assert result["plan"]["database"] == {}

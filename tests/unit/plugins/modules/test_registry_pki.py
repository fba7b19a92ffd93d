"""dockyard.registry.registry_pki through its own entry point: good and bad inputs, check mode, diff, files."""

from __future__ import annotations

import datetime
import json
import os
import pwd
import stat
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible_collections.dockyard.registry.plugins.module_utils import _pki
from ansible_collections.dockyard.registry.plugins.modules import registry_pki
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.unit.plugins.conftest import ModuleFailed, mode_of

DAY = datetime.timedelta(days=1)
# ECDSA keeps key generation fast; RSA is covered by the proxy certificate and the token signer.
CA_FAST = {"key_type": "ecdsa"}


def args(path, **overrides) -> dict:
    values = {
        "path": str(path),
        "ca": dict(CA_FAST),
        "certificates": [
            {"name": "proxy", "dns_names": ["registry.example.com"], "ip_addresses": ["127.0.0.1"]},
            {"name": "registry", "usage": "both", "dns_names": ["registry"], "key_type": "ecdsa"},
            {"name": "proxy-client", "usage": "client", "key_type": "ecdsa", "curve": "secp384r1"},
        ],
        "token_signing": {},
    }
    values.update(overrides)
    return values


def snapshot(directory) -> dict:
    """Every file in `directory` with its bytes, mode and inode: what 'unchanged' means."""
    if not os.path.isdir(directory):
        return {}
    result = {}
    for name in sorted(os.listdir(directory)):
        full = os.path.join(directory, name)
        info = os.stat(full)
        with open(full, "rb") as handle:
            result[name] = (handle.read(), stat.S_IMODE(info.st_mode), info.st_ino)
    return result


def cert(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def issued_by_ca(directory, name) -> bool:
    return _pki.issued_by(cert(directory / f"{name}.crt"), _pki.Issuer.of(cert(directory / "ca.crt")))


@pytest.fixture
def pki(tmp_path):
    return tmp_path / "pki"


@pytest.fixture
def warnings():
    """The module's warnings, recorded on their way through AnsibleModule.warn (the test runner's exit_json
    does not collect them into the result)."""
    seen: list[str] = []
    original = basic.AnsibleModule.warn

    def record(self, warning, *rest, **kwargs):
        seen.append(warning)
        return original(self, warning, *rest, **kwargs)

    with mock.patch.object(basic.AnsibleModule, "warn", record):
        yield seen


@pytest.fixture
def made(run_module, pki):
    """A PKI made by the module with the default arguments."""
    result = run_module(registry_pki, args(pki))
    assert result["changed"]
    return result


# ---------------------------------------------------------------- the four runs


def test_check_apply_check_apply(run_module, pki):
    predicted = run_module(registry_pki, args(pki), check_mode=True, diff=True)
    assert predicted["changed"]
    assert not pki.exists()  # check mode writes nothing, not even the directory
    assert predicted["ca"]["reasons"] == ["CA missing"]
    assert predicted["ca"]["fingerprint_sha256"] is None
    assert predicted["certificates"]["proxy"]["reasons"] == ["key missing", "certificate missing"]
    assert predicted["token_signing"]["kid"] is None

    applied = run_module(registry_pki, args(pki), diff=True)
    assert applied["changed"]
    assert {name: r["changed"] for name, r in applied["certificates"].items()} == {
        name: r["changed"] for name, r in predicted["certificates"].items()
    }
    assert sorted(os.listdir(pki)) == sorted(
        ["ca.crt", "ca.key", "token.crt", "token.key", "token.jwks.json"]
        + [f"{n}.{s}" for n in ("proxy", "registry", "proxy-client") for s in ("crt", "key")]
    )
    before = snapshot(pki)

    again = run_module(registry_pki, args(pki), check_mode=True, diff=True)
    assert not again["changed"]
    assert all(not r["changed"] and r["reasons"] == [] for r in again["certificates"].values())
    assert again["diff"]["before"] == again["diff"]["after"]
    final = run_module(registry_pki, args(pki))
    assert not final["changed"]
    assert snapshot(pki) == before
    # nothing changed, and the result still says everything
    assert final["ca"]["fingerprint_sha256"] == applied["ca"]["fingerprint_sha256"]
    assert final["token_signing"]["kid"] == applied["token_signing"]["kid"]


def test_files_modes_and_what_they_hold(made, pki):
    for name in ("ca", "proxy", "registry", "proxy-client", "token"):
        assert mode_of(pki / f"{name}.key") == 0o600
        assert mode_of(pki / f"{name}.crt") == 0o644
    assert mode_of(pki / "token.jwks.json") == 0o644
    for name in ("proxy", "registry", "proxy-client"):
        assert issued_by_ca(pki, name)
        key = serialization.load_pem_private_key((pki / f"{name}.key").read_bytes(), None)
        assert _pki.same_public_key(key.public_key(), cert(pki / f"{name}.crt").public_key())
    proxy = made["certificates"]["proxy"]
    assert proxy["dns_names"] == ["registry.example.com"]
    assert proxy["ip_addresses"] == ["127.0.0.1"]
    assert proxy["usage"] == "server"
    assert proxy["fingerprint_sha256"] == _pki.fingerprint_sha256(cert(pki / "proxy.crt"))
    assert proxy["serial"] == _pki.serial_text(cert(pki / "proxy.crt"))
    assert made["certificates"]["registry"]["usage"] == "both"
    assert made["certificates"]["proxy-client"]["usage"] == "client"
    assert _pki.key_spec_of(cert(pki / "proxy-client.crt").public_key()) == _pki.KeySpec("ecdsa", curve="secp384r1")
    assert _pki.key_spec_of(cert(pki / "proxy.crt").public_key()) == _pki.KeySpec("rsa", key_size=2048)
    assert made["ca"]["pem"] == (pki / "ca.crt").read_text()
    assert made["ca"]["key_path"] == str(pki / "ca.key")


def test_token_signer(made, pki):
    token = made["token_signing"]
    token_cert = cert(pki / "token.crt")
    assert _pki.issued_by(token_cert, _pki.Issuer.of(token_cert))  # self-signed
    assert not _pki.issued_by(token_cert, _pki.Issuer.of(cert(pki / "ca.crt")))  # not under the server CA
    assert token["kid"] == _pki.libtrust_kid(token_cert.public_key())
    assert token["jwk_thumbprint"] == _pki.jwk_thumbprint(_pki.public_jwk(token_cert.public_key()))
    assert json.loads((pki / "token.jwks.json").read_text()) == {"keys": [token["jwk"]]}
    assert token["jwk"]["kid"] == token["kid"]
    assert token["jwk"]["kty"] == "RSA"
    assert token["jwks_path"] == str(pki / "token.jwks.json")


def test_no_key_material_in_the_result(run_module, pki):
    result = run_module(registry_pki, args(pki), diff=True)
    text = json.dumps(result)
    assert "PRIVATE KEY" not in text
    for name in ("ca", "proxy", "token"):
        body = b"".join((pki / f"{name}.key").read_bytes().splitlines()[1:-1]).decode()
        assert body[:40] not in text


# ---------------------------------------------------------------- one input changes


def test_a_san_added_reissues_that_certificate_only_and_keeps_its_key(run_module, made, pki):
    before = snapshot(pki)
    changed_args = args(pki)
    changed_args["certificates"][0]["dns_names"].append("registry2.example.com")
    predicted = run_module(registry_pki, changed_args, check_mode=True, diff=True)
    result = run_module(registry_pki, changed_args, diff=True)
    for outcome in (predicted, result):
        assert outcome["changed"]
        assert {name: r["changed"] for name, r in outcome["certificates"].items()} == {
            "proxy": True,
            "registry": False,
            "proxy-client": False,
        }
        assert outcome["certificates"]["proxy"]["reasons"] == ["SAN DNS:registry2.example.com added"]
        assert not outcome["certificates"]["proxy"]["key_changed"]
        assert not outcome["ca"]["changed"]
        assert not outcome["token_signing"]["changed"]
        assert outcome["diff"]["after"]["certificates"]["proxy"]["reasons"] == ["SAN DNS:registry2.example.com added"]
        assert outcome["diff"]["after"]["certificates"]["proxy"]["dns_names"][-1] == "registry2.example.com"
        assert "registry2.example.com" not in outcome["diff"]["before"]["certificates"]["proxy"]["dns_names"]
    after = snapshot(pki)
    assert _pki.sans_of(cert(pki / "proxy.crt"))[0] == ["registry.example.com", "registry2.example.com"]
    assert after["proxy.key"][0] == before["proxy.key"][0]
    assert after["proxy.crt"][0] != before["proxy.crt"][0]
    assert {n: v for n, v in after.items() if n != "proxy.crt"} == {n: v for n, v in before.items() if n != "proxy.crt"}
    assert issued_by_ca(pki, "proxy")
    assert not run_module(registry_pki, changed_args)["changed"]


def test_key_type_change_gives_a_new_key(run_module, made, pki):
    old_key = (pki / "proxy.key").read_bytes()
    changed_args = args(pki)
    changed_args["certificates"][0]["key_type"] = "ecdsa"
    result = run_module(registry_pki, changed_args)
    proxy = result["certificates"]["proxy"]
    assert proxy["reasons"] == ["key is rsa 2048, wanted ecdsa secp256r1"]
    assert proxy["key_changed"]
    assert (pki / "proxy.key").read_bytes() != old_key
    assert _pki.key_spec_of(cert(pki / "proxy.crt").public_key()) == _pki.KeySpec("ecdsa", curve="secp256r1")


def test_a_certificate_within_the_window_is_renewed_with_its_key(run_module, made, pki):
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    key = serialization.load_pem_private_key((pki / "proxy.key").read_bytes(), None)
    wanted = _pki.Wanted("proxy", "server", _pki.KeySpec("rsa", 2048), 397, ["registry.example.com"], ["127.0.0.1"])
    now = datetime.datetime.now(_pki.UTC)
    old = _pki.build_leaf(key.public_key(), wanted, cert(pki / "ca.crt"), ca_key, now - 380 * DAY)
    (pki / "proxy.crt").write_bytes(_pki.certificate_pem(old))
    kept = run_module(registry_pki, args(pki, regenerate="never"))
    assert not kept["changed"]
    assert kept["certificates"]["proxy"]["not_after"] == _pki.iso(_pki.not_after(old))
    predicted = run_module(registry_pki, args(pki), check_mode=True)
    (reason,) = predicted["certificates"]["proxy"]["reasons"]
    assert reason.startswith(f"expires {_pki.iso(_pki.not_after(old))}, within renew_before_days (30)")
    renewed = run_module(registry_pki, args(pki))
    assert renewed["certificates"]["proxy"]["reasons"] == [reason]
    assert _pki.not_after(cert(pki / "proxy.crt")) > now + 396 * DAY
    assert _pki.same_public_key(cert(pki / "proxy.crt").public_key(), key.public_key())


def test_a_mode_change_alone_is_repaired_and_reported(run_module, made, pki):
    os.chmod(pki / "proxy.crt", 0o600)
    os.chmod(pki / "registry.key", 0o644)
    predicted = run_module(registry_pki, args(pki), check_mode=True)
    assert predicted["changed"]
    assert predicted["certificates"]["proxy"]["changed"]
    assert predicted["certificates"]["proxy"]["reasons"] == []
    assert mode_of(pki / "registry.key") == 0o644
    result = run_module(registry_pki, args(pki))
    assert [n for n, r in result["certificates"].items() if r["changed"]] == ["proxy", "registry"]
    assert mode_of(pki / "proxy.crt") == 0o644
    assert mode_of(pki / "registry.key") == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner and group needs root")
def test_owner_and_group_apply_to_every_file(run_module, pki):
    run_module(registry_pki, args(pki, owner="daemon", group="daemon"))
    daemon = pwd.getpwnam("daemon")
    for name in os.listdir(pki):
        info = os.stat(pki / name)
        assert (info.st_uid, info.st_gid) == (daemon.pw_uid, daemon.pw_gid), name
    assert not run_module(registry_pki, args(pki, owner="daemon", group="daemon"))["changed"]
    result = run_module(registry_pki, args(pki, group="root"))
    assert result["changed"]
    assert os.stat(pki / "ca.key").st_gid == 0


def test_custom_modes(run_module, pki):
    run_module(registry_pki, args(pki, key_mode="0640", cert_mode="0640"))
    assert mode_of(pki / "proxy.key") == 0o640
    assert mode_of(pki / "ca.crt") == 0o640


def test_an_unreadable_leaf_key_is_replaced(run_module, made, pki):
    (pki / "registry.key").write_bytes(b"not a key\n")
    result = run_module(registry_pki, args(pki))
    assert result["certificates"]["registry"]["reasons"] == [
        "key unreadable (not an unencrypted PEM RSA or ECDSA private key)"
    ]
    assert result["certificates"]["registry"]["key_changed"]
    assert issued_by_ca(pki, "registry")


def test_regenerate_always_with_rotate_keys_replaces_everything_but_the_ca(run_module, made, pki):
    before = snapshot(pki)
    result = run_module(registry_pki, args(pki, regenerate="always", rotate_keys=True))
    after = snapshot(pki)
    for name in ("proxy", "registry", "proxy-client", "token"):
        assert after[f"{name}.key"][0] != before[f"{name}.key"][0]
        assert after[f"{name}.crt"][0] != before[f"{name}.crt"][0]
    assert after["ca.crt"] == before["ca.crt"]
    assert after["ca.key"] == before["ca.key"]
    assert result["token_signing"]["kid"] != made["token_signing"]["kid"]


def test_rotate_keys_alone_changes_nothing(run_module, made, pki):
    before = snapshot(pki)
    assert not run_module(registry_pki, args(pki, rotate_keys=True))["changed"]
    assert snapshot(pki) == before


def test_token_renewal_keeps_the_kid(run_module, made, pki):
    result = run_module(registry_pki, args(pki, token_signing={"common_name": "Renamed signer"}))
    token = result["token_signing"]
    assert token["reasons"] == ["common name 'Dockyard token signer' changed to 'Renamed signer'"]
    assert not token["key_changed"]
    assert token["kid"] == made["token_signing"]["kid"]


def test_a_certificate_no_longer_listed_is_left_alone(run_module, made, pki):
    fewer = args(pki)
    del fewer["certificates"][2]
    result = run_module(registry_pki, fewer)
    assert not result["changed"]
    assert "proxy-client" not in result["certificates"]
    assert (pki / "proxy-client.crt").exists()


# ---------------------------------------------------------------- the CA


def test_ca_rollover_makes_a_new_ca_and_reissues_every_leaf(run_module, made, pki):
    before = snapshot(pki)
    predicted = run_module(registry_pki, args(pki, ca_rollover=True), check_mode=True, diff=True)
    assert snapshot(pki) == before
    result = run_module(registry_pki, args(pki, ca_rollover=True), diff=True)
    after = snapshot(pki)
    for outcome in (predicted, result):
        assert outcome["ca"]["reasons"] == ["ca_rollover=true"]
        assert all(r["reasons"] == ["CA rolled over"] for r in outcome["certificates"].values())
        assert not outcome["token_signing"]["changed"]
        assert outcome["diff"]["after"]["ca"]["key"].endswith("(new key)")
    assert after["ca.key"][0] != before["ca.key"][0]
    assert result["ca"]["fingerprint_sha256"] != made["ca"]["fingerprint_sha256"]
    for name in ("proxy", "registry", "proxy-client"):
        assert issued_by_ca(pki, name)
        assert after[f"{name}.key"][0] == before[f"{name}.key"][0]  # leaf keys are kept
    assert after["token.crt"] == before["token.crt"]
    # the next plain run keeps the new CA
    assert not run_module(registry_pki, args(pki))["changed"]


def test_ca_within_the_window_warns_and_is_kept(run_module, pki, warnings):
    pki.mkdir()
    key = _pki.generate_key(_pki.KeySpec("ecdsa", curve="secp256r1"))
    old = _pki.build_ca(key, "Dockyard Registry CA", 40, datetime.datetime.now(_pki.UTC) - 20 * DAY)
    (pki / "ca.key").write_bytes(_pki.private_key_pem(key))
    (pki / "ca.crt").write_bytes(_pki.certificate_pem(old))
    os.chmod(pki / "ca.key", 0o600)
    result = run_module(registry_pki, args(pki))
    (warning,) = warnings
    assert "within renew_before_days (30)" in warning
    assert "ca_rollover=true" in warning
    assert not result["ca"]["changed"]
    assert (pki / "ca.crt").read_bytes() == _pki.certificate_pem(old)
    assert issued_by_ca(pki, "proxy")


def test_changed_ca_options_warn_and_keep_the_ca(run_module, made, pki, warnings):
    result = run_module(registry_pki, args(pki, ca={"common_name": "Other CA", "key_type": "ecdsa"}))
    assert not result["changed"]
    (warning,) = warnings
    assert "common name 'Dockyard Registry CA', wanted 'Other CA'" in warning


def test_a_missing_ca_certificate_is_made_again_from_its_key(run_module, made, pki):
    (pki / "ca.crt").unlink()
    result = run_module(registry_pki, args(pki))
    assert result["ca"]["reasons"] == ["CA certificate missing: made again from the existing ca.key"]
    # same key and name: the leaves still chain to the new certificate and are kept
    assert not any(r["changed"] for r in result["certificates"].values())
    assert issued_by_ca(pki, "proxy")


def test_a_missing_ca_key_fails_and_touches_nothing(run_module, made, pki):
    (pki / "ca.key").unlink()
    before = snapshot(pki)
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_pki, args(pki))
    assert "ca.key is missing" in failed.value.msg
    assert "ca_rollover=true" in failed.value.msg
    assert snapshot(pki) == before


# ---------------------------------------------------------------- a provided CA


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    """A company CA (encrypted key), a leaf certificate that is no CA, and a stray key."""
    directory = tmp_path_factory.mktemp("company")
    now = datetime.datetime.now(_pki.UTC)
    key = _pki.generate_key(_pki.KeySpec("ecdsa", curve="secp384r1"))
    ca = _pki.build_ca(key, "Example Corp Root", 3650, now)
    (directory / "ca.crt").write_bytes(_pki.certificate_pem(ca))
    (directory / "ca.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"corp secret"),
        )
    )
    (directory / "plain.key").write_bytes(_pki.private_key_pem(key))
    stray = _pki.generate_key(_pki.KeySpec("ecdsa", curve="secp256r1"))
    (directory / "stray.key").write_bytes(_pki.private_key_pem(stray))
    leaf_wanted = _pki.Wanted("leaf", "server", _pki.KeySpec("ecdsa", curve="secp256r1"), 30, ["a.example"], [])
    (directory / "leaf.crt").write_bytes(
        _pki.certificate_pem(_pki.build_leaf(stray.public_key(), leaf_wanted, ca, key, now))
    )
    return directory


COMPANY_PASSPHRASE = "corp secret"  # noqa: S105 - the test CA's passphrase


def provided(company, cert="ca.crt", key="ca.key", passphrase=COMPANY_PASSPHRASE) -> dict:
    values = {"cert_path": str(company / cert), "key_path": str(company / key)}
    if passphrase is not None:
        values["key_passphrase"] = passphrase
    return {"provided": values}


def test_provided_ca(run_module, company, pki):
    result = run_module(registry_pki, args(pki, ca=provided(company)), diff=True)
    assert result["ca"]["provided"]
    assert result["ca"]["key_path"] == str(company / "ca.key")
    assert result["ca"]["common_name"] == "Example Corp Root"
    assert (pki / "ca.crt").read_bytes() == (company / "ca.crt").read_bytes()
    assert not (pki / "ca.key").exists()
    for name in ("proxy", "registry", "proxy-client"):
        assert _pki.issued_by(cert(pki / f"{name}.crt"), _pki.Issuer.of(cert(company / "ca.crt")))
    assert "corp secret" not in json.dumps(result)
    assert not run_module(registry_pki, args(pki, ca=provided(company)))["changed"]


def test_check_mode_with_a_provided_ca_predicts_the_directory_it_makes(run_module, company, pki):
    """The real run makes the directory first, so check mode predicts it rather than failing on it."""
    predicted = run_module(registry_pki, args(pki, ca=provided(company)), check_mode=True)
    assert predicted["changed"] and predicted["ca"]["changed"]
    assert not pki.exists()
    assert run_module(registry_pki, args(pki, ca=provided(company)))["changed"]


def test_switching_to_a_provided_ca_reissues_every_leaf(run_module, made, company, pki, warnings):
    result = run_module(registry_pki, args(pki, ca=provided(company)))
    assert all(r["reasons"] == ["issued by another CA"] for r in result["certificates"].values())
    assert any("is left from a generated CA" in w for w in warnings)


@pytest.mark.parametrize(
    ("ca", "message"),
    [
        (
            {"cert": "leaf.crt", "key": "stray.key", "passphrase": None},
            "ca.provided.cert_path: {dir}/leaf.crt is not a CA",
        ),
        (
            {"key": "stray.key", "passphrase": None},
            "ca.provided.key_path: {dir}/stray.key is not the key of the certificate",
        ),
        ({"passphrase": None}, "ca.provided.key_path: {dir}/ca.key is encrypted and no passphrase was given"),
        ({"passphrase": "wrong"}, "ca.provided.key_path: {dir}/ca.key is not a usable PEM private key"),
        ({"cert": "missing.crt"}, "ca.provided.cert_path: {dir}/missing.crt does not exist"),
        ({"key": "missing.key"}, "ca.provided.key_path: {dir}/missing.key does not exist"),
        ({"cert": "ca.key"}, "ca.provided.cert_path: {dir}/ca.key is not a PEM certificate"),
    ],
)
@pytest.mark.parametrize("existing", [False, True])
def test_bad_provided_ca_fails_before_any_file_is_touched(run_module, company, pki, ca, message, existing):  # noqa: PLR0913, PLR0917
    if existing:
        run_module(registry_pki, args(pki))
    before = snapshot(pki)
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_pki, args(pki, ca=provided(company, **ca)))
    assert message.format(dir=company) in failed.value.msg
    assert snapshot(pki) == before
    assert "corp secret" not in failed.value.msg


# ---------------------------------------------------------------- bad input


def with_leaf(**changes) -> dict:
    leaf = {"name": "proxy", "dns_names": ["registry.example.com"]}
    leaf.update(changes)
    return {"certificates": [leaf]}


BAD = [
    (with_leaf(ip_addresses=["10.0.0.300"]), "certificates[0].ip_addresses (proxy): '10.0.0.300' is not an IPv4"),
    (with_leaf(dns_names=["registry..example.com"]), "certificates[0].dns_names (proxy): 'registry..example.com'"),
    (with_leaf(dns_names=["*.com"]), "certificates[0].dns_names (proxy): '*.com' is a wildcard"),
    (with_leaf(key_size=1024), "certificates[0].key_size 1024 is too small"),
    (with_leaf(validity_days=0), "certificates[0].validity_days must be a positive number of days, not 0"),
    (with_leaf(validity_days=20), "certificates[0].validity_days (20) must be longer than renew_before_days (30)"),
    (with_leaf(dns_names=[]), "certificates[0] (proxy) is a server certificate without dns_names or ip_addresses"),
    (with_leaf(name="Proxy"), "certificates[0].name 'Proxy'"),
    ({"ca": {"key_size": 1024}}, "ca.key_size 1024 is too small"),
    ({"ca": {"validity_days": 0}}, "ca.validity_days must be a positive number"),
    ({"token_signing": {"key_size": 1024}}, "token_signing.key_size 1024 is too small"),
    ({"token_signing": {"validity_days": -1}}, "token_signing.validity_days must be a positive number"),
    ({"token_signing": {"name": "proxy"}}, "token_signing.name 'proxy' is also a certificate's name"),
    ({"key_mode": "0644"}, "key_mode 0644 lets others access private keys"),
    ({"cert_mode": "rw-r--r--"}, "cert_mode 'rw-r--r--' is not an octal mode"),
    ({"renew_before_days": -1}, "renew_before_days must be 0 or more"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD, ids=[bad[1].split(" ")[0] for bad in BAD])
@pytest.mark.parametrize("existing", [False, True])
def test_bad_input_fails_naming_the_option_and_touches_nothing(run_module, pki, overrides, message, existing):
    if existing:
        run_module(registry_pki, args(pki))
    before = snapshot(pki)
    with pytest.raises(ModuleFailed) as failed:
        run_module(registry_pki, args(pki, **overrides))
    assert message in failed.value.msg
    assert snapshot(pki) == before
    assert pki.exists() is existing


def test_path_that_is_a_file_fails(run_module, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModuleFailed, match="is not a directory"):
        run_module(registry_pki, args(tmp_path / "file"))


def test_unknown_option_is_refused_by_the_argument_spec(run_module, pki):
    with pytest.raises(ModuleFailed, match="mode"):
        run_module(registry_pki, args(pki, mode="0600"))

"""The PKI logic: option checks, certificates, the reissue decision, token key ids (with published test vectors)."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from ansible_collections.dockyard.registry.plugins.module_utils import _pki
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.vectors import RFC7638_N, RFC7638_THUMBPRINT, SPEC_JWK, SPEC_KID, SPEC_THUMBPRINT, b64url_int

NOW = datetime.datetime.now(_pki.UTC).replace(microsecond=0)
DAY = datetime.timedelta(days=1)

# ---------------------------------------------------------------- token key identifiers


def test_libtrust_kid_and_thumbprint_of_the_spec_key():
    public = ec.EllipticCurvePublicNumbers(
        b64url_int(SPEC_JWK["x"]), b64url_int(SPEC_JWK["y"]), ec.SECP256R1()
    ).public_key()
    assert _pki.libtrust_kid(public) == SPEC_KID
    jwk = _pki.public_jwk(public)
    assert jwk == SPEC_JWK
    assert _pki.jwk_thumbprint(jwk) == SPEC_THUMBPRINT


def test_rsa_jwk_and_thumbprint_of_the_rfc7638_key():
    public = rsa.RSAPublicNumbers(65537, b64url_int(RFC7638_N)).public_key()
    jwk = _pki.public_jwk(public)
    assert jwk == {"kty": "RSA", "n": RFC7638_N, "e": "AQAB"}
    assert _pki.jwk_thumbprint(jwk) == RFC7638_THUMBPRINT
    # optional members (kid, alg) are not part of the thumbprint
    assert _pki.jwk_thumbprint(dict(jwk, kid="x", alg="RS256")) == RFC7638_THUMBPRINT


def test_libtrust_kid_shape_for_rsa():
    kid = _pki.libtrust_kid(rsa.RSAPublicNumbers(65537, b64url_int(RFC7638_N)).public_key())
    groups = kid.split(":")
    assert len(groups) == 12
    assert all(len(g) == 4 and g.isalnum() and g.upper() == g for g in groups)


def test_ec_jwk_keeps_leading_zero_bytes():
    # x with a leading zero byte: the JWK coordinate is still 32 bytes (RFC 7518 6.2.1.2)
    public = None
    for _attempt in range(2000):
        key = ec.generate_private_key(ec.SECP256R1())
        if key.public_key().public_numbers().x < 1 << 248:
            public = key.public_key()
            break
    assert public is not None, "no key with a short x in 2000 draws"
    x = base64.urlsafe_b64decode(_pki.public_jwk(public)["x"] + "=")
    assert len(x) == 32
    assert x[0] == 0


def test_token_ec_keys_have_full_width_coordinates():
    for _attempt in range(200):
        numbers = _pki.generate_key(_pki.KeySpec("ecdsa", curve="secp256r1"), True).public_key().public_numbers()
        assert numbers.x >= 1 << 248
        assert numbers.y >= 1 << 248


def test_jwks_document_carries_the_libtrust_kid():
    key = _pki.generate_key(_pki.KeySpec("ecdsa", curve="secp384r1"))
    document = json.loads(_pki.jwks_document(key.public_key()))
    (jwk,) = document["keys"]
    assert jwk["kid"] == _pki.libtrust_kid(key.public_key())
    assert jwk["crv"] == "P-384"
    assert "d" not in jwk


# ---------------------------------------------------------------- names and addresses


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("registry.example.com", "registry.example.com"),
        ("Registry.Example.COM", "registry.example.com"),
        ("*.example.com", "*.example.com"),
        ("localhost", "localhost"),
        ("a-b.c-d.example", "a-b.c-d.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("1host.example", "1host.example"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
    ],
)
def test_good_dns_names(value, expected):
    assert _pki.check_dns_name(value) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "empty"),
        ("a..example.com", "invalid label ''"),
        ("-a.example.com", "invalid label '-a'"),
        ("a-.example.com", "invalid label 'a-'"),
        ("registry.example.com.", "invalid label ''"),
        ("under_score.example.com", "invalid label 'under_score'"),
        ("bücher.example", "xn--"),
        ("ex ample.com", "invalid label"),
        ("*.com", "wildcard"),
        ("a.*.example.com", "invalid label '*'"),
        ("*a.example.com", "invalid label '*a'"),
        ("a" * 64 + ".example", "invalid label"),
        (("a" * 60 + ".") * 5, "longer than 253"),
        ("10.0.0.1", "ip_addresses"),
        ("::1", "ip_addresses"),
    ],
)
def test_bad_dns_names(value, why):
    with pytest.raises(ValueError) as caught:
        _pki.check_dns_name(value)
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1", "127.0.0.1"), ("2001:DB8::1", "2001:db8::1"), ("::ffff:192.0.2.1", "::ffff:c000:201")],
)
def test_good_ip_addresses(value, expected):
    assert _pki.check_ip_address(value) == expected


@pytest.mark.parametrize("value", ["10.0.0.300", "10.0.0", "registry", "10.0.0.0/8", "fe80::1%eth0", "", "1.2.3.4 "])
def test_bad_ip_addresses(value):
    with pytest.raises(ValueError):
        _pki.check_ip_address(value)


# ---------------------------------------------------------------- options


def options(**overrides) -> dict:
    params = {
        "path": "/srv/pki",
        "ca": {"common_name": None, "key_type": "rsa", "key_size": None, "curve": None, "validity_days": 3650},
        "certificates": [leaf("proxy", dns_names=["registry.example.com"])],
        "token_signing": None,
        "renew_before_days": 30,
        "regenerate": "changed",
        "rotate_keys": False,
        "ca_rollover": False,
    }
    params.update(overrides)
    return params


def leaf(name, **overrides) -> dict:
    params = {
        "name": name,
        "usage": "server",
        "common_name": None,
        "dns_names": [],
        "ip_addresses": [],
        "key_type": "rsa",
        "key_size": None,
        "curve": None,
        "validity_days": 397,
    }
    params.update(overrides)
    return params


def test_good_options_with_defaults():
    parsed = _pki.check_options(
        options(
            certificates=[
                leaf("proxy", dns_names=["Registry.example.com", "registry.example.com"], ip_addresses=["::1"]),
                leaf("client", usage="client", key_type="ecdsa"),
            ],
            token_signing={"name": "token", "common_name": None, "key_type": "rsa", "key_size": None, "curve": None},
        )
    )
    assert parsed.ca.key == _pki.KeySpec("rsa", key_size=4096)
    assert parsed.ca.common_name == "Dockyard Registry CA"
    proxy = parsed.leaves["proxy"]
    assert proxy.dns_names == ["registry.example.com"]  # normalised and de-duplicated
    assert proxy.ip_addresses == ["::1"]
    assert proxy.key == _pki.KeySpec("rsa", key_size=2048)
    assert proxy.common_name == "proxy"
    assert parsed.leaves["client"].key == _pki.KeySpec("ecdsa", curve="secp256r1")
    assert parsed.token_name == "token"  # noqa: S105 - a file stem, not a password
    assert parsed.token.key == _pki.KeySpec("rsa", key_size=2048)
    assert parsed.token.usage == "token"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"certificates": [leaf("proxy", ip_addresses=["10.0.0.300"])]},
            "certificates[0].ip_addresses (proxy): '10.0.0.300'",
        ),
        ({"certificates": [leaf("proxy", dns_names=["bad..name"])]}, "certificates[0].dns_names (proxy): 'bad..name'"),
        (
            {"certificates": [leaf("proxy", dns_names=["a.b"], key_size=1024)]},
            "certificates[0].key_size 1024 is too small",
        ),
        (
            {"certificates": [leaf("proxy", dns_names=["a.b"], validity_days=0)]},
            "certificates[0].validity_days must be",
        ),
        (
            {"certificates": [leaf("proxy", dns_names=["a.b"], validity_days=-5)]},
            "certificates[0].validity_days must be",
        ),
        ({"certificates": [leaf("proxy", dns_names=["a.b"], validity_days=30)]}, "longer than renew_before_days"),
        ({"certificates": [leaf("proxy", dns_names=["a.b"], key_type="ecdsa", key_size=2048)]}, "key_size applies"),
        ({"certificates": [leaf("proxy", dns_names=["a.b"], curve="secp384r1")]}, "certificates[0].curve applies"),
        ({"certificates": [leaf("proxy")]}, "certificates[0] (proxy) is a server certificate without dns_names"),
        ({"certificates": [leaf("Proxy", dns_names=["a.b"])]}, "certificates[0].name 'Proxy'"),
        ({"certificates": [leaf("../x", dns_names=["a.b"])]}, "certificates[0].name '../x'"),
        ({"certificates": [leaf("ca", dns_names=["a.b"])]}, "certificates[0].name 'ca' is reserved"),
        (
            {"certificates": [leaf("p", dns_names=["a.b"]), leaf("p", usage="client")]},
            "certificates[1].name 'p' is used twice",
        ),
        ({"ca": {"key_type": "rsa", "key_size": 1024, "validity_days": 3650}}, "ca.key_size 1024"),
        ({"ca": {"key_type": "rsa", "validity_days": 0}}, "ca.validity_days must be"),
        ({"renew_before_days": -1}, "renew_before_days must be 0 or more"),
        ({"token_signing": {"name": "proxy", "key_type": "rsa", "validity_days": 397}}, "token_signing.name 'proxy'"),
        (
            {"token_signing": {"name": "token", "key_type": "rsa", "key_size": 512, "validity_days": 397}},
            "token_signing.key_size",
        ),
        ({"token_signing": {"name": "token", "key_type": "rsa", "validity_days": 0}}, "token_signing.validity_days"),
        (
            {"ca": {"validity_days": 3650, "provided": {"cert_path": "/c", "key_path": "/k"}}, "ca_rollover": True},
            "ca_rollover applies to the CA this module generates",
        ),
    ],
)
def test_bad_options_name_the_option(overrides, message):
    with pytest.raises(_pki.PkiError) as caught:
        _pki.check_options(options(**overrides))
    assert message in str(caught.value)


def test_a_client_certificate_needs_no_sans():
    parsed = _pki.check_options(options(certificates=[leaf("proxy-client", usage="client")]))
    assert parsed.leaves["proxy-client"].dns_names == []


# ---------------------------------------------------------------- certificates


@pytest.fixture(scope="module")
def keys():
    """Keys are slow to make: a few, shared by the tests of this module."""
    return {
        "ca": _pki.generate_key(_pki.KeySpec("ecdsa", curve="secp256r1")),
        "other_ca": _pki.generate_key(_pki.KeySpec("ecdsa", curve="secp256r1")),
        "rsa": _pki.generate_key(_pki.KeySpec("rsa", key_size=2048)),
        "rsa_b": _pki.generate_key(_pki.KeySpec("rsa", key_size=2048)),
        "ec384": _pki.generate_key(_pki.KeySpec("ecdsa", curve="secp384r1")),
    }


@pytest.fixture(scope="module")
def ca(keys):
    return _pki.build_ca(keys["ca"], "Test CA", 3650, NOW)


def wanted(**overrides) -> _pki.Wanted:
    values = {
        "common_name": "proxy",
        "usage": "server",
        "key": _pki.KeySpec("rsa", key_size=2048),
        "validity_days": 397,
        "dns_names": ["registry.example.com", "registry.internal"],
        "ip_addresses": ["127.0.0.1"],
    }
    values.update(overrides)
    return _pki.Wanted(**values)


def test_ca_certificate(keys, ca):
    assert _pki.ca_problem(ca) is None
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert _pki.issued_by(ca, _pki.Issuer.of(ca))
    assert _pki.not_after(ca) - NOW == 3650 * DAY


@pytest.mark.parametrize(
    ("usage", "purposes"),
    [
        ("server", [ExtendedKeyUsageOID.SERVER_AUTH]),
        ("client", [ExtendedKeyUsageOID.CLIENT_AUTH]),
        ("both", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
    ],
)
def test_leaf_certificate(keys, ca, usage, purposes):
    cert = _pki.build_leaf(keys["rsa"].public_key(), wanted(usage=usage), ca, keys["ca"], NOW)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == purposes
    assert _pki.usage_of(cert) == usage
    assert _pki.sans_of(cert) == (["registry.example.com", "registry.internal"], ["127.0.0.1"])
    assert _pki.ca_problem(cert) is not None
    assert _pki.issued_by(cert, _pki.Issuer.of(ca))
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment  # RSA key
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_token_certificate_signs_itself_and_is_no_ca(keys, ca):
    cert = _pki.build_token_cert(keys["rsa"], wanted(usage="token", dns_names=[], ip_addresses=[]), NOW)
    assert _pki.issued_by(cert, _pki.Issuer.of(cert))
    assert not _pki.issued_by(cert, _pki.Issuer.of(ca))
    assert "no basicConstraints CA:TRUE" in _pki.ca_problem(cert)


def test_ca_problem_keyusage_without_keycertsign(keys):
    name = _pki.subject("Not a signing CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(keys["other_ca"].public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_pki._key_usage(digital_signature=True), critical=True)
        .sign(keys["other_ca"], _pki.hashes.SHA256())
    )
    assert "keyCertSign" in _pki.ca_problem(cert)


def test_serial_and_fingerprint_formats(ca):
    assert len(_pki.serial_text(ca)) % 2 == 0
    assert int(_pki.serial_text(ca), 16) == ca.serial_number
    assert len(_pki.fingerprint_sha256(ca).split(":")) == 32


def test_load_private_key_errors(keys):
    with pytest.raises(ValueError, match="not a usable PEM private key"):
        _pki.load_private_key(b"garbage")
    encrypted = keys["rsa"].private_bytes(
        _pki.serialization.Encoding.PEM,
        _pki.serialization.PrivateFormat.PKCS8,
        _pki.serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(ValueError, match="encrypted and no passphrase"):
        _pki.load_private_key(encrypted)
    with pytest.raises(ValueError, match="passphrase is wrong"):
        _pki.load_private_key(encrypted, "wrong")
    assert _pki.same_public_key(_pki.load_private_key(encrypted, "secret").public_key(), keys["rsa"].public_key())


# ---------------------------------------------------------------- the reissue decision


def disk(cert=None, key=None) -> _pki.OnDisk:
    return _pki.OnDisk(
        cert=cert, cert_problem=None if cert is not None else "missing", key=key, key_problem=None if key else "missing"
    )


def policy(regenerate="changed", rotate_keys=False) -> _pki.Policy:
    return _pki.Policy(regenerate=regenerate, renew_before_days=30, rotate_keys=rotate_keys, now=NOW)


@pytest.fixture(scope="module")
def states(keys, ca):
    """Named on-disk states, each one aspect away from a valid leaf (rsa 2048, proxy, SANs, server)."""
    good = wanted()
    leaf_key = keys["rsa"]

    def issue(key=leaf_key, issuer=ca, issuer_key=keys["ca"], now=NOW, **changes):
        return _pki.build_leaf(key.public_key(), wanted(**changes), issuer, issuer_key, now)

    other_ca = _pki.build_ca(keys["other_ca"], "Test CA", 3650, NOW)  # same name, another key
    return {
        "valid": disk(issue(), leaf_key),
        "valid, SANs in another order": disk(issue(dns_names=["registry.internal", "registry.example.com"]), leaf_key),
        "cert missing": disk(None, leaf_key),
        "key missing": disk(issue(), None),
        "both missing": disk(None, None),
        "key unreadable": _pki.OnDisk(cert=issue(), cert_problem=None, key=None, key_problem="unreadable (x)"),
        "cert unreadable": _pki.OnDisk(cert=None, cert_problem="unreadable (x)", key=leaf_key, key_problem=None),
        "key does not match": disk(issue(key=keys["rsa_b"]), leaf_key),
        "expires within window": disk(issue(now=NOW - 380 * DAY), leaf_key),
        "expired": disk(issue(now=NOW - 400 * DAY), leaf_key),
        "expires just outside window": disk(issue(now=NOW - 366 * DAY), leaf_key),
        "SAN DNS added": disk(issue(dns_names=["registry.internal"]), leaf_key),
        "SAN DNS removed": disk(
            issue(dns_names=["registry.example.com", "old.example.com", "registry.internal"]), leaf_key
        ),
        "SAN IP added": disk(issue(ip_addresses=[]), leaf_key),
        "SAN IP removed": disk(issue(ip_addresses=["127.0.0.1", "10.0.0.1"]), leaf_key),
        "common name changed": disk(issue(common_name="old"), leaf_key),
        "usage changed": disk(issue(usage="client"), leaf_key),
        "another CA": disk(issue(issuer=other_ca, issuer_key=keys["other_ca"]), leaf_key),
        "key size changed": disk(issue(key=keys["ec384"]), keys["ec384"]),
    }, good


# state -> (reasons under never, reasons under changed, new key under changed). Under `always`, the changed reasons
# plus "regenerate=always"; a reissue keeps the key unless it is unusable or its type/size changed.
DECISIONS = {
    "valid": ([], [], False),
    "valid, SANs in another order": ([], [], False),
    "cert missing": (["certificate missing"], ["certificate missing"], False),
    "key missing": (["key missing"], ["key missing"], True),
    "both missing": (["key missing", "certificate missing"], ["key missing", "certificate missing"], True),
    "key unreadable": (["key unreadable (x)"], ["key unreadable (x)"], True),
    "cert unreadable": (["certificate unreadable (x)"], ["certificate unreadable (x)"], False),
    "key does not match": (["certificate does not match the key"], ["certificate does not match the key"], False),
    "expires within window": ([], ["expires {end}, within renew_before_days (30)"], False),
    "expired": ([], ["expired {end}"], False),
    "expires just outside window": ([], [], False),
    "SAN DNS added": ([], ["SAN DNS:registry.example.com added"], False),
    "SAN DNS removed": ([], ["SAN DNS:old.example.com removed"], False),
    "SAN IP added": ([], ["SAN IP:127.0.0.1 added"], False),
    "SAN IP removed": ([], ["SAN IP:10.0.0.1 removed"], False),
    "common name changed": ([], ["common name 'old' changed to 'proxy'"], False),
    "usage changed": ([], ["usage client changed to server"], False),
    "another CA": ([], ["issued by another CA"], False),
    "key size changed": ([], ["key is ecdsa secp384r1, wanted rsa 2048"], True),
}


def expected_reasons(templates, state):
    end = _pki.iso(_pki.not_after(state.cert)) if state.cert is not None else ""
    return [template.format(end=end) for template in templates]


@pytest.mark.parametrize("name", sorted(DECISIONS))
@pytest.mark.parametrize("regenerate", _pki.REGENERATE)
def test_decide(states, ca, name, regenerate):
    table, good = states
    state = table[name]
    never, changed, new_key_if_changed = DECISIONS[name]
    decision = _pki.decide(state, good, _pki.Issuer.of(ca), policy(regenerate))
    if regenerate == "never":
        reasons = expected_reasons(never, state)
        new_key = state.key is None
    elif regenerate == "changed":
        reasons = expected_reasons(changed, state)
        new_key = new_key_if_changed
    else:
        reasons = [*expected_reasons(changed, state), "regenerate=always"]
        new_key = new_key_if_changed
    assert decision.reasons == reasons
    assert decision.reissue is bool(reasons)
    assert decision.new_key is new_key


@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_rotate_keys_gives_every_reissued_certificate_a_new_key(states, ca, name):
    table, good = states
    decision = _pki.decide(table[name], good, _pki.Issuer.of(ca), policy("changed", rotate_keys=True))
    assert decision.new_key is decision.reissue


@pytest.mark.parametrize("regenerate", _pki.REGENERATE)
def test_a_new_ca_reissues_existing_certificates_under_every_policy(states, regenerate):
    table, good = states
    decision = _pki.decide(table["valid"], good, None, policy(regenerate), forced="CA rolled over")
    assert decision.reissue
    assert "CA rolled over" in decision.reasons
    assert not decision.new_key
    # a missing certificate is issued for being missing; the forced reason is not repeated
    decision = _pki.decide(table["cert missing"], good, None, policy(regenerate), forced="CA rolled over")
    assert decision.reasons[-1 if regenerate != "always" else -2] == "certificate missing"


def test_a_certificate_made_from_the_same_ca_key_and_name_is_still_issued_by_it(keys, states):
    table, good = states
    remade_ca = _pki.build_ca(keys["ca"], "Test CA", 3650, NOW)
    assert _pki.decide(table["valid"], good, _pki.Issuer.of(remade_ca), policy()).reasons == []


def test_token_signer_must_sign_itself(keys, ca):
    token = wanted(usage="token", dns_names=[], ip_addresses=[], common_name="Dockyard token signer")
    self_signed = _pki.build_token_cert(keys["rsa"], token, NOW)
    assert _pki.decide(disk(self_signed, keys["rsa"]), token, None, policy()).reasons == []
    by_ca = _pki.build_leaf(keys["rsa"].public_key(), wanted(common_name="Dockyard token signer"), ca, keys["ca"], NOW)
    decision = _pki.decide(disk(by_ca, keys["rsa"]), token, None, policy("never"))
    assert decision.reasons == ["certificate is not self-signed by its key"]
    assert not decision.new_key


# ---------------------------------------------------------------- CA warnings


def ca_options(**overrides) -> _pki.CaOptions:
    values = {"common_name": "Test CA", "key": _pki.KeySpec("ecdsa", curve="secp256r1"), "validity_days": 3650}
    values.update(overrides)
    return _pki.CaOptions(**values)


def test_no_warning_for_a_valid_ca(keys, ca):
    assert _pki.ca_warnings(ca, keys["ca"], ca_options(), 30, NOW) == []


def test_ca_within_the_window_warns(keys):
    old = _pki.build_ca(keys["ca"], "Test CA", 40, NOW - 20 * DAY)
    (warning,) = _pki.ca_warnings(old, keys["ca"], ca_options(), 30, NOW)
    assert "within renew_before_days (30)" in warning
    assert "ca_rollover=true" in warning


def test_expired_ca_warns(keys):
    old = _pki.build_ca(keys["ca"], "Test CA", 10, NOW - 20 * DAY)
    (warning,) = _pki.ca_warnings(old, keys["ca"], ca_options(), 30, NOW)
    assert "expired" in warning


def test_ca_options_not_applied_warn(keys, ca):
    (warning,) = _pki.ca_warnings(ca, keys["ca"], ca_options(common_name="New", key=_pki.KeySpec("rsa", 4096)), 30, NOW)
    assert "common name 'Test CA', wanted 'New'" in warning
    assert "key ecdsa secp256r1, wanted rsa 4096" in warning


def test_provided_ca_options_are_not_compared(keys, ca):
    provided = ca_options(common_name="Other", provided_cert_path="/c", provided_key_path="/k")
    assert _pki.ca_warnings(ca, keys["ca"], provided, 30, NOW) == []

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Token signing: key ids (with the spec's test vector), the JWT header and claims, the endpoint's answer."""

from __future__ import annotations

import base64
import datetime
import hashlib
import importlib
import json
import time
from pathlib import Path

import jwt
import pytest
from conftest import self_signed as make_self_signed
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dockyard_auth import tokens
from dockyard_auth.tokens import (
    Signer,
    SignerError,
    access_entry,
    build_claims,
    jwk_thumbprint,
    libtrust_kid,
    new_jti,
    token_response,
)
from tests.vectors import RFC7638_N, RFC7638_THUMBPRINT, SPEC_JWK, SPEC_KID, SPEC_THUMBPRINT, b64url_int

UTC = datetime.UTC
ROOT = Path(__file__).resolve().parents[4]
NOW = 1_795_000_000
SERVICE = "registry.example.com"
ISSUER = "dockyard-auth"


def b64url_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def self_signed(key, days: int = 30) -> x509.Certificate:
    return make_self_signed("dockyard token signer", key, days, datetime.datetime(2026, 1, 1, tzinfo=UTC))[1]


def key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def p256_key():
    return ec.generate_private_key(ec.SECP256R1())


KEY_MAKERS = {
    "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
}
# key kind -> (alg, raw signature length in bytes: r||s for EC, the modulus size for RSA)
EXPECTED_ALG = {"rsa2048": ("RS256", 256), "p256": ("ES256", 64), "p384": ("ES384", 96), "p521": ("ES512", 132)}


def claims(**overrides) -> dict:
    values = {
        "issuer": ISSUER,
        "service": SERVICE,
        "subject": "bob",
        "access": [access_entry("repository", "bob/app", ["pull", "push"])],
        "now": NOW,
        "ttl": 300,
        "jti": "jti-1",
    }
    values.update(overrides)
    return build_claims(**values)


def decode(token: str, public_key, **options) -> dict:
    return jwt.decode(
        token,
        public_key,
        algorithms=["RS256", "ES256", "ES384", "ES512"],
        audience=SERVICE,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, **options},
    )


# ---------------------------------------------------------------- key ids


def spec_public_key():
    return ec.EllipticCurvePublicNumbers(
        b64url_int(SPEC_JWK["x"]), b64url_int(SPEC_JWK["y"]), ec.SECP256R1()
    ).public_key()


def test_libtrust_kid_of_the_spec_key():
    assert libtrust_kid(spec_public_key()) == SPEC_KID


def test_thumbprint_of_the_spec_key():
    assert jwk_thumbprint(spec_public_key()) == SPEC_THUMBPRINT


def test_thumbprint_of_the_rfc7638_rsa_key():
    assert jwk_thumbprint(rsa.RSAPublicNumbers(65537, b64url_int(RFC7638_N)).public_key()) == RFC7638_THUMBPRINT


@pytest.mark.parametrize("kind", sorted(KEY_MAKERS))
def test_kid_shapes(kind):
    public_key = KEY_MAKERS[kind]().public_key()
    kid = libtrust_kid(public_key)
    groups = kid.split(":")
    assert len(kid) == 59
    assert len(groups) == 12
    assert all(len(group) == 4 and group.isalnum() and group.upper() == group for group in groups)
    thumbprint = jwk_thumbprint(public_key)
    assert len(thumbprint) == 43
    assert len(b64url_bytes(thumbprint)) == 32


def test_thumbprint_pads_ec_coordinates_to_the_curve_width():
    # A P-256 point whose x has a leading zero byte: found by trying keys, so its thumbprint must use 32 bytes.
    while True:
        public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        if public_key.public_numbers().x.bit_length() <= 248:
            break
    numbers = public_key.public_numbers()
    members = {
        "crv": "P-256",
        "kty": "EC",
        "x": base64.urlsafe_b64encode(numbers.x.to_bytes(32, "big")).rstrip(b"=").decode(),
        "y": base64.urlsafe_b64encode(numbers.y.to_bytes(32, "big")).rstrip(b"=").decode(),
    }
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    assert jwk_thumbprint(public_key) == expected


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda: ed25519.Ed25519PrivateKey.generate().public_key(), id="ed25519"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256K1()).public_key(), id="secp256k1"),
        pytest.param(lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key(), id="rsa1024"),  # noqa: S505
    ],
)
def test_thumbprint_of_unsupported_keys(key):
    with pytest.raises(SignerError, match="cannot sign tokens with"):
        jwk_thumbprint(key())


@pytest.fixture(scope="module")
def collection_pki():
    """The collection's own PKI helpers, when the collection is importable (scripts/setup.sh links it)."""
    collections = ROOT / ".cache" / "collections"
    if not (collections / "ansible_collections" / "dockyard" / "registry").exists():
        pytest.skip(f"{collections} has no dockyard.registry: run scripts/setup.sh")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(collections))
        return importlib.import_module("ansible_collections.dockyard.registry.plugins.module_utils._pki")


@pytest.mark.parametrize("kind", ["rsa2048", "p256", "p384"])
def test_key_ids_agree_with_the_collection(collection_pki, kind):
    public_key = KEY_MAKERS[kind]().public_key()
    assert libtrust_kid(public_key) == collection_pki.libtrust_kid(public_key)
    assert jwk_thumbprint(public_key) == collection_pki.jwk_thumbprint(collection_pki.public_jwk(public_key))


def test_the_collection_agrees_on_the_spec_key(collection_pki):
    public_key = spec_public_key()
    assert collection_pki.libtrust_kid(public_key) == SPEC_KID
    assert collection_pki.jwk_thumbprint(collection_pki.public_jwk(public_key)) == SPEC_THUMBPRINT


# ---------------------------------------------------------------- the signer


@pytest.mark.parametrize("kind", sorted(KEY_MAKERS))
def test_signed_token_header_and_claims(kind):
    key = KEY_MAKERS[kind]()
    cert = self_signed(key)
    signer = Signer(key, cert)
    alg, signature_length = EXPECTED_ALG[kind]
    assert signer.alg == alg
    assert signer.kid == libtrust_kid(key.public_key())

    token = signer.sign(claims())
    header = jwt.get_unverified_header(token)
    assert header["alg"] == alg
    assert header["typ"] == "JWT"
    assert header["kid"] == signer.kid
    assert header["x5c"] == signer.x5c
    assert len(header["x5c"]) == 1
    assert base64.b64decode(header["x5c"][0], validate=True) == cert.public_bytes(serialization.Encoding.DER)
    # JOSE signatures: raw r||s for EC (registry 2.8 refuses DER), the modulus size for RSA.
    assert len(b64url_bytes(token.split(".")[2])) == signature_length

    decoded = decode(token, key.public_key())
    assert decoded == claims()
    assert isinstance(decoded["aud"], str)


def test_the_token_is_what_pyjwt_would_make(rsa_key):
    """The signer encodes its header once; the token is still jwt.encode's, byte for byte (RS256 is deterministic)."""
    signer = Signer(rsa_key, self_signed(rsa_key))
    headers = {"kid": signer.kid, "x5c": signer.x5c, "typ": "JWT"}
    assert signer.sign(claims()) == jwt.encode(claims(), rsa_key, algorithm="RS256", headers=headers)


def test_es256_signature_is_raw_r_and_s(p256_key):
    token = Signer(p256_key, self_signed(p256_key)).sign(claims())
    signing_input, _, signature = token.rpartition(".")
    raw = b64url_bytes(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    p256_key.public_key().verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))


def test_thumbprint_kid_format(rsa_key):
    signer = Signer(rsa_key, self_signed(rsa_key), kid_format="thumbprint")
    assert signer.kid == jwk_thumbprint(rsa_key.public_key())
    assert jwt.get_unverified_header(signer.sign(claims()))["kid"] == signer.kid


def test_unknown_kid_format(rsa_key):
    with pytest.raises(SignerError, match="kid format 'x5t'"):
        Signer(rsa_key, self_signed(rsa_key), kid_format="x5t")


def test_token_verifies_only_with_the_signer_key(rsa_key):
    token = Signer(rsa_key, self_signed(rsa_key)).sign(claims())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token, other.public_key())


def test_mismatched_key_and_certificate(rsa_key, p256_key):
    with pytest.raises(SignerError, match="public keys differ"):
        Signer(rsa_key, self_signed(p256_key))
    with pytest.raises(SignerError, match="certificate does not belong to the private key"):
        Signer.from_pem(key_pem(rsa_key), cert_pem(self_signed(p256_key)))


def test_from_files_names_both_files_on_mismatch(tmp_path, rsa_key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "token.key").write_bytes(key_pem(rsa_key))
    (tmp_path / "token.crt").write_bytes(cert_pem(self_signed(other)))
    with pytest.raises(SignerError) as info:
        Signer.from_files(tmp_path / "token.key", tmp_path / "token.crt")
    message = str(info.value)
    assert str(tmp_path / "token.key") in message
    assert str(tmp_path / "token.crt") in message
    assert "public keys differ" in message


@pytest.mark.parametrize("kid_format", ["libtrust", "thumbprint"])
def test_from_files(tmp_path, p256_key, kid_format):
    cert = self_signed(p256_key)
    (tmp_path / "token.key").write_bytes(key_pem(p256_key))
    (tmp_path / "token.crt").write_bytes(cert_pem(cert))
    signer = Signer.from_files(str(tmp_path / "token.key"), str(tmp_path / "token.crt"), kid_format=kid_format)
    assert signer.alg == "ES256"
    assert signer.certificate == cert
    assert signer.kid == (libtrust_kid if kid_format == "libtrust" else jwk_thumbprint)(p256_key.public_key())
    assert decode(signer.sign(claims()), p256_key.public_key())["sub"] == "bob"


def test_from_files_missing_file(tmp_path):
    with pytest.raises(SignerError, match="cannot read the token signing private key .*missing.key"):
        Signer.from_files(tmp_path / "missing.key", tmp_path / "missing.crt")


def test_from_pem_traditional_key_format(rsa_key):
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert Signer.from_pem(pem, cert_pem(self_signed(rsa_key))).alg == "RS256"


def test_from_pem_refuses_an_encrypted_key(p256_key):
    pem = p256_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(SignerError, match="encrypted"):
        Signer.from_pem(pem, cert_pem(self_signed(p256_key)))


def test_from_pem_refuses_garbage(p256_key):
    good_key, good_cert = key_pem(p256_key), cert_pem(self_signed(p256_key))
    with pytest.raises(SignerError, match="^the private key is not a PEM private key"):
        Signer.from_pem(b"not a key", good_cert)
    with pytest.raises(SignerError, match="^the private key is not a PEM private key"):
        Signer.from_pem(good_cert, good_cert)
    with pytest.raises(SignerError, match="^the certificate is not a PEM certificate"):
        Signer.from_pem(good_key, b"not a certificate")
    with pytest.raises(SignerError, match="^the certificate is not a PEM certificate"):
        Signer.from_pem(good_key, good_key)


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(ed25519.Ed25519PrivateKey.generate, id="ed25519"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256K1()), id="secp256k1"),
        pytest.param(lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), id="rsa1024"),  # noqa: S505 - refused on purpose
    ],
)
def test_unsupported_keys(make_key):
    key = make_key()
    cert = self_signed(key)
    with pytest.raises(SignerError, match="cannot sign tokens with"):
        Signer(key, cert)
    with pytest.raises(SignerError, match="^the private key: cannot sign tokens with"):
        Signer.from_pem(key_pem(key), cert_pem(cert))


def test_not_after(rsa_key):
    signer = Signer(rsa_key, self_signed(rsa_key, days=10))
    assert signer.not_after == datetime.datetime(2026, 1, 11, tzinfo=UTC)
    assert signer.not_after.utcoffset() == datetime.timedelta(0)


def test_x5c_is_a_copy(rsa_key):
    signer = Signer(rsa_key, self_signed(rsa_key))
    signer.x5c.append("junk")
    assert len(signer.x5c) == 1


# ---------------------------------------------------------------- claims


def test_build_claims():
    access = [
        access_entry("repository", "bob/app", ["pull", "push"]),
        access_entry("registry", "catalog", ["*"]),
        access_entry("repository", "alice/app", []),
    ]
    assert claims(access=access) == {
        "iss": ISSUER,
        "sub": "bob",
        "aud": SERVICE,
        "exp": NOW + 300,
        "nbf": NOW - 5,
        "iat": NOW,
        "jti": "jti-1",
        "access": [
            {"type": "repository", "name": "bob/app", "actions": ["pull", "push"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
            {"type": "repository", "name": "alice/app", "actions": []},
        ],
    }


def test_claims_for_an_anonymous_login_check():
    built = claims(subject="", access=[])
    assert built["sub"] == ""
    assert built["access"] == []
    assert isinstance(built["aud"], str)


def test_null_actions_become_an_empty_list():
    built = claims(access=[{"type": "repository", "name": "foo", "actions": None}, {"type": "repository", "name": "b"}])
    assert [item["actions"] for item in built["access"]] == [[], []]
    assert '"actions":null' not in json.dumps(built, separators=(",", ":"))


def test_claims_do_not_share_the_callers_lists():
    actions = ["pull"]
    built = claims(access=[access_entry("repository", "foo", actions)])
    actions.append("push")
    assert built["access"][0]["actions"] == ["pull"]


@pytest.mark.parametrize("ttl", [59, 0, -300, 60.5, "300", True])
def test_claims_refuse_short_or_odd_lifetimes(ttl):
    with pytest.raises(ValueError, match="at least 60 seconds"):
        claims(ttl=ttl)


def test_pyjwt_checks_the_lifetime(rsa_key):
    signer = Signer(rsa_key, self_signed(rsa_key))
    now = int(time.time())
    verify = {"verify_exp": True, "verify_nbf": True, "verify_iat": True}
    assert decode(signer.sign(claims(now=now, ttl=60)), rsa_key.public_key(), **verify)["exp"] == now + 60
    with pytest.raises(jwt.ExpiredSignatureError):
        decode(signer.sign(claims(now=now - 120, ttl=60)), rsa_key.public_key(), **verify)
    with pytest.raises(jwt.ImmatureSignatureError):
        decode(signer.sign(claims(now=now + 120, ttl=60)), rsa_key.public_key(), **verify)


def test_new_jti_is_random_and_url_safe():
    values = {new_jti() for _ in range(100)}
    assert len(values) == 100
    for value in values:
        assert len(value) >= 22
        assert base64.urlsafe_b64decode(value + "==")


# ---------------------------------------------------------------- the token answer


def test_token_response():
    issued = datetime.datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
    assert token_response("abc.def.ghi", ttl=300, issued_at=issued) == {
        "token": "abc.def.ghi",
        "access_token": "abc.def.ghi",
        "expires_in": 300,
        "issued_at": "2026-11-23T09:00:00Z",
    }


def test_token_response_has_no_refresh_token():
    answer = token_response("t", ttl=60, issued_at=datetime.datetime.now(UTC))
    assert "refresh_token" not in answer
    assert answer["issued_at"].endswith("Z")


def test_token_response_converts_to_utc():
    issued = datetime.datetime(
        2026, 11, 23, 10, 30, 15, tzinfo=datetime.timezone(datetime.timedelta(hours=1, minutes=30))
    )
    assert token_response("t", ttl=60, issued_at=issued)["issued_at"] == "2026-11-23T09:00:15Z"


def test_token_response_issued_at_parses_as_rfc3339():
    stamp = token_response("t", ttl=60, issued_at=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))["issued_at"]
    assert datetime.datetime.fromisoformat(stamp) == datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_token_response_refuses_a_naive_time():
    with pytest.raises(ValueError, match="no time zone"):
        token_response("t", ttl=60, issued_at=datetime.datetime(2026, 11, 23, 9, 0, 0))


@pytest.mark.parametrize("ttl", [59, 0, -1])
def test_token_response_refuses_short_lifetimes(ttl):
    with pytest.raises(ValueError, match="at least 60 seconds"):
        token_response("t", ttl=ttl, issued_at=datetime.datetime.now(UTC))


def test_token_response_refuses_an_empty_token():
    with pytest.raises(ValueError, match="empty token"):
        token_response("", ttl=60, issued_at=datetime.datetime.now(UTC))


def test_full_round_trip(p256_key):
    signer = Signer(p256_key, self_signed(p256_key), kid_format="thumbprint")
    issued = datetime.datetime.fromtimestamp(NOW, UTC)
    built = build_claims(
        issuer=ISSUER,
        service=SERVICE,
        subject="robot-ci",
        access=[access_entry("repository", "team/app", ["pull"])],
        now=NOW,
        ttl=tokens.MIN_TTL * 5,
        jti=new_jti(),
    )
    answer = token_response(signer.sign(built), ttl=tokens.MIN_TTL * 5, issued_at=issued)
    assert answer["token"] == answer["access_token"]
    body = json.loads(json.dumps(answer))
    decoded = decode(body["token"], p256_key.public_key())
    assert decoded["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    assert decoded["exp"] - decoded["iat"] == body["expires_in"]

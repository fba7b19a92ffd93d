# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry tokens: the signing key, the JWT claims and the token endpoint's answer.

The registry checks a token on its own, against the certificates of its
``auth.token.rootcertbundle``, so the header carries every way it may look for
the key: ``x5c`` (the signing certificate, which both 2.8 and 3.x try first) and
a ``kid``, either the libtrust key id (registry 2.8) or the RFC 7638 thumbprint
(registry 3.x). RSA keys sign RS256; EC keys on P-256, P-384 and P-521 sign
ES256, ES384 and ES512 (the JOSE ``r||s`` form, which PyJWT produces).

``aud`` is a single string, as registry 2.8 cannot decode a list. No refresh
tokens are issued. Nothing here does I/O but :meth:`Signer.from_files`.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

UTC = datetime.UTC
MIN_TTL = 60  # Docker clients raise a lower expires_in to 60 seconds, so a shorter token would expire in use.
NOT_BEFORE_SKEW = 5  # nbf lies this many seconds in the past, for verifiers whose clock runs a little behind.
MIN_RSA_BITS = 2048
KID_FORMATS = ("libtrust", "thumbprint")

# curve name -> (JWK "crv", JWS "alg")
_EC_CURVES = {
    "secp256r1": ("P-256", "ES256"),
    "secp384r1": ("P-384", "ES384"),
    "secp521r1": ("P-521", "ES512"),
}
_SUPPORTED = "an RSA key of 2048 bits or more, or an EC key on P-256, P-384 or P-521"


class SignerError(Exception):
    """The signing key or certificate cannot be used; the message says which and why."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint_bytes(value: int, width: int | None = None) -> bytes:
    return value.to_bytes(width or max(1, (value.bit_length() + 7) // 8), "big")


def _describe(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"an RSA {key.key_size}-bit key"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return f"an EC key on {key.curve.name}"
    return f"a key of type {type(key).__name__}"


def _algorithm(key: Any) -> str:
    """The JWS algorithm for a public or private key; SignerError for anything unsupported."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and key.curve.name in _EC_CURVES:
        return _EC_CURVES[key.curve.name][1]
    raise SignerError(f"cannot sign tokens with {_describe(key)}: use {_SUPPORTED}")


def _spki_der(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def libtrust_kid(public_key: Any) -> str:
    """The key id registry 2.8 matches a ``kid`` against (docker/libtrust).

    SHA-256 of the DER SubjectPublicKeyInfo, its first 30 bytes in base32
    (48 characters, no padding), as 12 groups of 4 joined by ``:``.
    """
    text = base64.b32encode(hashlib.sha256(_spki_der(public_key)).digest()[:30]).decode("ascii")
    return ":".join(text[i : i + 4] for i in range(0, len(text), 4))


def jwk_thumbprint(public_key: Any) -> str:
    """The RFC 7638 thumbprint of an RSA or EC (P-256/384/521) public key, base64url without padding.

    EC coordinates are encoded at the curve's full width, as RFC 7518 asks.
    """
    _algorithm(public_key)
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        members = {"e": _b64url(_uint_bytes(numbers.e)), "kty": "RSA", "n": _b64url(_uint_bytes(numbers.n))}
    else:
        numbers = public_key.public_numbers()
        width = (public_key.curve.key_size + 7) // 8
        members = {
            "crv": _EC_CURVES[public_key.curve.name][0],
            "kty": "EC",
            "x": _b64url(_uint_bytes(numbers.x, width)),
            "y": _b64url(_uint_bytes(numbers.y, width)),
        }
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


class Signer:
    """A private key and its certificate, ready to sign registry tokens.

    ``alg`` follows the key (RS256, or ES256/384/512 by curve); ``kid`` is the
    libtrust id or the RFC 7638 thumbprint of the key, as ``kid_format`` says;
    ``x5c`` holds the certificate as standard base64 DER.
    """

    def __init__(self, private_key: Any, certificate: x509.Certificate, kid_format: str = "libtrust") -> None:
        if kid_format not in KID_FORMATS:
            raise SignerError(f"kid format {kid_format!r}: use one of {', '.join(KID_FORMATS)}")
        self.alg = _algorithm(private_key)
        public_key = private_key.public_key()
        if _spki_der(certificate.public_key()) != _spki_der(public_key):
            raise SignerError("the certificate is not for the private key: their public keys differ")
        self.private_key = private_key
        self.certificate = certificate
        self.kid_format = kid_format
        self.kid = libtrust_kid(public_key) if kid_format == "libtrust" else jwk_thumbprint(public_key)
        self._x5c = (base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii"),)
        # The header is the same for every token: encoded once (PyJWT's form: compact, keys sorted).
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT", "x5c": self.x5c}
        self._header = _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        self._sign = jwt.get_algorithm_by_name(self.alg).sign  # ES*: the JOSE r||s form, not DER

    @property
    def x5c(self) -> list[str]:
        """The ``x5c`` header value: the certificate alone, standard base64 of its DER."""
        return list(self._x5c)

    @property
    def not_after(self) -> datetime.datetime:
        """When the certificate expires (aware, UTC); the registry refuses tokens signed under an expired one."""
        moment = getattr(self.certificate, "not_valid_after_utc", None)  # cryptography >= 42
        if moment is None:
            moment = self.certificate.not_valid_after.replace(tzinfo=UTC)
        return moment

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes, kid_format: str = "libtrust") -> Signer:
        """A signer from an unencrypted PEM private key and a PEM certificate."""
        return cls._load(key_pem, cert_pem, kid_format, "the private key", "the certificate")

    @classmethod
    def from_files(cls, key_path: str | Path, cert_path: str | Path, kid_format: str = "libtrust") -> Signer:
        """A signer from an unencrypted PEM private key file and a PEM certificate file."""
        data = []
        for what, path in (("private key", key_path), ("certificate", cert_path)):
            try:
                data.append(Path(path).read_bytes())
            except OSError as exc:
                raise SignerError(f"cannot read the token signing {what} {str(path)!r}: {exc.strerror or exc}") from exc
        key_name, cert_name = f"private key {str(key_path)!r}", f"certificate {str(cert_path)!r}"
        return cls._load(data[0], data[1], kid_format, key_name, cert_name)

    @classmethod
    def _load(cls, key_pem: bytes, cert_pem: bytes, kid_format: str, key_name: str, cert_name: str) -> Signer:
        try:
            private_key = serialization.load_pem_private_key(key_pem, password=None)
        except TypeError as exc:  # encrypted
            raise SignerError(f"{key_name} is encrypted: the token server needs it unencrypted") from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise SignerError(f"{key_name} is not a PEM private key the server can read: {exc}") from exc
        try:
            certificate = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            raise SignerError(f"{cert_name} is not a PEM certificate: {exc}") from exc
        try:
            _algorithm(private_key)
        except SignerError as exc:
            raise SignerError(f"{key_name}: {exc}") from exc
        if _spki_der(certificate.public_key()) != _spki_der(private_key.public_key()):
            raise SignerError(
                f"{cert_name} does not belong to {key_name}: their public keys differ; "
                "reissue the certificate for this key or use the matching pair"
            )
        return cls(private_key, certificate, kid_format)

    def sign(self, claims: dict[str, Any]) -> str:
        """The claims as a compact JWS, with ``kid``, ``x5c`` and ``typ`` in the header.

        What ``jwt.encode`` makes of them, without encoding the same header
        (the certificate is most of it) for every token. The claims are plain
        JSON values (build_claims makes them so).
        """
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
        signing_input = f"{self._header}.{payload}"
        signature = self._sign(signing_input.encode("ascii"), self.private_key)
        return f"{signing_input}.{_b64url(signature)}"


def access_entry(type_: str, name: str, actions: list[str]) -> dict[str, Any]:
    """One item of a token's ``access`` claim."""
    return {"type": type_, "name": name, "actions": list(actions)}


def build_claims(  # noqa: PLR0913 - keyword-only, one per claim
    *, issuer: str, service: str, subject: str, access: list[dict], now: int, ttl: int, jti: str
) -> dict[str, Any]:
    """The claims of a registry token.

    ``aud`` is ``service`` as a string (registry 2.8 rejects a list). ``nbf`` lies
    5 seconds before ``now`` for verifiers whose clock is slightly behind (the
    registry itself allows 60 seconds either way). ``access`` is copied in the
    order given, each ``actions`` as a list (``[]`` rather than null). ``subject``
    is ``""`` for anonymous callers. ``ttl`` must be at least 60 seconds.
    """
    _check_ttl(ttl)
    return {
        "iss": issuer,
        "sub": subject,
        "aud": service,
        "exp": now + ttl,
        "nbf": now - NOT_BEFORE_SKEW,
        "iat": now,
        "jti": jti,
        "access": [access_entry(item["type"], item["name"], item.get("actions") or []) for item in access],
    }


def token_response(token: str, *, ttl: int, issued_at: datetime.datetime) -> dict[str, Any]:
    """The JSON body of a token answer: the token twice, its lifetime and when it was issued.

    ``issued_at`` must be timezone-aware; it is given in UTC to the second with a
    ``Z`` (Go clients cannot decode a time without a zone). ``ttl`` must be at
    least 60 seconds: clients raise lower values to 60 and would then use an
    expired token. There is never a ``refresh_token``.
    """
    if not token:
        raise ValueError("empty token: clients fail with 'authorization server did not include a token'")
    _check_ttl(ttl)
    if issued_at.tzinfo is None or issued_at.utcoffset() is None:
        raise ValueError(f"issued_at {issued_at.isoformat()} has no time zone: pass an aware datetime")
    stamp = issued_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"token": token, "access_token": token, "expires_in": ttl, "issued_at": stamp}


def _check_ttl(ttl: int) -> None:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < MIN_TTL:
        raise ValueError(f"token lifetime {ttl!r}: at least {MIN_TTL} seconds (clients raise shorter ones to 60)")


def new_jti() -> str:
    """A random token id (22 URL-safe characters, 128 bits)."""
    return secrets.token_urlsafe(16)

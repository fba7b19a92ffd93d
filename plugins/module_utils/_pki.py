# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PKI of a registry deployment: keys, certificates, why one must be reissued, token key ids.

Pure logic for the registry_pki module: option checks, key and certificate
building, inspection, the reissue decision, the libtrust key id, the RFC 7638
thumbprint and the public JWK. No AnsibleModule and no file access here.

Private to the collection: the interface may change without notice.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import re
import traceback
from dataclasses import dataclass, field

UTC = datetime.timezone.utc  # noqa: UP017 - the module may run on a Python older than 3.11

MIN_CRYPTOGRAPHY_VERSION = "3.3"

try:
    import cryptography
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
    CRYPTOGRAPHY_VERSION = None
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
    CRYPTOGRAPHY_VERSION = cryptography.__version__

REGENERATE = ("never", "changed", "always")
USAGES = ("server", "client", "both")
CURVES = ("secp256r1", "secp384r1")
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384
MAX_VALIDITY_DAYS = 36500
# Certificates start a little in the past so that a peer whose clock is slightly behind accepts them.
BACKDATE = datetime.timedelta(minutes=5)
CA_FILE_STEM = "ca"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_JWK_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


class PkiError(Exception):
    """Bad input or an unusable file; the message names the option or the file and says how to get out."""


# ---------------------------------------------------------------- option checks


@dataclass(frozen=True)
class KeySpec:
    key_type: str
    key_size: int | None = None
    curve: str | None = None

    def describe(self) -> str:
        return f"rsa {self.key_size}" if self.key_type == "rsa" else f"ecdsa {self.curve}"


@dataclass
class Wanted:
    """What one certificate should say; usage is server, client, both or token (self-signed signer)."""

    common_name: str
    usage: str
    key: KeySpec
    validity_days: int
    dns_names: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)


@dataclass
class CaOptions:
    common_name: str
    key: KeySpec
    validity_days: int
    provided_cert_path: str | None = None
    provided_key_path: str | None = None
    provided_key_passphrase: str | None = None


@dataclass
class Options:
    path: str
    renew_before_days: int
    regenerate: str
    rotate_keys: bool
    ca_rollover: bool
    ca: CaOptions
    leaves: dict[str, Wanted]
    token_name: str | None = None
    token: Wanted | None = None


def check_dns_name(value: str) -> str:
    """`value` as it goes into a certificate (lower case); ValueError saying what is wrong with it."""
    name = value.lower()
    if not name:
        raise ValueError("is empty")
    if len(name) > 253:
        raise ValueError("is longer than 253 characters")
    if is_ip(name):
        raise ValueError("is an IP address: list it in ip_addresses instead")
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if len(labels) < 2:
            raise ValueError(
                "is a wildcard over a single label: a wildcard needs a domain below it, like *.example.com"
            )
    for label in labels:
        if not _LABEL_RE.match(label):
            raise ValueError(
                f"has the invalid label {label!r}: a label is 1 to 63 ASCII letters, digits or hyphens, neither "
                "starting nor ending with a hyphen; a wildcard is allowed only as the whole first label ('*.'), "
                "an internationalised name only in its xn-- form, and the name has no trailing dot"
            )
    return name


def check_ip_address(value: str) -> str:
    """`value` in its canonical text form; ValueError when it is not a single IPv4 or IPv6 address."""
    if "%" in value or "/" in value:
        raise ValueError("is not a single IP address (no zone index, no prefix length)")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("is not an IPv4 or IPv6 address") from None


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def check_key_spec(option: str, params: dict, default_rsa_bits: int) -> KeySpec:
    key_type = params.get("key_type") or "rsa"
    size = params.get("key_size")
    curve = params.get("curve")
    if key_type == "rsa":
        if curve is not None:
            raise PkiError(f"{option}.curve applies to key_type ecdsa only: remove it, or set {option}.key_type: ecdsa")
        size = default_rsa_bits if size is None else size
        if size < MIN_RSA_BITS:
            raise PkiError(
                f"{option}.key_size {size} is too small: RSA keys need at least {MIN_RSA_BITS} bits (3072 or 4096 are "
                f"usual), or use {option}.key_type: ecdsa"
            )
        if size > MAX_RSA_BITS:
            raise PkiError(f"{option}.key_size {size} is larger than {MAX_RSA_BITS} bits: use 2048, 3072 or 4096")
        return KeySpec("rsa", key_size=size)
    if key_type != "ecdsa":
        raise PkiError(f"{option}.key_type {key_type!r} is not supported: use rsa or ecdsa")
    if size is not None:
        raise PkiError(
            f"{option}.key_size applies to key_type rsa only: remove it and choose {option}.curve "
            f"({' or '.join(CURVES)}) for ecdsa"
        )
    curve = curve or CURVES[0]
    if curve not in CURVES:
        raise PkiError(f"{option}.curve {curve!r} is not supported: use {' or '.join(CURVES)}")
    return KeySpec("ecdsa", curve=curve)


def check_validity(option: str, days: int, renew_before_days: int) -> int:
    if days <= 0:
        raise PkiError(f"{option}.validity_days must be a positive number of days, not {days}")
    if days > MAX_VALIDITY_DAYS:
        raise PkiError(f"{option}.validity_days {days} is more than {MAX_VALIDITY_DAYS} days (100 years): choose less")
    if days <= renew_before_days:
        raise PkiError(
            f"{option}.validity_days ({days}) must be longer than renew_before_days ({renew_before_days}): "
            "otherwise every run would find the certificate within the renewal window"
        )
    return days


def check_name(option: str, name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise PkiError(
            f"{option} {name!r} is not a usable file stem: use lower-case letters, digits, '_' and '-', "
            "starting with a letter or digit"
        )
    if name == CA_FILE_STEM:
        raise PkiError(f"{option} {name!r} is reserved for the CA's own files (ca.crt, ca.key): choose another name")
    return name


def check_leaf(index: int, params: dict, renew_before_days: int) -> tuple[str, Wanted]:
    option = f"certificates[{index}]"
    name = check_name(f"{option}.name", params.get("name"))
    usage = params.get("usage") or "server"
    if usage not in USAGES:
        raise PkiError(f"{option}.usage {usage!r} is not one of {', '.join(USAGES)}")
    dns_names: list[str] = []
    for value in params.get("dns_names") or []:
        try:
            normal = check_dns_name(value)
        except ValueError as exc:
            raise PkiError(f"{option}.dns_names ({name}): {value!r} {exc}") from None
        if normal not in dns_names:
            dns_names.append(normal)
    ip_addresses: list[str] = []
    for value in params.get("ip_addresses") or []:
        try:
            normal = check_ip_address(str(value))
        except ValueError as exc:
            raise PkiError(f"{option}.ip_addresses ({name}): {value!r} {exc}") from None
        if normal not in ip_addresses:
            ip_addresses.append(normal)
    if usage in ("server", "both") and not dns_names and not ip_addresses:
        raise PkiError(
            f"{option} ({name}) is a server certificate without dns_names or ip_addresses: TLS clients check the "
            "subjectAltNames only, so list the names and addresses clients connect to"
        )
    key = check_key_spec(option, params, default_rsa_bits=2048)
    validity = check_validity(option, params.get("validity_days", 397), renew_before_days)
    common_name = params.get("common_name") or name
    return name, Wanted(common_name, usage, key, validity, dns_names, ip_addresses)


def check_options(params: dict) -> Options:
    """Every input check that needs no file; PkiError naming the first bad option."""
    renew = params.get("renew_before_days", 30)
    if renew < 0:
        raise PkiError(f"renew_before_days must be 0 or more, not {renew}")
    regenerate = params.get("regenerate") or "changed"
    if regenerate not in REGENERATE:
        raise PkiError(f"regenerate {regenerate!r} is not one of {', '.join(REGENERATE)}")

    ca_params = params.get("ca") or {}
    provided = ca_params.get("provided")
    ca = CaOptions(
        common_name=ca_params.get("common_name") or "Dockyard Registry CA",
        key=check_key_spec("ca", ca_params, default_rsa_bits=4096),
        validity_days=check_validity("ca", ca_params.get("validity_days", 3650), renew),
    )
    if provided:
        ca.provided_cert_path = provided.get("cert_path")
        ca.provided_key_path = provided.get("key_path")
        ca.provided_key_passphrase = provided.get("key_passphrase")
        if not ca.provided_cert_path or not ca.provided_key_path:
            raise PkiError("ca.provided needs both cert_path and key_path (the company CA's certificate and its key)")
        if params.get("ca_rollover"):
            raise PkiError(
                "ca_rollover applies to the CA this module generates; a provided CA is rolled over by giving the "
                "new one in ca.provided (every leaf is then reissued under it)"
            )

    leaves: dict[str, Wanted] = {}
    for index, leaf_params in enumerate(params.get("certificates") or []):
        name, wanted = check_leaf(index, leaf_params, renew)
        if name in leaves:
            raise PkiError(
                f"certificates[{index}].name {name!r} is used twice: names are file stems and must be unique"
            )
        leaves[name] = wanted

    options = Options(
        path=params["path"],
        renew_before_days=renew,
        regenerate=regenerate,
        rotate_keys=bool(params.get("rotate_keys")),
        ca_rollover=bool(params.get("ca_rollover")),
        ca=ca,
        leaves=leaves,
    )
    token = params.get("token_signing")
    if token is not None:
        name = check_name("token_signing.name", token.get("name") or "token")
        if name in leaves:
            raise PkiError(
                f"token_signing.name {name!r} is also a certificate's name: the token signer needs files of its own"
            )
        options.token_name = name
        options.token = Wanted(
            common_name=token.get("common_name") or "Dockyard token signer",
            usage="token",
            key=check_key_spec("token_signing", token, default_rsa_bits=2048),
            validity_days=check_validity("token_signing", token.get("validity_days", 397), renew),
        )
    return options


# ---------------------------------------------------------------- keys


def key_spec_of(key) -> KeySpec | None:
    """The KeySpec of a private or public key; None for a key type this module does not make (Ed25519, DSA)."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return KeySpec("rsa", key_size=key.key_size)
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return KeySpec("ecdsa", curve=key.curve.name)
    return None


def describe_key(key) -> str:
    spec = key_spec_of(key)
    return spec.describe() if spec else type(key).__name__


def _curve(name: str):
    return {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1}[name]()


def generate_key(spec: KeySpec, full_width_coordinates: bool = False):
    """A new private key; `full_width_coordinates` draws EC keys again until x and y have no leading zero byte.

    Registry 3.x computes the RFC 7638 thumbprint of an EC root from Go's big.Int.Bytes(), which drops leading
    zeros, so for about 1 key in 128 it would differ from the standard thumbprint (REGISTRY-PROTOCOL.md section 3).
    """
    if spec.key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.key_size)
    while True:
        key = ec.generate_private_key(_curve(spec.curve))
        if not full_width_coordinates:
            return key
        numbers = key.public_key().public_numbers()
        width = (key.curve.key_size + 7) // 8
        if numbers.x.bit_length() > (width - 1) * 8 and numbers.y.bit_length() > (width - 1) * 8:
            return key


def private_key_pem(key) -> bytes:
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def load_private_key(data: bytes, passphrase: str | None = None):
    """The private key in PEM `data`; ValueError saying why it cannot be used."""
    password = passphrase.encode("utf-8") if passphrase is not None else None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        if password is None:
            raise ValueError("is encrypted and no passphrase was given") from None
        raise ValueError(f"cannot be read: {exc}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"is not a usable PEM private key (or the passphrase is wrong): {exc}") from None
    if key_spec_of(key) is None:
        raise ValueError(f"is a {type(key).__name__}: only RSA and ECDSA keys are supported")
    return key


def public_key_der(public_key) -> bytes:
    return public_key.public_bytes(
        encoding=serialization.Encoding.DER, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )


def same_public_key(a, b) -> bool:
    return public_key_der(a) == public_key_der(b)


# ---------------------------------------------------------------- certificates


def load_certificate(data: bytes):
    """The first certificate in PEM `data`; ValueError when there is none."""
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ValueError(f"is not a PEM certificate: {exc}") from None


def certificate_pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def not_after(cert) -> datetime.datetime:
    value = getattr(cert, "not_valid_after_utc", None)  # cryptography >= 42
    return value if value is not None else cert.not_valid_after.replace(tzinfo=UTC)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def serial_text(cert) -> str:
    """The serial number as `openssl x509 -serial` prints it: upper-case hex, an even number of digits."""
    text = format(cert.serial_number, "X")
    return text if len(text) % 2 == 0 else "0" + text


def fingerprint_sha256(cert) -> str:
    """As `openssl x509 -fingerprint -sha256` prints it: upper-case hex pairs joined by ':'."""
    return ":".join(f"{byte:02X}" for byte in cert.fingerprint(hashes.SHA256()))


def _extension(cert, kind):
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def common_name_of(name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else None


def sans_of(cert) -> tuple[list[str], list[str]]:
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is None:
        return [], []
    dns = [value.lower() for value in san.get_values_for_type(x509.DNSName)]
    ips = [str(value) for value in san.get_values_for_type(x509.IPAddress)]
    return dns, ips


def usage_of(cert) -> str:
    """server, client, both or none, from the extendedKeyUsage."""
    eku = _extension(cert, x509.ExtendedKeyUsage)
    oids = set(eku) if eku is not None else set()
    server = ExtendedKeyUsageOID.SERVER_AUTH in oids
    client = ExtendedKeyUsageOID.CLIENT_AUTH in oids
    return "both" if server and client else "server" if server else "client" if client else "none"


def ca_problem(cert) -> str | None:
    """Why `cert` cannot sign certificates, or None.

    A CA needs basicConstraints CA:TRUE; when it has a keyUsage, that must include keyCertSign (a CA without any
    keyUsage is accepted, as OpenSSL and Go accept it).
    """
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        return "it has no basicConstraints CA:TRUE (it is a leaf certificate, not a CA)"
    usage = _extension(cert, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        return "its keyUsage lacks keyCertSign, so it may not sign certificates"
    return None


def signature_valid(cert, public_key) -> bool:
    """Whether `public_key` made the signature on `cert` (PKCS#1 v1.5 or ECDSA)."""
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(
                cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm
            )
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class Issuer:
    """Who signs (or signed) a certificate: the subject name and public key of the CA, or of the cert itself."""

    name: object
    public_key: object

    @classmethod
    def of(cls, cert):
        return cls(cert.subject, cert.public_key())


def issued_by(cert, issuer: Issuer) -> bool:
    return cert.issuer == issuer.name and signature_valid(cert, issuer.public_key)


def _signature_hash(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        bits = key.curve.key_size
        return hashes.SHA512() if bits > 384 else hashes.SHA384() if bits > 256 else hashes.SHA256()
    return hashes.SHA256()


def subject(common_name: str):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(digital_signature=False, key_encipherment=False, key_cert_sign=False, crl_sign=False):
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(subject_name, issuer_name, public_key, validity_days: int, now: datetime.datetime):
    return (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def build_ca(key, common_name: str, validity_days: int, now: datetime.datetime):
    """A self-signed CA that signs leaf certificates only (pathlen 0)."""
    name = subject(common_name)
    builder = (
        _builder(name, name, key.public_key(), validity_days, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
    )
    return builder.sign(key, _signature_hash(key))


def build_leaf(public_key, wanted: Wanted, ca_cert, ca_key, now: datetime.datetime):
    """A server and/or client certificate for `public_key`, signed by the CA."""
    purposes = {
        "server": [ExtendedKeyUsageOID.SERVER_AUTH],
        "client": [ExtendedKeyUsageOID.CLIENT_AUTH],
        "both": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    }[wanted.usage]
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    builder = (
        _builder(subject(wanted.common_name), ca_cert.subject, public_key, wanted.validity_days, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=is_rsa), critical=True)
        .add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    )
    ca_ski = _extension(ca_cert, x509.SubjectKeyIdentifier)
    if ca_ski is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    else:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())
    builder = builder.add_extension(aki, critical=False)
    names = [x509.DNSName(value) for value in wanted.dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(value)) for value in wanted.ip_addresses]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, _signature_hash(ca_key))


def build_token_cert(key, wanted: Wanted, now: datetime.datetime):
    """The token signer's self-signed certificate: not a CA, so it vouches for its own key and nothing else."""
    name = subject(wanted.common_name)
    builder = (
        _builder(name, name, key.public_key(), wanted.validity_days, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
    )
    return builder.sign(key, _signature_hash(key))


# ---------------------------------------------------------------- token key identifiers


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(public_key) -> dict:
    """The public JWK (RFC 7517/7518) of an RSA or EC key; EC coordinates at the curve's full width."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {
            "kty": "RSA",
            "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name in _JWK_CURVES:
        numbers = public_key.public_numbers()
        width = (public_key.curve.key_size + 7) // 8
        return {
            "kty": "EC",
            "crv": _JWK_CURVES[public_key.curve.name],
            "x": _b64url(numbers.x.to_bytes(width, "big")),
            "y": _b64url(numbers.y.to_bytes(width, "big")),
        }
    raise PkiError(f"no JWK for a {type(public_key).__name__}: use an RSA or P-256/P-384 key")


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, no white space; base64url, no padding."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({member: jwk[member] for member in required}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def libtrust_kid(public_key) -> str:
    """The key id registry 2.x matches a token's `kid` against (docker/libtrust keyIDFromCryptoKey).

    SHA-256 of the DER SubjectPublicKeyInfo, first 30 bytes, base32 (48 characters, no padding), in 12 groups of
    4 joined by ':'.
    """
    text = base64.b32encode(hashlib.sha256(public_key_der(public_key)).digest()[:30]).decode("ascii")
    return ":".join(text[start : start + 4] for start in range(0, len(text), 4))


def jwks_document(public_key) -> bytes:
    """A JWKS for registry 3.x `auth.token.jwks`: the public key with its libtrust id as `kid`.

    With this kid a token that carries the libtrust id verifies on registry 2.x (through the rootcertbundle) and on
    3.x (through the jwks) alike.
    """
    jwk = dict(public_jwk(public_key), kid=libtrust_kid(public_key))
    return (json.dumps({"keys": [jwk]}, indent=2, sort_keys=True) + "\n").encode("utf-8")


# ---------------------------------------------------------------- decisions


@dataclass
class OnDisk:
    """A certificate and its key as found: the parsed object, or why there is none."""

    cert: object = None
    cert_problem: str | None = "missing"
    key: object = None
    key_problem: str | None = "missing"


@dataclass
class Decision:
    reissue: bool
    new_key: bool
    reasons: list[str]


@dataclass(frozen=True)
class Policy:
    """The run's reissue policy: the module's regenerate, renew_before_days and rotate_keys, and its clock."""

    regenerate: str
    renew_before_days: int
    rotate_keys: bool
    now: datetime.datetime


def expiry_reason(cert, renew_before_days: int, now: datetime.datetime) -> str | None:
    end = not_after(cert)
    if end <= now:
        return f"expired {iso(end)}"
    if end - now < datetime.timedelta(days=renew_before_days):
        return f"expires {iso(end)}, within renew_before_days ({renew_before_days})"
    return None


def _san_reasons(kind: str, have: list[str], want: list[str]) -> list[str]:
    reasons = [f"SAN {kind}:{value} added" for value in want if value not in have]
    return reasons + [f"SAN {kind}:{value} removed" for value in have if value not in want]


def _content_drift(cert, wanted: Wanted, policy: Policy) -> list[str]:
    """How an existing certificate differs from the wanted one: expiry window, common name, SANs, usage."""
    drift = []
    expiry = expiry_reason(cert, policy.renew_before_days, policy.now)
    if expiry:
        drift.append(expiry)
    have_cn = common_name_of(cert.subject)
    if have_cn != wanted.common_name:
        drift.append(f"common name {have_cn!r} changed to {wanted.common_name!r}")
    have_dns, have_ips = sans_of(cert)
    drift += _san_reasons("DNS", have_dns, wanted.dns_names)
    drift += _san_reasons("IP", have_ips, wanted.ip_addresses)
    if wanted.usage != "token":
        have_usage = usage_of(cert)
        if have_usage != wanted.usage:
            drift.append(f"usage {have_usage} changed to {wanted.usage}")
    return drift


def decide(disk: OnDisk, wanted: Wanted, issuer: Issuer | None, policy: Policy, forced: str | None = None) -> Decision:
    """Whether to reissue a certificate, whether with a new key, and why.

    `issuer` is the CA; the token signer's certificate (usage token) signs itself and `issuer` is not used.
    `forced` is a reason that applies whatever the policy (the CA is new or rolled over; `issuer` is then unused).

    Three kinds of reasons: unusable (a file missing or unreadable, a certificate that does not belong to its key
    or is not self-signed where it must be) acts under every policy; drift (expiry window, subject, SANs, usage,
    key type, another CA) acts under `changed` and `always`; `always` adds itself. A reissued certificate keeps
    its key unless the key is unusable, its type or size is not the wanted one, or `rotate_keys` is set.
    """
    unusable: list[str] = []
    drift: list[str] = []
    if disk.key is None:
        unusable.append(f"key {disk.key_problem}")
    key_spec_changed = disk.key is not None and key_spec_of(disk.key) != wanted.key
    if key_spec_changed:
        drift.append(f"key is {describe_key(disk.key)}, wanted {wanted.key.describe()}")
    cert = disk.cert
    if cert is None:
        unusable.append(f"certificate {disk.cert_problem}")
    else:
        if disk.key is not None and not same_public_key(cert.public_key(), disk.key.public_key()):
            unusable.append("certificate does not match the key")
        if wanted.usage == "token":
            if not issued_by(cert, Issuer.of(cert)):
                unusable.append("certificate is not self-signed by its key")
        elif forced is None and not issued_by(cert, issuer):
            drift.append("issued by another CA")
        drift += _content_drift(cert, wanted, policy)
    reasons = list(unusable)
    if policy.regenerate != "never":
        reasons += drift
    if forced and cert is not None:
        reasons.append(forced)
    if policy.regenerate == "always":
        reasons.append("regenerate=always")
    reissue = bool(reasons)
    new_key = disk.key is None or (reissue and (policy.rotate_keys or key_spec_changed))
    return Decision(reissue=reissue, new_key=new_key, reasons=reasons)


def ca_warnings(cert, key, options: CaOptions, renew_before_days: int, now: datetime.datetime) -> list[str]:
    """What a plain run leaves alone about the CA but the user should know: expiry, options not applied."""
    warnings = []
    end = not_after(cert)
    what = "the provided CA" if options.provided_cert_path else "the CA"
    if end <= now:
        warnings.append(
            f"{what} ({common_name_of(cert.subject)}) expired {iso(end)}: no certificate under it verifies; "
            + ("give a valid one in ca.provided" if options.provided_cert_path else "run once with ca_rollover=true")
        )
    elif end - now < datetime.timedelta(days=renew_before_days):
        warnings.append(
            f"{what} ({common_name_of(cert.subject)}) expires {iso(end)}, within renew_before_days "
            f"({renew_before_days}); it is never reissued by a plain run: "
            + ("give the new one in ca.provided" if options.provided_cert_path else "run once with ca_rollover=true")
            + " and distribute the new ca.crt to every client"
        )
    if options.provided_cert_path:
        return warnings
    differences = []
    have_cn = common_name_of(cert.subject)
    if have_cn != options.common_name:
        differences.append(f"common name {have_cn!r}, wanted {options.common_name!r}")
    if key_spec_of(key) != options.key:
        differences.append(f"key {describe_key(key)}, wanted {options.key.describe()}")
    if differences:
        warnings.append(
            "the existing CA differs from the ca options (" + "; ".join(differences) + "); the CA is kept as it is: "
            "set ca_rollover=true for one run to make a new CA with these options (every leaf is then reissued)"
        )
    return warnings

"""Mint a registry bearer token (RS256 JWT), as a token server would, to test what the registry accepts.

Usage: python mint_token.py KEY KID ISSUER SERVICE [X5C_CERT...]
Prints the JWT. The claims grant nothing beyond authentication (GET /v2/ needs no access entry).
"""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def main(key_path: str, kid: str, issuer: str, service: str, *x5c_paths: str) -> None:
    with open(key_path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    header = {"typ": "JWT", "alg": "RS256", "kid": kid}
    if x5c_paths:
        chain = []
        for path in x5c_paths:
            with open(path, "rb") as handle:
                cert = x509.load_pem_x509_certificate(handle.read())
            chain.append(base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii"))
        header["x5c"] = chain
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": "pki-test",
        "aud": service,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "access": [],
    }
    signing_input = ".".join(b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    print(f"{signing_input}.{b64url(signature)}")


if __name__ == "__main__":
    main(*sys.argv[1:])

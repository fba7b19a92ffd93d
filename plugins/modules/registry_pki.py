#!/usr/bin/python
# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - the house order puts DOCUMENTATION, EXAMPLES and RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_pki
short_description: Make and keep the PKI of a registry deployment in one directory
version_added: 0.1.0
description:
  - Keeps, in the directory O(path), a CA, the server and client certificates of a registry deployment (proxy,
    registry, mTLS clients) each with its own key, and the token-signing key with its own self-signed certificate.
  - "Files: C(ca.crt) and C(ca.key) (only C(ca.crt) for a provided CA), C(<name>.crt) and C(<name>.key) per entry of
    O(certificates), and C(<token name>.crt), C(<token name>.key) and C(<token name>.jwks.json) for O(token_signing)."
  - The CA is generated, or an existing company CA is used (O(ca.provided)); its key is read and never copied.
  - The token signer's certificate is self-signed and never issued by the CA, so the registry's C(rootcertbundle) is
    that certificate alone and no TLS certificate of the CA can sign a valid token.
  - A valid certificate is kept. Under the default O(regenerate=changed) it is reissued when it or its key is missing,
    it expires within O(renew_before_days), its subjectAltNames, common name or usage changed, its key no longer
    matches, its key type or size changed, or it was issued by another CA. A reissued certificate keeps its key
    unless the key type or size changed or O(rotate_keys=true).
  - The CA itself is never reissued by a plain run. Within O(renew_before_days) of its expiry the module warns;
    O(ca_rollover=true) makes a new CA (new key) and reissues every certificate under it.
  - Every input is checked before any file is written; a bad one fails with a message that names the option.
  - "Runs where its Python dependency is, normally on the controller (C(delegate_to: localhost)), so the CA key never
    leaves it; copy the certificates and leaf keys to the hosts that use them."
author:
  - Dockyard contributors (@dockyard)
requirements:
  - cryptography >= 3.3
options:
  path:
    description:
      - The directory that holds the files. It is created (mode C(0755)) when it does not exist.
    type: path
    required: true
  owner:
    description:
      - Owner of every file written (name or uid). Default is the user running the module.
    type: str
  group:
    description:
      - Group of every file written (name or gid), for example the group a container's service runs as.
    type: str
  key_mode:
    description:
      - Mode of the private key files, as an octal string. It must not give others any access.
    type: raw
    default: "0600"
  cert_mode:
    description:
      - Mode of the certificate files and of the JWKS file, as an octal string.
    type: raw
    default: "0644"
  ca:
    description:
      - The CA that issues the certificates in O(certificates).
      - The options other than O(ca.provided) describe the CA this module generates. Changing them later does not
        change an existing CA (the module warns); O(ca_rollover=true) applies them.
    type: dict
    default: {}
    suboptions:
      common_name:
        description:
          - Common name of a generated CA.
        type: str
        default: Dockyard Registry CA
      key_type:
        description:
          - Key type of a generated CA.
        type: str
        choices: [rsa, ecdsa]
        default: rsa
      key_size:
        description:
          - RSA key size in bits, 2048 or more. Default 4096. Only for O(ca.key_type=rsa).
        type: int
      curve:
        description:
          - Curve of an ECDSA key. Default C(secp256r1). Only for O(ca.key_type=ecdsa).
        type: str
        choices: [secp256r1, secp384r1]
      validity_days:
        description:
          - Lifetime of a generated CA in days; longer than O(renew_before_days).
        type: int
        default: 3650
      provided:
        description:
          - An existing CA (a company CA) to issue the certificates with, instead of a generated one.
          - The certificate must be a CA (basicConstraints C(CA:TRUE), and C(keyCertSign) when it has a keyUsage) and
            the key must be its key. Its certificate is copied to C(ca.crt) in O(path) for the clients; the key stays
            where it is.
          - Give the CA the clients trust; an intermediate CA's chain is not written.
        type: dict
        suboptions:
          cert_path:
            description:
              - PEM file with the CA certificate.
            type: path
            required: true
          key_path:
            description:
              - PEM file with the CA's private key (RSA or ECDSA).
            type: path
            required: true
          key_passphrase:
            description:
              - Passphrase of an encrypted O(ca.provided.key_path).
            type: str
  certificates:
    description:
      - The server and client certificates, each issued by the CA with a key of its own.
      - Server certificates carry the extendedKeyUsage C(serverAuth), client certificates C(clientAuth), V(both) both.
      - A certificate no longer listed is left in place.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - File stem (C(<name>.crt), C(<name>.key)) and key of the return value. Lower-case letters, digits, C(_)
            and C(-); not C(ca), not the O(token_signing.name).
        type: str
        required: true
      usage:
        description:
          - What the certificate is for. A server certificate needs at least one of O(certificates[].dns_names) and
            O(certificates[].ip_addresses).
        type: str
        choices: [server, client, both]
        default: server
      common_name:
        description:
          - Subject common name. Default is O(certificates[].name). TLS clients ignore it and check the
            subjectAltNames.
        type: str
      dns_names:
        description:
          - DNS subjectAltNames. Each is checked (labels of letters, digits and hyphens; a wildcard only as a whole
            first label, C(*.example.com)) and written in lower case.
        type: list
        elements: str
        default: []
      ip_addresses:
        description:
          - IP subjectAltNames (IPv4 or IPv6).
        type: list
        elements: str
        default: []
      key_type:
        description:
          - Key type.
        type: str
        choices: [rsa, ecdsa]
        default: rsa
      key_size:
        description:
          - RSA key size in bits, 2048 or more. Default 2048. Only for O(certificates[].key_type=rsa).
        type: int
      curve:
        description:
          - Curve of an ECDSA key. Default C(secp256r1). Only for O(certificates[].key_type=ecdsa).
        type: str
        choices: [secp256r1, secp384r1]
      validity_days:
        description:
          - Lifetime in days; longer than O(renew_before_days). A change alone does not reissue a valid certificate.
        type: int
        default: 397
  token_signing:
    description:
      - The key the token server signs registry tokens with, and its self-signed certificate (the registry's
        C(auth.token.rootcertbundle)). Also writes C(<name>.jwks.json), a JWKS for registry 3.x C(auth.token.jwks)
        whose C(kid) is the libtrust key id, so one C(kid) works with registry 2.x and 3.x.
      - A reissued certificate keeps the key (same C(kid)) unless the key type or size changed or
        O(rotate_keys=true).
      - Omit it to make no token signer.
    type: dict
    suboptions:
      name:
        description:
          - File stem of the token signer's files.
        type: str
        default: token
      common_name:
        description:
          - Subject common name of the certificate.
        type: str
        default: Dockyard token signer
      key_type:
        description:
          - Key type. RSA (RS256) works with every registry version; see the notes about ECDSA.
        type: str
        choices: [rsa, ecdsa]
        default: rsa
      key_size:
        description:
          - RSA key size in bits, 2048 or more. Default 2048. Only for O(token_signing.key_type=rsa).
        type: int
      curve:
        description:
          - Curve of an ECDSA key. Default C(secp256r1). Only for O(token_signing.key_type=ecdsa).
        type: str
        choices: [secp256r1, secp384r1]
      validity_days:
        description:
          - Lifetime of the certificate in days; longer than O(renew_before_days).
        type: int
        default: 397
  renew_before_days:
    description:
      - A certificate that expires within this many days is reissued (under O(regenerate=changed) or C(always)).
      - For the CA, a warning only.
    type: int
    default: 30
  regenerate:
    description:
      - When to reissue a certificate (never the CA, see O(ca_rollover)).
      - V(never) issues only what is missing or unusable (a missing or unreadable certificate or key, a certificate
        that does not match its key).
      - V(changed) also reissues a certificate that expires within O(renew_before_days), whose subjectAltNames, common
        name or usage changed, whose key type or size changed, or that another CA issued.
      - V(always) reissues every certificate on every run.
    type: str
    choices: [never, changed, always]
    default: changed
  rotate_keys:
    description:
      - Give every certificate this run reissues a new key instead of keeping its key.
      - Does not by itself reissue anything; combine with O(regenerate=always) to replace every key.
    type: bool
    default: false
  ca_rollover:
    description:
      - Make a new CA (new key, the current O(ca) options) and reissue every certificate under it. Not for a provided
        CA. Set it for one run only; every run with it makes another CA.
    type: bool
    default: false
extends_documentation_fragment: []
attributes:
  check_mode:
    support: full
    description: Predicts which files change, and why, without writing or generating anything.
  diff_mode:
    support: full
    description: Shows, per certificate, common name, usage, subjectAltNames, expiry, serial and key type before and
      after, and the reasons for a reissue; never key material.
  idempotent:
    support: partial
    description: A second run changes nothing, except with O(regenerate=always) or O(ca_rollover=true), which change
      something on every run by design.
notes:
  - "Run it on the controller (C(delegate_to: localhost), C(run_once: true)) to keep the CA key there."
  - A certificate is not removed when it is no longer listed in O(certificates).
  - The token signer's ECDSA key is drawn so that its public coordinates have no leading zero byte, because registry
    3.x computes EC thumbprints without those bytes.
  - In check mode a certificate that would be issued has no serial, fingerprint or (for a new key) key id yet; these
    return values are null.
seealso:
  - name: Token authentication specification
    description: How the registry checks a token's signature (kid, x5c, rootcertbundle).
    link: https://distribution.github.io/distribution/spec/auth/jwt/
"""

EXAMPLES = r"""
- name: Make the registry PKI on the controller
  dockyard.registry.registry_pki:
    path: "{{ playbook_dir }}/pki"
    ca:
      common_name: Example Registry CA
    certificates:
      - name: proxy
        dns_names: [registry.example.com]
        ip_addresses: [192.0.2.10]
      - name: registry
        usage: both
        dns_names: [registry.internal]
      - name: proxy-client
        usage: client
        key_type: ecdsa
    token_signing:
      name: token
  delegate_to: localhost
  run_once: true
  register: registry_pki

- name: Use the company CA; certificates on ECDSA P-384 keys, renewed two months ahead
  dockyard.registry.registry_pki:
    path: /srv/pki/registry
    ca:
      provided:
        cert_path: /srv/pki/company/ca.crt
        key_path: /srv/pki/company/ca.key
        key_passphrase: "{{ vault_company_ca_passphrase }}"
    certificates:
      - name: proxy
        dns_names: [registry.example.com, "*.registry.example.com"]
        key_type: ecdsa
        curve: secp384r1
    renew_before_days: 60
  delegate_to: localhost

- name: Roll the generated CA over (one run), then copy ca.crt to every client
  dockyard.registry.registry_pki:
    path: "{{ playbook_dir }}/pki"
    certificates:
      - name: proxy
        dns_names: [registry.example.com]
    ca_rollover: true
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The directory that holds the files.
  returned: always
  type: str
  sample: /home/ops/site/pki
ca:
  description: The CA. C(serial), C(fingerprint_sha256) and C(pem) are null in check mode when a new CA would be made.
  returned: always
  type: dict
  contains:
    cert_path:
      description: The CA certificate clients trust (a copy of a provided CA's certificate).
      type: str
      sample: /home/ops/site/pki/ca.crt
    key_path:
      description: The CA key's path (for a provided CA, where it is); never its content.
      type: str
      sample: /home/ops/site/pki/ca.key
    provided:
      description: Whether the CA is the one given in O(ca.provided).
      type: bool
      sample: false
    common_name:
      description: The CA's subject common name.
      type: str
      sample: Dockyard Registry CA
    serial:
      description: Serial number, upper-case hex as C(openssl x509 -serial) prints it.
      type: str
      sample: 3B0F6A3C2E5D41A3B6F0C1D2E3F405162738495A
    not_after:
      description: End of validity, UTC.
      type: str
      sample: "2035-05-01T12:00:00Z"
    fingerprint_sha256:
      description: SHA-256 fingerprint of the certificate as C(openssl x509 -fingerprint -sha256) prints it.
      type: str
      sample: "5E:0B:...:9A"
    pem:
      description: The CA certificate in PEM, for the clients' trust stores.
      type: str
      sample: "-----BEGIN CERTIFICATE-----\nMIIF...\n-----END CERTIFICATE-----\n"
    changed:
      description: Whether this run made (or would make) the CA or changed its files.
      type: bool
      sample: false
    reasons:
      description: Why the CA was made.
      type: list
      elements: str
      sample: ["CA missing"]
certificates:
  description: Per name in O(certificates), the certificate as it is after the run.
  returned: always
  type: dict
  sample:
    proxy:
      cert_path: /home/ops/site/pki/proxy.crt
      key_path: /home/ops/site/pki/proxy.key
      common_name: proxy
      usage: server
      dns_names: [registry.example.com, registry2.example.com]
      ip_addresses: [192.0.2.10]
      serial: 6A1F...
      not_after: "2027-06-02T12:00:00Z"
      fingerprint_sha256: "AB:CD:...:EF"
      changed: true
      key_changed: false
      reasons: ["SAN DNS:registry2.example.com added"]
  contains:
    cert_path:
      description: The certificate file.
      type: str
    key_path:
      description: The private key file.
      type: str
    common_name:
      description: Subject common name.
      type: str
    usage:
      description: C(server), C(client) or C(both).
      type: str
    dns_names:
      description: DNS subjectAltNames.
      type: list
      elements: str
    ip_addresses:
      description: IP subjectAltNames.
      type: list
      elements: str
    serial:
      description: Serial number in upper-case hex; null in check mode for a certificate that would be issued.
      type: str
    not_after:
      description: End of validity, UTC (predicted in check mode).
      type: str
    fingerprint_sha256:
      description: SHA-256 fingerprint; null in check mode for a certificate that would be issued.
      type: str
    changed:
      description: Whether the certificate was (or would be) issued or a file's content or attributes changed.
      type: bool
    key_changed:
      description: Whether the key was (or would be) replaced.
      type: bool
    reasons:
      description: Why the certificate was (or would be) issued; empty when it was kept.
      type: list
      elements: str
token_signing:
  description: The token signer; empty when O(token_signing) is not set. In check mode C(kid), C(jwk_thumbprint) and
    C(jwk) are null when a new key would be made.
  returned: always
  type: dict
  contains:
    cert_path:
      description: The self-signed certificate, the registry's C(auth.token.rootcertbundle).
      type: str
      sample: /home/ops/site/pki/token.crt
    key_path:
      description: The signing key, for the token server.
      type: str
      sample: /home/ops/site/pki/token.key
    jwks_path:
      description: The JWKS with the public key for registry 3.x C(auth.token.jwks).
      type: str
      sample: /home/ops/site/pki/token.jwks.json
    common_name:
      description: Subject common name.
      type: str
      sample: Dockyard token signer
    serial:
      description: Serial number in upper-case hex.
      type: str
      sample: 1F2E3D...
    not_after:
      description: End of validity, UTC.
      type: str
      sample: "2027-06-02T12:00:00Z"
    fingerprint_sha256:
      description: SHA-256 fingerprint of the certificate.
      type: str
      sample: "12:34:...:EF"
    kid:
      description: The libtrust key id registry 2.x matches a token's C(kid) against (also the C(kid) in the JWKS).
      type: str
      sample: PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6
    jwk_thumbprint:
      description: RFC 7638 SHA-256 thumbprint of the public key, the C(kid) registry 3.x derives from the
        rootcertbundle.
      type: str
      sample: 8qjioA3ZA7ti2JIE7c-U8smBFuZolQZvhSHDPU3hhB8
    jwk:
      description: The public JWK, with C(kid), as written in the JWKS file.
      type: dict
      sample: {"kty": "EC", "crv": "P-256", "x": "m7zU...", "y": "dU3b...", "kid": "PYYO:...:Z7Q6"}
    changed:
      description: Whether the certificate was (or would be) issued or a file changed.
      type: bool
      sample: false
    key_changed:
      description: Whether the signing key was (or would be) replaced; the token server must then load the new key.
      type: bool
      sample: false
    reasons:
      description: Why the certificate was (or would be) issued.
      type: list
      elements: str
      sample: []
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.compat.version import LooseVersion
from ansible_collections.dockyard.registry.plugins.module_utils import _files, _pki

_KEY_OPTIONS = {
    "key_type": {"type": "str", "choices": ["rsa", "ecdsa"], "default": "rsa"},
    "key_size": {"type": "int"},
    "curve": {"type": "str", "choices": list(_pki.CURVES)},
}

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "key_mode": {"type": "raw", "default": "0600", "no_log": False},
    "cert_mode": {"type": "raw", "default": "0644"},
    "ca": {
        "type": "dict",
        "default": {},
        "options": {
            "common_name": {"type": "str", "default": "Dockyard Registry CA"},
            **_KEY_OPTIONS,
            "validity_days": {"type": "int", "default": 3650},
            "provided": {
                "type": "dict",
                "options": {
                    "cert_path": {"type": "path", "required": True},
                    "key_path": {"type": "path", "required": True},
                    "key_passphrase": {"type": "str", "no_log": True},
                },
            },
        },
    },
    "certificates": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "name": {"type": "str", "required": True},
            "usage": {"type": "str", "choices": list(_pki.USAGES), "default": "server"},
            "common_name": {"type": "str"},
            "dns_names": {"type": "list", "elements": "str", "default": []},
            "ip_addresses": {"type": "list", "elements": "str", "default": []},
            **_KEY_OPTIONS,
            "validity_days": {"type": "int", "default": 397},
        },
    },
    "token_signing": {
        "type": "dict",
        "no_log": False,
        "options": {
            "name": {"type": "str", "default": "token"},
            "common_name": {"type": "str", "default": "Dockyard token signer"},
            **_KEY_OPTIONS,
            "validity_days": {"type": "int", "default": 397},
        },
    },
    "renew_before_days": {"type": "int", "default": 30},
    "regenerate": {"type": "str", "choices": list(_pki.REGENERATE), "default": "changed"},
    "rotate_keys": {"type": "bool", "default": False},
    "ca_rollover": {"type": "bool", "default": False},
}


class _Slot:
    """One certificate with its key: what is on disk, the decision, and what the run leaves."""

    def __init__(self, label: str, cert_path: str, key_path: str, wanted):
        self.label = label
        self.cert_path = cert_path
        self.key_path = key_path
        self.wanted = wanted
        self.disk = _pki.OnDisk()
        self.key_bytes = None
        self.decision = None
        self.cert = None  # the certificate after the run (None in check mode when it would be issued)
        self.key = None  # the key after the run (None in check mode when a new one would be made)
        self.changed = False


class PkiManager:
    def __init__(self, module: AnsibleModule):
        self.module = module
        self.now = datetime.datetime.now(_pki.UTC).replace(microsecond=0)
        self.options = None
        self.key_mode = None
        self.cert_mode = None
        self.ca = {}
        self.old_ca_cert = None
        self.old_ca_key = None
        self.changed = False
        self.slots: dict[str, _Slot] = {}
        self.token = None

    # ------------------------------------------------------------ plan (reads only)

    def plan(self) -> None:
        params = self.module.params
        self.options = _pki.check_options(params)
        self.key_mode = _files.octal_mode("key_mode", params["key_mode"], private="private keys")
        self.cert_mode = _files.octal_mode("cert_mode", params["cert_mode"])
        if os.path.exists(self.options.path) and not os.path.isdir(self.options.path):
            raise _pki.PkiError(f"path {self.options.path} exists and is not a directory")
        if self.options.ca.provided_cert_path:
            self._plan_provided_ca()
        else:
            self._plan_generated_ca()
        issuer = self.ca["issuer"]
        forced = self.ca["forced"]
        for name, wanted in self.options.leaves.items():
            slot = self._read_slot(name, wanted)
            slot.decision = self._decide(slot, issuer, forced)
            self.slots[name] = slot
        if self.options.token is not None:
            self.token = self._read_slot(self.options.token_name, self.options.token)
            self.token.decision = self._decide(self.token, None, None)

    def _file(self, stem: str, suffix: str) -> str:
        return os.path.join(self.options.path, f"{stem}.{suffix}")

    def _decide(self, slot: _Slot, issuer, forced):
        policy = _pki.Policy(
            self.options.regenerate, self.options.renew_before_days, self.options.rotate_keys, self.now
        )
        return _pki.decide(slot.disk, slot.wanted, issuer, policy, forced)

    def _read_slot(self, name: str, wanted) -> _Slot:
        slot = _Slot(name, self._file(name, "crt"), self._file(name, "key"), wanted)
        cert_bytes = _files.read_file(slot.cert_path)
        if cert_bytes is not None:
            try:
                slot.disk.cert = _pki.load_certificate(cert_bytes)
                slot.disk.cert_problem = None
            except ValueError:
                slot.disk.cert_problem = "unreadable (not a PEM certificate)"
        slot.key_bytes = _files.read_file(slot.key_path)
        if slot.key_bytes is not None:
            try:
                slot.disk.key = _pki.load_private_key(slot.key_bytes)
                slot.disk.key_problem = None
            except ValueError:
                slot.disk.key_problem = "unreadable (not an unencrypted PEM RSA or ECDSA private key)"
        return slot

    def _plan_provided_ca(self) -> None:
        ca_options = self.options.ca
        cert_data = _files.read_file(ca_options.provided_cert_path)
        if cert_data is None:
            raise _pki.PkiError(f"ca.provided.cert_path: {ca_options.provided_cert_path} does not exist")
        try:
            cert = _pki.load_certificate(cert_data)
        except ValueError as exc:
            raise _pki.PkiError(f"ca.provided.cert_path: {ca_options.provided_cert_path} {exc}") from None
        problem = _pki.ca_problem(cert)
        if problem:
            raise _pki.PkiError(
                f"ca.provided.cert_path: {ca_options.provided_cert_path} is not a CA certificate: {problem}; "
                "give the certificate of the CA that signs"
            )
        key_data = _files.read_file(ca_options.provided_key_path)
        if key_data is None:
            raise _pki.PkiError(f"ca.provided.key_path: {ca_options.provided_key_path} does not exist")
        try:
            key = _pki.load_private_key(key_data, ca_options.provided_key_passphrase)
        except ValueError as exc:
            hint = "; give it in ca.provided.key_passphrase" if "no passphrase" in str(exc) else ""
            raise _pki.PkiError(f"ca.provided.key_path: {ca_options.provided_key_path} {exc}{hint}") from None
        if not _pki.same_public_key(cert.public_key(), key.public_key()):
            raise _pki.PkiError(
                f"ca.provided.key_path: {ca_options.provided_key_path} is not the key of the certificate in "
                f"ca.provided.cert_path ({ca_options.provided_cert_path}): give the matching pair"
            )
        for warning in _pki.ca_warnings(cert, key, ca_options, self.options.renew_before_days, self.now):
            self.module.warn(warning)
        own_key = self._file(_pki.CA_FILE_STEM, "key")
        if os.path.exists(own_key) and os.path.abspath(own_key) != os.path.abspath(ca_options.provided_key_path):
            self.module.warn(
                f"{own_key} is left from a generated CA and is unused with ca.provided: remove it if no longer needed"
            )
        self.old_ca_cert, self.old_ca_key = self._copied_ca_cert(), None
        self.ca = {
            "provided": True,
            "cert": cert,
            "key": key,
            "key_path": ca_options.provided_key_path,
            "make_key": False,
            "make_cert": False,
            "reasons": [],
            "issuer": _pki.Issuer.of(cert),
            "forced": None,
        }

    def _copied_ca_cert(self):
        data = _files.read_file(self._file(_pki.CA_FILE_STEM, "crt"))
        try:
            return _pki.load_certificate(data) if data is not None else None
        except ValueError:
            return None

    def _read_generated_ca(self, cert_path: str, key_path: str):
        """The CA certificate, key and key bytes in `path`; an unreadable one fails unless ca_rollover replaces it."""
        rollover = self.options.ca_rollover
        cert = key = None
        cert_data, key_data = _files.read_file(cert_path), _files.read_file(key_path)
        try:
            cert = _pki.load_certificate(cert_data) if cert_data is not None else None
        except ValueError as exc:
            if not rollover:
                raise _pki.PkiError(
                    f"{cert_path} {exc}: restore it from a backup, or set ca_rollover=true to make a new CA "
                    "(every certificate is then reissued)"
                ) from None
        try:
            key = _pki.load_private_key(key_data) if key_data is not None else None
        except ValueError as exc:
            if not rollover:
                raise _pki.PkiError(
                    f"{key_path} {exc}: restore it from a backup, or set ca_rollover=true to make a new CA"
                ) from None
        return cert, key, key_data

    def _plan_generated_ca(self) -> None:
        ca_options = self.options.ca
        cert_path, key_path = self._file(_pki.CA_FILE_STEM, "crt"), self._file(_pki.CA_FILE_STEM, "key")
        rollover = self.options.ca_rollover
        cert, key, key_data = self._read_generated_ca(cert_path, key_path)
        self.old_ca_cert, self.old_ca_key = cert, key
        make_key = make_cert = False
        reasons: list[str] = []
        forced = None
        if rollover:
            make_key = make_cert = True
            reasons.append("ca_rollover=true")
            forced = "CA rolled over"
            cert = key = None
        elif cert is not None and key is None:
            raise _pki.PkiError(
                f"{key_path} is missing beside {cert_path}: no certificate can be issued without the CA key; restore "
                "it from a backup, or set ca_rollover=true to make a new CA (every certificate is then reissued)"
            )
        elif cert is None and key is None:
            make_key = make_cert = True
            reasons.append("CA missing")
            forced = "new CA"
        elif cert is None:
            make_cert = True
            reasons.append("CA certificate missing: made again from the existing ca.key")
        else:
            if not _pki.same_public_key(cert.public_key(), key.public_key()):
                raise _pki.PkiError(
                    f"{cert_path} and {key_path} do not belong together: restore the pair from a backup, or set "
                    "ca_rollover=true to make a new CA"
                )
            problem = _pki.ca_problem(cert)
            if problem:
                raise _pki.PkiError(
                    f"{cert_path} is not a CA certificate: {problem}; set ca_rollover=true to replace it"
                )
            for warning in _pki.ca_warnings(cert, key, ca_options, self.options.renew_before_days, self.now):
                self.module.warn(warning)
        if make_cert and not make_key:
            issuer = _pki.Issuer(_pki.subject(ca_options.common_name), key.public_key())
        elif make_key:
            issuer = None  # unused: every leaf is reissued under the new CA (forced)
        else:
            issuer = _pki.Issuer.of(cert)
        self.ca = {
            "provided": False,
            "cert": cert,
            "key": key,
            "key_path": key_path,
            "make_key": make_key,
            "make_cert": make_cert,
            "reasons": reasons,
            "issuer": issuer,
            "forced": forced,
            "key_bytes": key_data if not make_key else None,
        }

    # ------------------------------------------------------------ act

    def apply(self) -> None:
        check = self.module.check_mode
        path = self.options.path
        changed = False
        if not os.path.isdir(path):
            changed = True
            if not check:
                try:
                    os.makedirs(path, 0o755)
                except OSError as exc:
                    self.module.fail_json(msg=f"cannot create the directory path {path}: {exc}")
        ca = self.ca
        ca_changed = False
        ca_cert_path = self._file(_pki.CA_FILE_STEM, "crt")
        if not check:
            if ca["make_key"]:
                ca["key"] = _pki.generate_key(self.options.ca.key)
            if ca["make_cert"]:
                ca["cert"] = _pki.build_ca(
                    ca["key"], self.options.ca.common_name, self.options.ca.validity_days, self.now
                )
        elif ca["make_cert"]:
            ca["cert"] = None
        if not ca["provided"]:
            key_bytes = ca["key_bytes"] if not ca["make_key"] else None
            if key_bytes is None and ca["key"] is not None:
                key_bytes = _pki.private_key_pem(ca["key"])
            ca_changed |= self._put(ca["key_path"], key_bytes, self.key_mode)
        ca_changed |= self._put(ca_cert_path, _pki.certificate_pem(ca["cert"]) if ca["cert"] else None, self.cert_mode)
        ca["changed"] = ca_changed or ca["make_cert"]
        changed |= ca["changed"]

        for slot in self.slots.values():
            self._issue(
                slot, lambda public_key, wanted: _pki.build_leaf(public_key, wanted, ca["cert"], ca["key"], self.now)
            )
            changed |= slot.changed
        if self.token is not None:
            token = self.token
            self._issue(token, None)
            jwks = _pki.jwks_document(token.key.public_key()) if token.key is not None else None
            token.changed |= self._put(self._file(token.label, "jwks.json"), jwks, self.cert_mode)
            changed |= token.changed
        self.changed = changed

    def _issue(self, slot: _Slot, build_leaf) -> None:
        decision = slot.decision
        check = self.module.check_mode
        if decision.new_key:
            slot.key = None if check else _pki.generate_key(slot.wanted.key, full_width_coordinates=build_leaf is None)
            key_bytes = _pki.private_key_pem(slot.key) if slot.key is not None else None
        else:
            slot.key = slot.disk.key
            key_bytes = slot.key_bytes
        if decision.reissue:
            if check:
                slot.cert = None
            elif build_leaf is None:
                slot.cert = _pki.build_token_cert(slot.key, slot.wanted, self.now)
            else:
                slot.cert = build_leaf(slot.key.public_key(), slot.wanted)
        else:
            slot.cert = slot.disk.cert
        changed = decision.reissue
        changed |= self._put(slot.key_path, key_bytes, self.key_mode)
        changed |= self._put(slot.cert_path, _pki.certificate_pem(slot.cert) if slot.cert else None, self.cert_mode)
        slot.changed = changed

    def _put(self, path: str, content: bytes | None, mode: str) -> bool:
        """Write `content` (None: new content not made in check mode, a change) with the module's owner/group."""
        if content is None or (self.module.check_mode and not os.path.isdir(self.options.path)):
            # Also a change: a file of the directory that apply() makes first in a real run.
            return True
        params = {"owner": self.module.params["owner"], "group": self.module.params["group"], "mode": mode}
        file_args = self.module.load_file_common_arguments(params, path=path)
        return _files.write_file(self.module, path, content, file_args)

    # ------------------------------------------------------------ report

    def _cert_facts(self, cert) -> dict:
        if cert is None:
            return {"serial": None, "fingerprint_sha256": None}
        return {
            "serial": _pki.serial_text(cert),
            "fingerprint_sha256": _pki.fingerprint_sha256(cert),
            "not_after": _pki.iso(_pki.not_after(cert)),
        }

    def _predicted_not_after(self, days: int) -> str:
        return _pki.iso(self.now + datetime.timedelta(days=days))

    def _slot_result(self, slot: _Slot) -> dict:
        cert = slot.cert
        result = {
            "cert_path": slot.cert_path,
            "key_path": slot.key_path,
            "changed": slot.changed,
            "key_changed": slot.decision.new_key,
            "reasons": slot.decision.reasons,
        }
        if cert is not None:
            dns, ips = _pki.sans_of(cert)
            result.update(common_name=_pki.common_name_of(cert.subject), dns_names=dns, ip_addresses=ips)
            if slot.wanted.usage != "token":
                result["usage"] = _pki.usage_of(cert)
        else:
            wanted = slot.wanted
            result.update(common_name=wanted.common_name, dns_names=wanted.dns_names, ip_addresses=wanted.ip_addresses)
            if wanted.usage != "token":
                result["usage"] = wanted.usage
            result["not_after"] = self._predicted_not_after(wanted.validity_days)
        result.update(self._cert_facts(cert))
        if slot.wanted.usage == "token":
            del result["dns_names"], result["ip_addresses"]
        return result

    def _diff_entry(self, cert, key, reasons=None, new_key=False) -> dict:
        entry = {}
        if cert is not None:
            dns, ips = _pki.sans_of(cert)
            entry = {"common_name": _pki.common_name_of(cert.subject), "not_after": _pki.iso(_pki.not_after(cert))}
            entry["serial"] = _pki.serial_text(cert)
            if dns or ips:
                entry.update(dns_names=dns, ip_addresses=ips)
            usage = _pki.usage_of(cert)
            if usage != "none":
                entry["usage"] = usage
        if key is not None:
            entry["key"] = _pki.describe_key(key) + (" (new key)" if new_key else "")
        if reasons:
            entry["reasons"] = reasons
        return entry

    def _diff_predicted(self, wanted, reasons, new_key: bool) -> dict:
        entry = {
            "common_name": wanted.common_name,
            "not_after": self._predicted_not_after(wanted.validity_days),
            "serial": "(new)",
        }
        if wanted.usage != "token":
            if wanted.dns_names or wanted.ip_addresses:
                entry.update(dns_names=wanted.dns_names, ip_addresses=wanted.ip_addresses)
            entry["usage"] = wanted.usage
        entry["key"] = wanted.key.describe() + (" (new key)" if new_key else "")
        entry["reasons"] = reasons
        return entry

    def diff(self) -> dict:
        before, after = {}, {}
        ca = self.ca
        if self.old_ca_cert is not None:
            before["ca"] = self._diff_entry(self.old_ca_cert, self.old_ca_key)
        if ca["cert"] is not None:
            after["ca"] = self._diff_entry(ca["cert"], ca["key"], ca["reasons"], new_key=ca["make_key"])
        else:
            options = self.options.ca
            after["ca"] = {
                "common_name": options.common_name,
                "not_after": self._predicted_not_after(options.validity_days),
                "serial": "(new)",
                "key": options.key.describe() + (" (new key)" if ca["make_key"] else ""),
                "reasons": ca["reasons"],
            }
        groups = (("certificates", list(self.slots.values())), ("token_signing", [self.token] if self.token else []))
        for group, slots in groups:
            for slot in slots:
                if slot.disk.cert is not None or slot.disk.key is not None:
                    before.setdefault(group, {})[slot.label] = self._diff_entry(slot.disk.cert, slot.disk.key)
                decision = slot.decision
                if slot.cert is not None:
                    entry = self._diff_entry(slot.cert, slot.key or slot.disk.key, decision.reasons, decision.new_key)
                else:
                    entry = self._diff_predicted(slot.wanted, decision.reasons, decision.new_key)
                after.setdefault(group, {})[slot.label] = entry
        return {"before": before, "after": after}

    def result(self) -> dict:
        ca = self.ca
        ca_cert = ca["cert"]
        ca_result = {
            "cert_path": self._file(_pki.CA_FILE_STEM, "crt"),
            "key_path": ca["key_path"],
            "provided": ca["provided"],
            "common_name": _pki.common_name_of(ca_cert.subject) if ca_cert else self.options.ca.common_name,
            "not_after": self._predicted_not_after(self.options.ca.validity_days),
            "pem": _pki.certificate_pem(ca_cert).decode("ascii") if ca_cert else None,
            "changed": ca["changed"],
            "reasons": ca["reasons"],
        }
        ca_result.update(self._cert_facts(ca_cert))
        token = {}
        if self.token is not None:
            token = self._slot_result(self.token)
            token["jwks_path"] = self._file(self.token.label, "jwks.json")
            public_key = self.token.key.public_key() if self.token.key is not None else None
            token["kid"] = _pki.libtrust_kid(public_key) if public_key else None
            jwk = _pki.public_jwk(public_key) if public_key else None
            token["jwk_thumbprint"] = _pki.jwk_thumbprint(jwk) if jwk else None
            token["jwk"] = dict(jwk, kid=token["kid"]) if jwk else None
        result = {
            "changed": self.changed,
            "path": self.options.path,
            "ca": ca_result,
            "certificates": {name: self._slot_result(slot) for name, slot in self.slots.items()},
            "token_signing": token,
        }
        if self.module._diff:
            result["diff"] = self.diff()
        return result

    def run(self) -> None:
        try:
            self.plan()
        except (_pki.PkiError, _files.ModeError) as exc:
            self.module.fail_json(msg=str(exc))
        self.apply()
        self.module.exit_json(**self.result())


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not _pki.HAS_CRYPTOGRAPHY:
        module.fail_json(
            msg=missing_required_lib(f"cryptography >= {_pki.MIN_CRYPTOGRAPHY_VERSION}"),
            exception=_pki.CRYPTOGRAPHY_IMPORT_ERROR,
        )
    if LooseVersion(_pki.CRYPTOGRAPHY_VERSION) < LooseVersion(_pki.MIN_CRYPTOGRAPHY_VERSION):
        module.fail_json(
            msg=f"cryptography >= {_pki.MIN_CRYPTOGRAPHY_VERSION} is required, found {_pki.CRYPTOGRAPHY_VERSION}: "
            "upgrade python3-cryptography where the module runs"
        )
    PkiManager(module).run()


if __name__ == "__main__":
    main()

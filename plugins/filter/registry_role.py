# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the registry role: its decisions, made in tested Python (module_utils/_registry_role.py).

- `registry_config | registry_role_config(tls=..., client_ca=..., auth=..., realm=..., http_secret=...,
  delete_enabled=..., mount=...)`: the options for dockyard.registry.registry_config;
- `registry_config | registry_role_config_errors`: one message per top-level key registry_config does not take;
- `registry_auth | registry_role_module_deps`: the module_deps role's `module_deps_imports`;
- `certificate_pem | registry_role_tls_files(key=..., client_ca=..., tls=...)`: the TLS files for service_files;
- `certificate_pem | registry_role_token_files(jwks=..., auth=..., version=...)`: the token signer's files;
- `config | registry_inputs_digest(files=..., registry_version=...)`: the container label's digest;
- `certificate_pem | registry_tls_key_matches(key_pem)`: whether the key belongs to the certificate.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.dockyard.registry.plugins.module_utils import _registry_role as rr


def registry_role_config(user_config, **inputs):
    if user_config is not None and not isinstance(user_config, dict):
        raise AnsibleFilterError(f"registry_config must be a dict of sections, got {type(user_config).__name__}")
    return rr.role_config(user_config, **inputs)


def registry_role_config_errors(user_config, variable="registry_config"):
    return rr.config_errors(user_config, variable)


def registry_role_module_deps(auth):
    return rr.module_deps(str(auth))


def registry_role_tls_files(certificate, key="", client_ca="", tls=True):
    return rr.tls_files(certificate, key, client_ca, tls)


def registry_role_token_files(rootcertbundle, jwks="", auth="token", version="2.8"):
    return rr.token_files(rootcertbundle, jwks, auth, version)


def registry_inputs_digest(config, files=None, registry_version=""):
    return rr.inputs_digest(config, files, registry_version)


def registry_tls_key_matches(certificate_pem, key_pem):
    try:
        return rr.tls_key_matches(certificate_pem, key_pem)
    except rr.TlsInputError as exc:
        raise AnsibleFilterError(f"cannot compare the TLS key with the certificate: {exc}") from None


class FilterModule:
    def filters(self):
        return {
            "registry_role_config": registry_role_config,
            "registry_role_config_errors": registry_role_config_errors,
            "registry_role_module_deps": registry_role_module_deps,
            "registry_role_tls_files": registry_role_tls_files,
            "registry_role_token_files": registry_role_token_files,
            "registry_inputs_digest": registry_inputs_digest,
            "registry_tls_key_matches": registry_tls_key_matches,
        }

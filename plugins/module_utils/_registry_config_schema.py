# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keys of the distribution registry's config.yml, for registry 2.8 and 3.x.

One tree of `Key`s describes both versions: a key that only one version has
carries `only` (the version) and `why` (the reason the other one refuses it).
The module's argument spec, the strict checks, the masking of secrets and the
order of the rendered YAML all come from this tree. Sources: the registry's
configuration/configuration.go, its storage drivers and auth controllers at
v2.8.3 and v3.0.0, and docs/configuration.md.

Private to the collection: the interface may change without notice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSIONS = ("2.8", "3")
# validate-modules asks for an explicit no_log on options with these names.
NO_LOG_LOOKALIKE = re.compile(r"(?:pass(?!ive)|secret|token|key)", re.I)

REMOVED_IN_3 = "removed in registry 3.0"
NEW_IN_3 = "it came with registry 3.0 and registry 2.8 would ignore it"


@dataclass(slots=True)
class Key:
    """One key of the registry's configuration.

    type: the Ansible type (str, int, bool, dict, list).
    kind: a stricter check on the value: duration (Go duration such as 10s),
        path (absolute path inside the registry's container), url (absolute
        http or https URL), headers (map of name to list of strings), empty
        (a dict that takes no keys).
    options: the sub-keys of a dict, or of each element of a list of dicts;
        None for a free-form dict.
    choices: a list, or a dict {version: list} when the versions differ.
    secret: not logged, masked in diff and return values (for a dict or a
        list, every value under it).
    only/why: the one version that has this key, and why the other refuses it.
    """

    type: str
    doc: str
    kind: str | None = None
    options: dict | None = None
    elements: str | None = None
    choices: list | dict | None = None
    default: object = None
    secret: bool = False
    only: str | None = None
    why: str | None = None

    def choices_for(self, version: str) -> list | None:
        if isinstance(self.choices, dict):
            return self.choices.get(version)
        return self.choices

    def all_choices(self) -> list | None:
        if isinstance(self.choices, dict):
            merged: list = []
            for version in VERSIONS:
                merged.extend(c for c in self.choices.get(version, []) if c not in merged)
            return merged
        return self.choices


def _s(doc, **kw):
    return Key("str", doc, **kw)


def _i(doc, **kw):
    return Key("int", doc, **kw)


def _b(doc, **kw):
    return Key("bool", doc, **kw)


def _d(doc, options=None, **kw):
    return Key("dict", doc, options=options, **kw)


def _l(doc, elements="str", options=None, **kw):
    return Key("list", doc, elements=elements, options=options, **kw)


def _dur(doc, **kw):
    return Key("str", doc, kind="duration", **kw)


def _path(doc, **kw):
    return Key("str", doc, kind="path", **kw)


def _url(doc, **kw):
    return Key("str", doc, kind="url", **kw)


def _v2(key: Key, why: str = REMOVED_IN_3) -> Key:
    key.only, key.why = "2.8", why
    return key


def _v3(key: Key, why: str = NEW_IN_3) -> Key:
    key.only, key.why = "3", why
    return key


HEADERS_DOC = "HTTP headers: a map of header name to a list of values (a single string is taken as a one-item list)."

LOG = {
    "level": _s("Granularity of the registry's log.", choices=["error", "warn", "info", "debug"]),
    "formatter": _s("Format of the log lines.", choices=["text", "json", "logstash"]),
    "fields": _d("Static fields added to every log line (free-form map)."),
    "accesslog": _d("Access log.", {"disabled": _b("Turn the access log off.")}),
    "reportcaller": _v3(_b("Add the calling function to each log line.")),
    "hooks": _l(
        "Log hooks (mail on given levels).",
        elements="dict",
        options={
            "type": _s("Hook type.", choices=["mail"]),
            "disabled": _b("Turn this hook off."),
            "levels": _l("Levels that trigger the hook.", choices=["panic", "fatal", "error", "warn", "info", "debug"]),
            "options": _d(
                "Mail options.",
                {
                    "smtp": _d(
                        "SMTP server.",
                        {
                            "addr": _s("SMTP host:port."),
                            "username": _s("SMTP user."),
                            "password": _s("SMTP password.", secret=True),
                            "insecure": _b("Skip TLS verification of the SMTP server."),
                        },
                    ),
                    "from": _s("Sender address."),
                    "to": _l("Recipient addresses."),
                },
            ),
        },
    ),
}

SWIFT_GONE = "the swift driver was removed in registry 3.0; use s3, azure, gcs or filesystem"
OSS_GONE = "the oss driver was removed in registry 3.0; use s3, azure, gcs or filesystem"

DRIVERS = {
    "filesystem": _d(
        "Local filesystem driver.",
        {
            "rootdirectory": _path("Root of the registry's data (the driver's default is /var/lib/registry)."),
            "maxthreads": _i("Maximum concurrent filesystem operations (at least 25)."),
        },
    ),
    "inmemory": _d("In-memory driver, for tests only: takes no parameters, give it as an empty dict.", kind="empty"),
    "s3": _d(
        "Amazon S3 or compatible driver.",
        {
            "accesskey": _s("Access key ID (give it with O(storage.s3.secretkey), or neither for instance roles)."),
            "secretkey": _s("Secret access key.", secret=True),
            "region": _s("Region (required)."),
            "regionendpoint": _url("Endpoint of an S3-compatible service."),
            "forcepathstyle": _v3(_b("Use path-style bucket addressing.")),
            "accelerate": _v3(_b("Use S3 transfer acceleration.")),
            "bucket": _s("Bucket (required)."),
            "encrypt": _b("Encrypt objects server-side."),
            "keyid": _s("KMS key ID for server-side encryption."),
            "secure": _b("Use HTTPS."),
            "skipverify": _b("Skip TLS verification."),
            "v4auth": _b("Use AWS signature version 4."),
            "chunksize": _i("Multipart upload chunk size in bytes."),
            "multipartcopychunksize": _i("Chunk size for multipart copies."),
            "multipartcopymaxconcurrency": _i("Concurrent parts in a multipart copy."),
            "multipartcopythresholdsize": _i("Objects above this size are copied in parts."),
            "rootdirectory": _s("Key prefix inside the bucket."),
            "storageclass": _s("Storage class of new objects."),
            "useragent": _s("User-Agent of requests."),
            "objectacl": _s("Canned ACL of new objects."),
            "usedualstack": _v3(_b("Use the dual-stack endpoint.")),
            "loglevel": _v3(_s("AWS SDK log level.")),
        },
    ),
    "azure": _d(
        "Azure Blob Storage driver.",
        {
            "accountname": _s("Storage account name (required)."),
            "accountkey": _s(
                "Storage account key (required on 2.8; on 3.x with O(storage.azure.credentials.type=shared_key)).",
                secret=True,
            ),
            "container": _s("Container (required)."),
            "realm": _s("Domain suffix of the storage endpoint."),
            "rootdirectory": _v3(_s("Key prefix inside the container.")),
            "serviceurl": _v3(_url("Service URL.")),
            "max_retries": _v3(_i("Retries of a driver operation.")),
            "retry_delay": _v3(_dur("Delay between retries.")),
            "skipverify": _v3(_b("Skip TLS verification.")),
            "credentials": _v3(
                _d(
                    "How the driver authenticates (required on 3.x).",
                    {
                        "type": _s("Credential type.", choices=["client_secret", "shared_key", "default_credentials"]),
                        "clientid": _s("Application (client) ID, for client_secret."),
                        "tenantid": _s("Directory (tenant) ID, for client_secret."),
                        "secret": _s("Client secret, for client_secret.", secret=True),
                    },
                )
            ),
        },
    ),
    "gcs": _d(
        "Google Cloud Storage driver.",
        {
            "bucket": _s("Bucket (required)."),
            "keyfile": _path("Service account key file (or O(storage.gcs.credentials), not both)."),
            "credentials": _d(
                "Service account key given inline, with the keys of its JSON file.",
                {
                    "type": _s("Always service_account."),
                    "project_id": _s("Project."),
                    "private_key_id": _s("Key ID.", secret=True),
                    "private_key": _s("PEM private key.", secret=True),
                    "client_email": _s("Service account e-mail."),
                    "client_id": _s("Client ID."),
                    "auth_uri": _s("Auth URI."),
                    "token_uri": _s("Token URI.", secret=False),
                    "auth_provider_x509_cert_url": _s("Provider certificate URL."),
                    "client_x509_cert_url": _s("Client certificate URL."),
                    "universe_domain": _s("Universe domain."),
                },
            ),
            "rootdirectory": _s("Object name prefix."),
            "chunksize": _i("Upload chunk size (a multiple of 256 KiB)."),
            "maxconcurrency": _i("Concurrent driver operations."),
            "useragent": _v3(_s("User-Agent of requests.")),
        },
    ),
    "swift": _v2(
        _d(
            "OpenStack Swift driver.",
            {
                "authurl": _url("Identity endpoint (required)."),
                "username": _s("User (required)."),
                "password": _s("Password (required).", secret=True),
                "container": _s("Container (required)."),
                "region": _s("Region."),
                "tenant": _s("Tenant name."),
                "tenantid": _s("Tenant ID."),
                "domain": _s("Identity v3 domain name."),
                "domainid": _s("Identity v3 domain ID."),
                "tenantdomain": _s("Identity v3 tenant domain name."),
                "tenantdomainid": _s("Identity v3 tenant domain ID."),
                "trustid": _s("Identity v3 trust ID."),
                "authversion": _i("Identity API version."),
                "endpointtype": _s("Endpoint type (public, internal, admin)."),
                "insecureskipverify": _b("Skip TLS verification."),
                "chunksize": _i("Segment size in bytes."),
                "prefix": _s("Object name prefix."),
                "secretkey": _s("Secret key for temporary URLs.", secret=True),
                "accesskey": _s("Access key for temporary URLs.", secret=False),
                "tempurlcontainerkey": _b("Use the container key for temporary URLs."),
                "tempurlmethods": _l("Methods served by temporary URLs."),
            },
        ),
        SWIFT_GONE,
    ),
    "oss": _v2(
        _d(
            "Aliyun OSS driver.",
            {
                "accesskeyid": _s("Access key ID (required)."),
                "accesskeysecret": _s("Access key secret (required).", secret=True),
                "region": _s("Region (required)."),
                "bucket": _s("Bucket (required)."),
                "endpoint": _s("Endpoint."),
                "internal": _b("Use the internal endpoint."),
                "encrypt": _b("Encrypt objects server-side."),
                "secure": _b("Use HTTPS."),
                "chunksize": _i("Chunk size in bytes."),
                "rootdirectory": _s("Object name prefix."),
            },
        ),
        OSS_GONE,
    ),
}

STORAGE = {
    **DRIVERS,
    "delete": _d(
        "Deletes by digest.", {"enabled": _b("Allow DELETE of manifests and blobs (the registry's default: no).")}
    ),
    "redirect": _d("Redirects to the storage backend.", {"disable": _b("Serve blobs through the registry.")}),
    "cache": _d(
        "Blob descriptor cache.",
        {
            "blobdescriptor": _s("Cache kind (redis needs O(redis)).", choices=["inmemory", "redis"]),
            "blobdescriptorsize": _v3(_i("Entries of the inmemory cache.")),
        },
    ),
    "maintenance": _d(
        "Maintenance.",
        {
            "uploadpurging": _d(
                "Removal of abandoned uploads.",
                {
                    "enabled": _b("Purge old uploads."),
                    "age": _dur("Uploads older than this are purged."),
                    "interval": _dur("Time between purges."),
                    "dryrun": _b("Only log what would be purged."),
                },
            ),
            "readonly": _d("Read-only mode.", {"enabled": _b("Refuse pushes and deletes.")}),
        },
    ),
}

HTTP = {
    "addr": _s(
        "Listen address. On tcp, host:port with a port from 1 to 65535: C(:5000) (every address), C(0.0.0.0:5000),"
        " C([::]:5000) (IPv6 in brackets) or C(localhost:5000); C(:5000) is written when not given, since without it"
        " the registry listens on a random port. With O(http.net=unix), the absolute path of the socket inside the"
        " registry's container (required)."
    ),
    "net": _s("Listener network; with V(unix), O(http.addr) is the path of a socket.", choices=["tcp", "unix"]),
    "host": _url("External URL of the registry, for Location headers (not with O(http.relativeurls=true))."),
    "prefix": _s("URL path prefix."),
    "secret": _s(
        "Secret that signs upload state; the same on every replica (required when O(replicas) > 1).", secret=True
    ),
    "relativeurls": _b("Return relative Location headers."),
    "draintimeout": _dur("Time to drain connections on shutdown."),
    "tls": _d(
        "TLS served by the registry itself.",
        {
            "certificate": _path("Certificate chain (PEM)."),
            "key": _path("Private key (PEM), a path.", secret=False),
            "clientcas": _l("CA bundles that client certificates must chain to (mTLS).", kind="path"),
            "clientauth": _v3(
                _s(
                    "Client certificate policy.",
                    choices=[
                        "request-client-cert",
                        "require-any-client-cert",
                        "verify-client-cert-if-given",
                        "require-and-verify-client-cert",
                    ],
                )
            ),
            "minimumtls": _s(
                "Lowest TLS version (registry 3.x knows tls1.2 and tls1.3 only).",
                choices={"2.8": ["tls1.0", "tls1.1", "tls1.2", "tls1.3"], "3": ["tls1.2", "tls1.3"]},
            ),
            "ciphersuites": _l("Allowed cipher suites (Go names)."),
            "letsencrypt": _d(
                "Certificates from an ACME CA instead of O(http.tls.certificate).",
                {
                    "cachefile": _path("Cache file (required for Let's Encrypt)."),
                    "email": _s("Account e-mail."),
                    "hosts": _l("Host names allowed to get certificates."),
                    "directoryurl": _v3(_url("ACME directory URL.")),
                },
            ),
        },
    ),
    "headers": _d(HEADERS_DOC, kind="headers"),
    "debug": _d(
        "Debug server.",
        {
            "addr": _s("Listen address of the debug server."),
            "prometheus": _d(
                "Prometheus metrics on the debug server (needs O(http.debug.addr)).",
                {"enabled": _b("Serve metrics."), "path": _s("Metrics path.")},
            ),
        },
    ),
    "http2": _d("HTTP/2.", {"disabled": _b("Only serve HTTP/1.1.")}),
    "h2c": _v3(_d("HTTP/2 over cleartext.", {"enabled": _b("Serve h2c.")})),
}

AUTH = {
    "htpasswd": _d(
        "Basic authentication from an htpasswd file (bcrypt entries only).",
        {
            "realm": _s("Realm of the Basic challenge.", default="Registry Realm"),
            "path": _path("The htpasswd file inside the registry's container (required)."),
        },
    ),
    "token": _d(
        "Bearer token authentication.",
        {
            "realm": _url("Token endpoint that clients are sent to (required)."),
            "service": _s("Service name, the token's audience (required)."),
            "issuer": _s("Issuer that tokens must carry (required)."),
            "rootcertbundle": _path(
                "Certificates whose keys sign tokens (required; on 3.x this or O(auth.token.jwks))."
            ),
            "autoredirect": _b("Build the realm from the request's host."),
            "autoredirectpath": _v3(_s("Path used with O(auth.token.autoredirect).")),
            "jwks": _v3(_path("JSON Web Key Set of token signing keys.")),
            "signingalgorithms": _v3(
                _l(
                    "Accepted signing algorithms.",
                    choices=[
                        "EdDSA",
                        "HS256",
                        "HS384",
                        "HS512",
                        "RS256",
                        "RS384",
                        "RS512",
                        "ES256",
                        "ES384",
                        "ES512",
                        "PS256",
                        "PS384",
                        "PS512",
                    ],
                )
            ),
        },
    ),
}

NOTIFICATIONS = {
    "events": _d("Event format.", {"includereferences": _b("Include references in manifest events.")}),
    "endpoints": _l(
        "Webhook endpoints.",
        elements="dict",
        options={
            "name": _s("Endpoint name (required, unique)."),
            "disabled": _b("Turn this endpoint off."),
            "url": _url("URL events are posted to (required)."),
            "headers": _d(
                HEADERS_DOC + " Every value is secret (it often carries credentials).", kind="headers", secret=True
            ),
            "timeout": _dur("HTTP timeout."),
            "threshold": _i("Failures before backing off."),
            "backoff": _dur("Back-off time."),
            "ignoredmediatypes": _l("Media types not notified."),
            "ignore": _d(
                "Events not notified.",
                {
                    "mediatypes": _l("Media types."),
                    "actions": _l("Actions.", choices=["pull", "push", "mount", "delete"]),
                },
            ),
        },
    ),
}

REDIS_GONE = "registry 3.x uses addrs and the go-redis pool options (poolsize, maxidleconns...) instead"
REDIS = {
    "addr": _v2(_s("host:port of Redis (required on 2.8)."), "removed in registry 3.0: use addrs (a list)"),
    "addrs": _v3(_l("host:port of each Redis (required on 3.x).")),
    "username": _v3(_s("Redis ACL user.")),
    "password": _s("Redis password.", secret=True),
    "db": _i("Database number."),
    "dialtimeout": _dur("Connect timeout."),
    "readtimeout": _dur("Read timeout."),
    "writetimeout": _dur("Write timeout."),
    "pool": _v2(
        _d(
            "Connection pool.",
            {
                "maxidle": _i("Idle connections kept."),
                "maxactive": _i("Connections at most."),
                "idletimeout": _dur("Idle connections are closed after this."),
            },
        ),
        "removed in registry 3.0: " + REDIS_GONE,
    ),
    "poolsize": _v3(_i("Connections at most.")),
    "minidleconns": _v3(_i("Idle connections kept at least.")),
    "maxidleconns": _v3(_i("Idle connections kept at most.")),
    "maxactiveconns": _v3(_i("Active connections at most.")),
    "connmaxidletime": _v3(_dur("Idle connections are closed after this.")),
    "connmaxlifetime": _v3(_dur("Connections are closed after this.")),
    "clientname": _v3(_s("Client name.")),
    "mastername": _v3(_s("Sentinel master name.")),
    "sentinelusername": _v3(_s("Sentinel user.")),
    "sentinelpassword": _v3(_s("Sentinel password.", secret=True)),
    "tls": _v3(
        _d(
            "TLS to Redis.",
            {
                "certificate": _path("Client certificate."),
                "key": _path("Client key, a path.", secret=False),
                "rootcas": _l("CA bundles.", kind="path"),
            },
        )
    ),
}


def _check_timing(timeout: bool) -> dict:
    """The timing keys every file, http and tcp health check has (fresh objects each time)."""
    keys = {"timeout": _dur("Timeout.")} if timeout else {}
    keys.update({"interval": _dur("Interval."), "threshold": _i("Failures.")})
    return keys


HEALTH = {
    "storagedriver": _d(
        "Storage driver check.",
        {"enabled": _b("Check the driver."), "interval": _dur("Time between checks."), "threshold": _i("Failures.")},
    ),
    "file": _l(
        "File checks: unhealthy while the file exists.",
        elements="dict",
        options={"file": _path("File (required)."), **_check_timing(timeout=False)},
    ),
    "http": _l(
        "HTTP checks.",
        elements="dict",
        options={
            "uri": _url("URI (required)."),
            "headers": _d(HEADERS_DOC + " Every value is secret.", kind="headers", secret=True),
            "statuscode": _i("Expected status."),
            **_check_timing(timeout=True),
        },
    ),
    "tcp": _l(
        "TCP checks.",
        elements="dict",
        options={
            "addr": _s("host:port (required)."),
            **_check_timing(timeout=True),
        },
    ),
}

PROXY = {
    "remoteurl": _url("Upstream registry (required)."),
    "username": _s("Upstream user (with O(proxy.password))."),
    "password": _s("Upstream password.", secret=True),
    "ttl": _v3(_dur("Cached content expires after this (0 never).")),
    "exec": _v3(
        _d(
            "Credential helper instead of O(proxy.username).",
            {"command": _s("Command (required)."), "lifetime": _dur("Cache its answer this long.")},
        )
    ),
}

VALIDATION = {
    "enabled": _b("Deprecated form of O(validation.disabled=false)."),
    "disabled": _b("Turn manifest validation off."),
    "manifests": _d(
        "Manifest validation.",
        {
            "urls": _d(
                "Foreign layer URLs.",
                {
                    "allow": _l("Regular expressions URLs must match."),
                    "deny": _l("Regular expressions URLs must not match."),
                },
            ),
            "indexes": _v3(
                _d(
                    "Platforms an index must hold.",
                    {
                        "platforms": _s("Which platforms.", choices=["all", "none", "list"]),
                        "platformlist": _l(
                            "Platforms for O(validation.manifests.indexes.platforms=list).",
                            elements="dict",
                            options={"architecture": _s("Architecture."), "os": _s("OS.")},
                        ),
                    },
                )
            ),
        },
    ),
}

CATALOG = {"maxentries": _i("Most entries one catalog page returns.")}

REPORTING = {
    "bugsnag": _d(
        "Bugsnag.",
        {
            "apikey": _s("API key.", secret=True),
            "releasestage": _s("Release stage."),
            "endpoint": _s("Enterprise endpoint."),
        },
    ),
    "newrelic": _d(
        "New Relic.",
        {
            "licensekey": _s("License key.", secret=True),
            "name": _s("Component name."),
            "verbose": _b("Debug output."),
        },
    ),
}

COMPATIBILITY = {
    "schema1": _d(
        "Schema 1 manifests.",
        {
            "signingkeyfile": _path("Key that signs schema1 manifests.", secret=False),
            "enabled": _b("Serve schema1 manifests."),
        },
    )
}

# The sections of config.yml, in the order they are written.
SECTIONS = {
    "log": _d("The C(log) section.", LOG),
    "storage": _d(
        "The C(storage) section: exactly one driver, plus C(delete), C(redirect), C(cache), C(maintenance)."
        " With no driver, C(filesystem) with C(rootdirectory: /var/lib/registry) is written.",
        STORAGE,
    ),
    "http": _d("The C(http) section.", HTTP),
    "auth": _d("The C(auth) section: at most one provider; none means no authentication.", AUTH),
    "notifications": _d("The C(notifications) section.", NOTIFICATIONS),
    "redis": _d("The C(redis) section (the 2.8 and the 3.x shapes differ).", REDIS),
    "health": _d("The C(health) section.", HEALTH),
    "proxy": _d("The C(proxy) section: a pull-through cache of O(proxy.remoteurl).", PROXY),
    "validation": _d("The C(validation) section.", VALIDATION),
    "catalog": _d("The C(catalog) section.", CATALOG),
    "reporting": _v2(_d("The C(reporting) section.", REPORTING), "the reporting section was removed in registry 3.0"),
    "compatibility": _v2(
        _d("The C(compatibility) section.", COMPATIBILITY),
        "schema1 manifests and the compatibility section were removed in registry 3.0",
    ),
}

DRIVER_NAMES = tuple(DRIVERS)


def argument_spec(keys: dict) -> dict:
    """The Ansible argument spec of a tree of keys: the union of both versions."""
    spec = {}
    for name, key in keys.items():
        entry: dict = {"type": key.type}
        if key.elements:
            entry["elements"] = key.elements
        if key.options:
            entry["options"] = argument_spec(key.options)
        choices = key.all_choices()
        if choices:
            entry["choices"] = choices
        if key.default is not None:
            entry["default"] = key.default
        if key.secret:
            entry["no_log"] = True
        elif NO_LOG_LOOKALIKE.search(name):
            entry["no_log"] = False
        spec[name] = entry
    return spec


def doc_options(keys: dict) -> dict:
    """The DOCUMENTATION options of a tree of keys, as registry_config.py holds them.

    The module's DOCUMENTATION is generated from this (its unit tests compare
    the two): edit the schema, then paste the YAML dump of
    doc_options(SECTIONS) into the module.
    """
    out = {}
    for name, key in keys.items():
        description = [key.doc]
        if key.only == "2.8":
            description.append(f"Registry 2.8 only: {key.why}.")
        elif key.only == "3":
            description.append("Registry 3.x only.")
        if key.secret:
            description.append("Secret: not logged, masked in the diff and in RV(config).")
        if key.kind == "duration":
            description.append("A Go duration such as V(10s) or V(168h).")
        entry: dict = {"description": description, "type": key.type}
        if key.elements:
            entry["elements"] = key.elements
        if key.all_choices():
            entry["choices"] = key.all_choices()
        if key.default is not None:
            entry["default"] = key.default
        if key.options:
            entry["suboptions"] = doc_options(key.options)
        out[name] = entry
    return out

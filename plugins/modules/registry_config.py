#!/usr/bin/python
# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_config
short_description: Write the distribution registry's config.yml from checked, structured options
version_added: 0.1.0
description:
  - Writes the configuration file of the distribution registry (C(registry serve config.yml)) from options that mirror
    its sections and keys one to one (same names, same nesting), so that the upstream configuration reference
    translates directly.
  - Strict where the registry is lenient. An unknown key is an error (the registry ignores it silently). A key that the
    chosen O(registry_version) does not have is an error that says why (for example the swift driver was removed in
    registry 3.0). Settings the registry would only refuse at start-up, or accept and then misbehave with, fail before
    anything is written, naming the options. For example a missing required key of a storage driver, token
    authentication without realm, service, issuer or rootcertbundle, htpasswd without a path, a proxy (pull-through
    cache) with O(storage.delete.enabled=true), or several O(replicas) without O(http.secret).
  - Only what is given is written; the registry's own defaults apply to the rest. Three exceptions make a usable file.
    C(version) is always C(0.1). C(storage.filesystem.rootdirectory) is V(/var/lib/registry) when no storage driver is
    given. C(http.addr) is V(:5000) when not given, since without it the registry listens on a random port.
  - The file is rendered deterministically (keys in the upstream reference's order, free-form maps sorted), so an
    unchanged configuration is no change. Secrets (O(http.secret), storage keys and passwords, O(redis.password),
    O(proxy.password), notification and health-check header values, reporting keys) are never logged and are masked
    as C(********) in the diff and in RV(config).
  - Not covered. The C(middleware) section (named plugins with free-form options that cannot be checked), C(policy),
    the deprecated top-level C(loglevel), and keys added after registry 3.0 (C(tags), C(proxy.cachewritetimeout),
    C(storage.tag)). The S3 region is not checked against the list of AWS regions.
  - Runs on the host that holds the file and needs PyYAML there (C(python3-yaml) on Debian); ansible-core brings it on
    the controller.
author:
  - Dockyard contributors (@dockyard)
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Predicts whether the file (content, mode, owner, group) would change; writes nothing.
  diff_mode:
    support: full
    description:
      - Returns the old and the new file as text, with every secret masked as C(********) in both.
      - A secret whose value changed reads C(******** (changed)) in the new text, so that a change of a secret alone
        shows in the diff; no value is ever shown.
  idempotent:
    support: full
    description: The same options render the same bytes; a second run reports no change.
options:
  path:
    description:
      - The configuration file to write, for example V(/etc/docker/registry/config.yml).
      - Its directory must exist. Mount that directory into the registry's container, not the file, since the file is
        replaced atomically (a single-file bind mount would keep the old file).
      - The file's mode is V(0640) unless O(mode) says otherwise (the file can hold secrets).
    type: path
    required: true
  registry_version:
    description:
      - The registry version the file is for, V(2.8) or V(3) (3.0 and later).
      - Keys and values that this version does not have are refused with the reason.
    type: str
    choices: ["2.8", "3"]
    default: "2.8"
  replicas:
    description:
      - How many registry instances share this configuration and storage (a hint for the checks).
      - Above 1, O(http.secret) is required and O(storage.inmemory) is refused; C(storage.cache.blobdescriptor=inmemory)
        gets a warning, since that cache is not shared.
    type: int
    default: 1
  log:
    description:
      - The C(log) section.
    type: dict
    suboptions:
      level:
        description:
          - Granularity of the registry's log.
        type: str
        choices: [error, warn, info, debug]
      formatter:
        description:
          - Format of the log lines.
        type: str
        choices: [text, json, logstash]
      fields:
        description:
          - Static fields added to every log line (free-form map).
        type: dict
      accesslog:
        description:
          - Access log.
        type: dict
        suboptions:
          disabled:
            description:
              - Turn the access log off.
            type: bool
      reportcaller:
        description:
          - Add the calling function to each log line.
          - Registry 3.x only.
        type: bool
      hooks:
        description:
          - Log hooks (mail on given levels).
        type: list
        elements: dict
        suboptions:
          type:
            description:
              - Hook type.
            type: str
            choices: [mail]
          disabled:
            description:
              - Turn this hook off.
            type: bool
          levels:
            description:
              - Levels that trigger the hook.
            type: list
            elements: str
            choices: [panic, fatal, error, warn, info, debug]
          options:
            description:
              - Mail options.
            type: dict
            suboptions:
              smtp:
                description:
                  - SMTP server.
                type: dict
                suboptions:
                  addr:
                    description:
                      - SMTP host:port.
                    type: str
                  username:
                    description:
                      - SMTP user.
                    type: str
                  password:
                    description:
                      - SMTP password.
                      - 'Secret: not logged, masked in the diff and in RV(config).'
                    type: str
                  insecure:
                    description:
                      - Skip TLS verification of the SMTP server.
                    type: bool
              from:
                description:
                  - Sender address.
                type: str
              to:
                description:
                  - Recipient addresses.
                type: list
                elements: str
  storage:
    description:
      - 'The C(storage) section: exactly one driver, plus C(delete), C(redirect), C(cache), C(maintenance).
        With no driver, C(filesystem) with C(rootdirectory: /var/lib/registry) is written.'
    type: dict
    suboptions:
      filesystem:
        description:
          - Local filesystem driver.
        type: dict
        suboptions:
          rootdirectory:
            description:
              - Root of the registry's data (the driver's default is /var/lib/registry).
            type: str
          maxthreads:
            description:
              - Maximum concurrent filesystem operations (at least 25).
            type: int
      inmemory:
        description:
          - 'In-memory driver, for tests only: takes no parameters, give it as an empty dict.'
        type: dict
      s3:
        description:
          - Amazon S3 or compatible driver.
        type: dict
        suboptions:
          accesskey:
            description:
              - Access key ID (give it with O(storage.s3.secretkey), or neither for instance roles).
            type: str
          secretkey:
            description:
              - Secret access key.
              - 'Secret: not logged, masked in the diff and in RV(config).'
            type: str
          region:
            description:
              - Region (required).
            type: str
          regionendpoint:
            description:
              - Endpoint of an S3-compatible service.
            type: str
          forcepathstyle:
            description:
              - Use path-style bucket addressing.
              - Registry 3.x only.
            type: bool
          accelerate:
            description:
              - Use S3 transfer acceleration.
              - Registry 3.x only.
            type: bool
          bucket:
            description:
              - Bucket (required).
            type: str
          encrypt:
            description:
              - Encrypt objects server-side.
            type: bool
          keyid:
            description:
              - KMS key ID for server-side encryption.
            type: str
          secure:
            description:
              - Use HTTPS.
            type: bool
          skipverify:
            description:
              - Skip TLS verification.
            type: bool
          v4auth:
            description:
              - Use AWS signature version 4.
            type: bool
          chunksize:
            description:
              - Multipart upload chunk size in bytes.
            type: int
          multipartcopychunksize:
            description:
              - Chunk size for multipart copies.
            type: int
          multipartcopymaxconcurrency:
            description:
              - Concurrent parts in a multipart copy.
            type: int
          multipartcopythresholdsize:
            description:
              - Objects above this size are copied in parts.
            type: int
          rootdirectory:
            description:
              - Key prefix inside the bucket.
            type: str
          storageclass:
            description:
              - Storage class of new objects.
            type: str
          useragent:
            description:
              - User-Agent of requests.
            type: str
          objectacl:
            description:
              - Canned ACL of new objects.
            type: str
          usedualstack:
            description:
              - Use the dual-stack endpoint.
              - Registry 3.x only.
            type: bool
          loglevel:
            description:
              - AWS SDK log level.
              - Registry 3.x only.
            type: str
      azure:
        description:
          - Azure Blob Storage driver.
        type: dict
        suboptions:
          accountname:
            description:
              - Storage account name (required).
            type: str
          accountkey:
            description:
              - Storage account key (required on 2.8; on 3.x with O(storage.azure.credentials.type=shared_key)).
              - 'Secret: not logged, masked in the diff and in RV(config).'
            type: str
          container:
            description:
              - Container (required).
            type: str
          realm:
            description:
              - Domain suffix of the storage endpoint.
            type: str
          rootdirectory:
            description:
              - Key prefix inside the container.
              - Registry 3.x only.
            type: str
          serviceurl:
            description:
              - Service URL.
              - Registry 3.x only.
            type: str
          max_retries:
            description:
              - Retries of a driver operation.
              - Registry 3.x only.
            type: int
          retry_delay:
            description:
              - Delay between retries.
              - Registry 3.x only.
              - A Go duration such as V(10s) or V(168h).
            type: str
          skipverify:
            description:
              - Skip TLS verification.
              - Registry 3.x only.
            type: bool
          credentials:
            description:
              - How the driver authenticates (required on 3.x).
              - Registry 3.x only.
            type: dict
            suboptions:
              type:
                description:
                  - Credential type.
                type: str
                choices: [client_secret, shared_key, default_credentials]
              clientid:
                description:
                  - Application (client) ID, for client_secret.
                type: str
              tenantid:
                description:
                  - Directory (tenant) ID, for client_secret.
                type: str
              secret:
                description:
                  - Client secret, for client_secret.
                  - 'Secret: not logged, masked in the diff and in RV(config).'
                type: str
      gcs:
        description:
          - Google Cloud Storage driver.
        type: dict
        suboptions:
          bucket:
            description:
              - Bucket (required).
            type: str
          keyfile:
            description:
              - Service account key file (or O(storage.gcs.credentials), not both).
            type: str
          credentials:
            description:
              - Service account key given inline, with the keys of its JSON file.
            type: dict
            suboptions:
              type:
                description:
                  - Always service_account.
                type: str
              project_id:
                description:
                  - Project.
                type: str
              private_key_id:
                description:
                  - Key ID.
                  - 'Secret: not logged, masked in the diff and in RV(config).'
                type: str
              private_key:
                description:
                  - PEM private key.
                  - 'Secret: not logged, masked in the diff and in RV(config).'
                type: str
              client_email:
                description:
                  - Service account e-mail.
                type: str
              client_id:
                description:
                  - Client ID.
                type: str
              auth_uri:
                description:
                  - Auth URI.
                type: str
              token_uri:
                description:
                  - Token URI.
                type: str
              auth_provider_x509_cert_url:
                description:
                  - Provider certificate URL.
                type: str
              client_x509_cert_url:
                description:
                  - Client certificate URL.
                type: str
              universe_domain:
                description:
                  - Universe domain.
                type: str
          rootdirectory:
            description:
              - Object name prefix.
            type: str
          chunksize:
            description:
              - Upload chunk size (a multiple of 256 KiB).
            type: int
          maxconcurrency:
            description:
              - Concurrent driver operations.
            type: int
          useragent:
            description:
              - User-Agent of requests.
              - Registry 3.x only.
            type: str
      swift:
        description:
          - OpenStack Swift driver.
          - 'Registry 2.8 only: the swift driver was removed in registry 3.0; use s3, azure, gcs or filesystem.'
        type: dict
        suboptions:
          authurl:
            description:
              - Identity endpoint (required).
            type: str
          username:
            description:
              - User (required).
            type: str
          password:
            description:
              - Password (required).
              - 'Secret: not logged, masked in the diff and in RV(config).'
            type: str
          container:
            description:
              - Container (required).
            type: str
          region:
            description:
              - Region.
            type: str
          tenant:
            description:
              - Tenant name.
            type: str
          tenantid:
            description:
              - Tenant ID.
            type: str
          domain:
            description:
              - Identity v3 domain name.
            type: str
          domainid:
            description:
              - Identity v3 domain ID.
            type: str
          tenantdomain:
            description:
              - Identity v3 tenant domain name.
            type: str
          tenantdomainid:
            description:
              - Identity v3 tenant domain ID.
            type: str
          trustid:
            description:
              - Identity v3 trust ID.
            type: str
          authversion:
            description:
              - Identity API version.
            type: int
          endpointtype:
            description:
              - Endpoint type (public, internal, admin).
            type: str
          insecureskipverify:
            description:
              - Skip TLS verification.
            type: bool
          chunksize:
            description:
              - Segment size in bytes.
            type: int
          prefix:
            description:
              - Object name prefix.
            type: str
          secretkey:
            description:
              - Secret key for temporary URLs.
              - 'Secret: not logged, masked in the diff and in RV(config).'
            type: str
          accesskey:
            description:
              - Access key for temporary URLs.
            type: str
          tempurlcontainerkey:
            description:
              - Use the container key for temporary URLs.
            type: bool
          tempurlmethods:
            description:
              - Methods served by temporary URLs.
            type: list
            elements: str
      oss:
        description:
          - Aliyun OSS driver.
          - 'Registry 2.8 only: the oss driver was removed in registry 3.0; use s3, azure, gcs or filesystem.'
        type: dict
        suboptions:
          accesskeyid:
            description:
              - Access key ID (required).
            type: str
          accesskeysecret:
            description:
              - Access key secret (required).
              - 'Secret: not logged, masked in the diff and in RV(config).'
            type: str
          region:
            description:
              - Region (required).
            type: str
          bucket:
            description:
              - Bucket (required).
            type: str
          endpoint:
            description:
              - Endpoint.
            type: str
          internal:
            description:
              - Use the internal endpoint.
            type: bool
          encrypt:
            description:
              - Encrypt objects server-side.
            type: bool
          secure:
            description:
              - Use HTTPS.
            type: bool
          chunksize:
            description:
              - Chunk size in bytes.
            type: int
          rootdirectory:
            description:
              - Object name prefix.
            type: str
      delete:
        description:
          - Deletes by digest.
        type: dict
        suboptions:
          enabled:
            description:
              - 'Allow DELETE of manifests and blobs (the registry''s default: no).'
            type: bool
      redirect:
        description:
          - Redirects to the storage backend.
        type: dict
        suboptions:
          disable:
            description:
              - Serve blobs through the registry.
            type: bool
      cache:
        description:
          - Blob descriptor cache.
        type: dict
        suboptions:
          blobdescriptor:
            description:
              - Cache kind (redis needs O(redis)).
            type: str
            choices: [inmemory, redis]
          blobdescriptorsize:
            description:
              - Entries of the inmemory cache.
              - Registry 3.x only.
            type: int
      maintenance:
        description:
          - Maintenance.
        type: dict
        suboptions:
          uploadpurging:
            description:
              - Removal of abandoned uploads.
            type: dict
            suboptions:
              enabled:
                description:
                  - Purge old uploads.
                type: bool
              age:
                description:
                  - Uploads older than this are purged.
                  - A Go duration such as V(10s) or V(168h).
                type: str
              interval:
                description:
                  - Time between purges.
                  - A Go duration such as V(10s) or V(168h).
                type: str
              dryrun:
                description:
                  - Only log what would be purged.
                type: bool
          readonly:
            description:
              - Read-only mode.
            type: dict
            suboptions:
              enabled:
                description:
                  - Refuse pushes and deletes.
                type: bool
  http:
    description:
      - The C(http) section.
    type: dict
    suboptions:
      addr:
        description:
          - 'Listen address. On tcp, host:port with a port from 1 to 65535: C(:5000) (every address), C(0.0.0.0:5000),
            C([::]:5000) (IPv6 in brackets) or C(localhost:5000); C(:5000) is written when not given, since without it
            the registry listens on a random port. With O(http.net=unix), the absolute path of the socket inside the
            registry''s container (required).'
        type: str
      net:
        description:
          - Listener network; with V(unix), O(http.addr) is the path of a socket.
        type: str
        choices: [tcp, unix]
      host:
        description:
          - External URL of the registry, for Location headers (not with O(http.relativeurls=true)).
        type: str
      prefix:
        description:
          - URL path prefix.
        type: str
      secret:
        description:
          - Secret that signs upload state; the same on every replica (required when O(replicas) > 1).
          - 'Secret: not logged, masked in the diff and in RV(config).'
        type: str
      relativeurls:
        description:
          - Return relative Location headers.
        type: bool
      draintimeout:
        description:
          - Time to drain connections on shutdown.
          - A Go duration such as V(10s) or V(168h).
        type: str
      tls:
        description:
          - TLS served by the registry itself.
        type: dict
        suboptions:
          certificate:
            description:
              - Certificate chain (PEM).
            type: str
          key:
            description:
              - Private key (PEM), a path.
            type: str
          clientcas:
            description:
              - CA bundles that client certificates must chain to (mTLS).
            type: list
            elements: str
          clientauth:
            description:
              - Client certificate policy.
              - Registry 3.x only.
            type: str
            choices:
              - request-client-cert
              - require-any-client-cert
              - verify-client-cert-if-given
              - require-and-verify-client-cert
          minimumtls:
            description:
              - Lowest TLS version (registry 3.x knows tls1.2 and tls1.3 only).
            type: str
            choices: [tls1.0, tls1.1, tls1.2, tls1.3]
          ciphersuites:
            description:
              - Allowed cipher suites (Go names).
            type: list
            elements: str
          letsencrypt:
            description:
              - Certificates from an ACME CA instead of O(http.tls.certificate).
            type: dict
            suboptions:
              cachefile:
                description:
                  - Cache file (required for Let's Encrypt).
                type: str
              email:
                description:
                  - Account e-mail.
                type: str
              hosts:
                description:
                  - Host names allowed to get certificates.
                type: list
                elements: str
              directoryurl:
                description:
                  - ACME directory URL.
                  - Registry 3.x only.
                type: str
      headers:
        description:
          - 'HTTP headers: a map of header name to a list of values (a single string is taken as a one-item
            list).'
        type: dict
      debug:
        description:
          - Debug server.
        type: dict
        suboptions:
          addr:
            description:
              - Listen address of the debug server.
            type: str
          prometheus:
            description:
              - Prometheus metrics on the debug server (needs O(http.debug.addr)).
            type: dict
            suboptions:
              enabled:
                description:
                  - Serve metrics.
                type: bool
              path:
                description:
                  - Metrics path.
                type: str
      http2:
        description:
          - HTTP/2.
        type: dict
        suboptions:
          disabled:
            description:
              - Only serve HTTP/1.1.
            type: bool
      h2c:
        description:
          - HTTP/2 over cleartext.
          - Registry 3.x only.
        type: dict
        suboptions:
          enabled:
            description:
              - Serve h2c.
            type: bool
  auth:
    description:
      - 'The C(auth) section: at most one provider; none means no authentication.'
    type: dict
    suboptions:
      htpasswd:
        description:
          - Basic authentication from an htpasswd file (bcrypt entries only).
        type: dict
        suboptions:
          realm:
            description:
              - Realm of the Basic challenge.
            type: str
            default: Registry Realm
          path:
            description:
              - The htpasswd file inside the registry's container (required).
            type: str
      token:
        description:
          - Bearer token authentication.
        type: dict
        suboptions:
          realm:
            description:
              - Token endpoint that clients are sent to (required).
            type: str
          service:
            description:
              - Service name, the token's audience (required).
            type: str
          issuer:
            description:
              - Issuer that tokens must carry (required).
            type: str
          rootcertbundle:
            description:
              - Certificates whose keys sign tokens (required; on 3.x this or O(auth.token.jwks)).
            type: str
          autoredirect:
            description:
              - Build the realm from the request's host.
            type: bool
          autoredirectpath:
            description:
              - Path used with O(auth.token.autoredirect).
              - Registry 3.x only.
            type: str
          jwks:
            description:
              - JSON Web Key Set of token signing keys.
              - Registry 3.x only.
            type: str
          signingalgorithms:
            description:
              - Accepted signing algorithms.
              - Registry 3.x only.
            type: list
            elements: str
            choices:
              - EdDSA
              - HS256
              - HS384
              - HS512
              - RS256
              - RS384
              - RS512
              - ES256
              - ES384
              - ES512
              - PS256
              - PS384
              - PS512
  notifications:
    description:
      - The C(notifications) section.
    type: dict
    suboptions:
      events:
        description:
          - Event format.
        type: dict
        suboptions:
          includereferences:
            description:
              - Include references in manifest events.
            type: bool
      endpoints:
        description:
          - Webhook endpoints.
        type: list
        elements: dict
        suboptions:
          name:
            description:
              - Endpoint name (required, unique).
            type: str
          disabled:
            description:
              - Turn this endpoint off.
            type: bool
          url:
            description:
              - URL events are posted to (required).
            type: str
          headers:
            description:
              - 'HTTP headers: a map of header name to a list of values (a single string is taken as a one-item
                list). Every value is secret (it often carries credentials).'
              - 'Secret: not logged, masked in the diff and in RV(config).'
            type: dict
          timeout:
            description:
              - HTTP timeout.
              - A Go duration such as V(10s) or V(168h).
            type: str
          threshold:
            description:
              - Failures before backing off.
            type: int
          backoff:
            description:
              - Back-off time.
              - A Go duration such as V(10s) or V(168h).
            type: str
          ignoredmediatypes:
            description:
              - Media types not notified.
            type: list
            elements: str
          ignore:
            description:
              - Events not notified.
            type: dict
            suboptions:
              mediatypes:
                description:
                  - Media types.
                type: list
                elements: str
              actions:
                description:
                  - Actions.
                type: list
                elements: str
                choices: [pull, push, mount, delete]
  redis:
    description:
      - The C(redis) section (the 2.8 and the 3.x shapes differ).
    type: dict
    suboptions:
      addr:
        description:
          - host:port of Redis (required on 2.8).
          - 'Registry 2.8 only: removed in registry 3.0: use addrs (a list).'
        type: str
      addrs:
        description:
          - host:port of each Redis (required on 3.x).
          - Registry 3.x only.
        type: list
        elements: str
      username:
        description:
          - Redis ACL user.
          - Registry 3.x only.
        type: str
      password:
        description:
          - Redis password.
          - 'Secret: not logged, masked in the diff and in RV(config).'
        type: str
      db:
        description:
          - Database number.
        type: int
      dialtimeout:
        description:
          - Connect timeout.
          - A Go duration such as V(10s) or V(168h).
        type: str
      readtimeout:
        description:
          - Read timeout.
          - A Go duration such as V(10s) or V(168h).
        type: str
      writetimeout:
        description:
          - Write timeout.
          - A Go duration such as V(10s) or V(168h).
        type: str
      pool:
        description:
          - Connection pool.
          - 'Registry 2.8 only: removed in registry 3.0: registry 3.x uses addrs and the go-redis pool options
            (poolsize, maxidleconns...) instead.'
        type: dict
        suboptions:
          maxidle:
            description:
              - Idle connections kept.
            type: int
          maxactive:
            description:
              - Connections at most.
            type: int
          idletimeout:
            description:
              - Idle connections are closed after this.
              - A Go duration such as V(10s) or V(168h).
            type: str
      poolsize:
        description:
          - Connections at most.
          - Registry 3.x only.
        type: int
      minidleconns:
        description:
          - Idle connections kept at least.
          - Registry 3.x only.
        type: int
      maxidleconns:
        description:
          - Idle connections kept at most.
          - Registry 3.x only.
        type: int
      maxactiveconns:
        description:
          - Active connections at most.
          - Registry 3.x only.
        type: int
      connmaxidletime:
        description:
          - Idle connections are closed after this.
          - Registry 3.x only.
          - A Go duration such as V(10s) or V(168h).
        type: str
      connmaxlifetime:
        description:
          - Connections are closed after this.
          - Registry 3.x only.
          - A Go duration such as V(10s) or V(168h).
        type: str
      clientname:
        description:
          - Client name.
          - Registry 3.x only.
        type: str
      mastername:
        description:
          - Sentinel master name.
          - Registry 3.x only.
        type: str
      sentinelusername:
        description:
          - Sentinel user.
          - Registry 3.x only.
        type: str
      sentinelpassword:
        description:
          - Sentinel password.
          - Registry 3.x only.
          - 'Secret: not logged, masked in the diff and in RV(config).'
        type: str
      tls:
        description:
          - TLS to Redis.
          - Registry 3.x only.
        type: dict
        suboptions:
          certificate:
            description:
              - Client certificate.
            type: str
          key:
            description:
              - Client key, a path.
            type: str
          rootcas:
            description:
              - CA bundles.
            type: list
            elements: str
  health:
    description:
      - The C(health) section.
    type: dict
    suboptions:
      storagedriver:
        description:
          - Storage driver check.
        type: dict
        suboptions:
          enabled:
            description:
              - Check the driver.
            type: bool
          interval:
            description:
              - Time between checks.
              - A Go duration such as V(10s) or V(168h).
            type: str
          threshold:
            description:
              - Failures.
            type: int
      file:
        description:
          - 'File checks: unhealthy while the file exists.'
        type: list
        elements: dict
        suboptions:
          file:
            description:
              - File (required).
            type: str
          interval:
            description:
              - Interval.
              - A Go duration such as V(10s) or V(168h).
            type: str
          threshold:
            description:
              - Failures.
            type: int
      http:
        description:
          - HTTP checks.
        type: list
        elements: dict
        suboptions:
          uri:
            description:
              - URI (required).
            type: str
          headers:
            description:
              - 'HTTP headers: a map of header name to a list of values (a single string is taken as a one-item
                list). Every value is secret.'
              - 'Secret: not logged, masked in the diff and in RV(config).'
            type: dict
          statuscode:
            description:
              - Expected status.
            type: int
          timeout:
            description:
              - Timeout.
              - A Go duration such as V(10s) or V(168h).
            type: str
          interval:
            description:
              - Interval.
              - A Go duration such as V(10s) or V(168h).
            type: str
          threshold:
            description:
              - Failures.
            type: int
      tcp:
        description:
          - TCP checks.
        type: list
        elements: dict
        suboptions:
          addr:
            description:
              - host:port (required).
            type: str
          timeout:
            description:
              - Timeout.
              - A Go duration such as V(10s) or V(168h).
            type: str
          interval:
            description:
              - Interval.
              - A Go duration such as V(10s) or V(168h).
            type: str
          threshold:
            description:
              - Failures.
            type: int
  proxy:
    description:
      - 'The C(proxy) section: a pull-through cache of O(proxy.remoteurl).'
    type: dict
    suboptions:
      remoteurl:
        description:
          - Upstream registry (required).
        type: str
      username:
        description:
          - Upstream user (with O(proxy.password)).
        type: str
      password:
        description:
          - Upstream password.
          - 'Secret: not logged, masked in the diff and in RV(config).'
        type: str
      ttl:
        description:
          - Cached content expires after this (0 never).
          - Registry 3.x only.
          - A Go duration such as V(10s) or V(168h).
        type: str
      exec:
        description:
          - Credential helper instead of O(proxy.username).
          - Registry 3.x only.
        type: dict
        suboptions:
          command:
            description:
              - Command (required).
            type: str
          lifetime:
            description:
              - Cache its answer this long.
              - A Go duration such as V(10s) or V(168h).
            type: str
  validation:
    description:
      - The C(validation) section.
    type: dict
    suboptions:
      enabled:
        description:
          - Deprecated form of O(validation.disabled=false).
        type: bool
      disabled:
        description:
          - Turn manifest validation off.
        type: bool
      manifests:
        description:
          - Manifest validation.
        type: dict
        suboptions:
          urls:
            description:
              - Foreign layer URLs.
            type: dict
            suboptions:
              allow:
                description:
                  - Regular expressions URLs must match.
                type: list
                elements: str
              deny:
                description:
                  - Regular expressions URLs must not match.
                type: list
                elements: str
          indexes:
            description:
              - Platforms an index must hold.
              - Registry 3.x only.
            type: dict
            suboptions:
              platforms:
                description:
                  - Which platforms.
                type: str
                choices: [all, none, list]
              platformlist:
                description:
                  - Platforms for O(validation.manifests.indexes.platforms=list).
                type: list
                elements: dict
                suboptions:
                  architecture:
                    description:
                      - Architecture.
                    type: str
                  os:
                    description:
                      - OS.
                    type: str
  catalog:
    description:
      - The C(catalog) section.
    type: dict
    suboptions:
      maxentries:
        description:
          - Most entries one catalog page returns.
        type: int
  reporting:
    description:
      - The C(reporting) section.
      - 'Registry 2.8 only: the reporting section was removed in registry 3.0.'
    type: dict
    suboptions:
      bugsnag:
        description:
          - Bugsnag.
        type: dict
        suboptions:
          apikey:
            description:
              - API key.
              - 'Secret: not logged, masked in the diff and in RV(config).'
            type: str
          releasestage:
            description:
              - Release stage.
            type: str
          endpoint:
            description:
              - Enterprise endpoint.
            type: str
      newrelic:
        description:
          - New Relic.
        type: dict
        suboptions:
          licensekey:
            description:
              - License key.
              - 'Secret: not logged, masked in the diff and in RV(config).'
            type: str
          name:
            description:
              - Component name.
            type: str
          verbose:
            description:
              - Debug output.
            type: bool
  compatibility:
    description:
      - The C(compatibility) section.
      - 'Registry 2.8 only: schema1 manifests and the compatibility section were removed in registry 3.0.'
    type: dict
    suboptions:
      schema1:
        description:
          - Schema 1 manifests.
        type: dict
        suboptions:
          signingkeyfile:
            description:
              - Key that signs schema1 manifests.
            type: str
          enabled:
            description:
              - Serve schema1 manifests.
            type: bool
notes:
  - Registry 3.x cannot run on the test machines of this collection; its checks are covered by unit tests only.
    Registry 2.8 (Debian's docker-registry 2.8.2) is tested for real.
seealso:
  - name: Registry configuration reference
    description: The upstream reference the options mirror.
    link: https://distribution.github.io/distribution/about/configuration/
"""

EXAMPLES = r"""
- name: Registry with htpasswd authentication, deletes enabled, behind a proxy that terminates TLS
  dockyard.registry.registry_config:
    path: /etc/docker/registry/config.yml
    log:
      level: info
      fields:
        service: registry
    storage:
      filesystem:
        rootdirectory: /var/lib/registry
      delete:
        enabled: true
      maintenance:
        uploadpurging:
          enabled: true
          age: 168h
          interval: 24h
    http:
      addr: :5000
      relativeurls: true
      secret: "{{ registry_http_secret }}"
      headers:
        X-Content-Type-Options: [nosniff]
    auth:
      htpasswd:
        realm: Dockyard Registry
        path: /etc/docker/registry/htpasswd
    health:
      storagedriver:
        enabled: true
        interval: 10s
        threshold: 3

- name: Token authentication on S3, two replicas
  dockyard.registry.registry_config:
    path: /etc/docker/registry/config.yml
    replicas: 2
    storage:
      s3:
        region: eu-west-1
        bucket: dockyard-registry
        accesskey: AKIAIOSFODNN7EXAMPLE
        secretkey: "{{ vault_s3_secret_key }}"
      cache:
        blobdescriptor: redis
    redis:
      addr: redis.internal:6379
      password: "{{ vault_redis_password }}"
    http:
      secret: "{{ vault_registry_http_secret }}"
    auth:
      token:
        realm: https://auth.example.com/token
        service: registry.example.com
        issuer: dockyard-token-server
        rootcertbundle: /etc/docker/registry/token-signing.crt

- name: Registry 3 pull-through cache of Docker Hub, content kept for a day
  dockyard.registry.registry_config:
    path: /etc/distribution/config.yml
    registry_version: "3"
    proxy:
      remoteurl: https://registry-1.docker.io
      username: dockyard
      password: "{{ vault_hub_token }}"
      ttl: 24h
"""

RETURN = r"""
path:
  description: The configuration file.
  returned: always
  type: str
  sample: /etc/docker/registry/config.yml
config:
  description:
    - The configuration as written (or as it would be written in check mode), with every secret replaced by
      C(********).
  returned: always
  type: dict
  sample:
    version: "0.1"
    storage:
      filesystem:
        rootdirectory: /var/lib/registry
      delete:
        enabled: true
    http:
      addr: :5000
      secret: "********"
    auth:
      htpasswd:
        realm: Registry Realm
        path: /etc/docker/registry/htpasswd
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
from ansible_collections.dockyard.registry.plugins.module_utils import _files  # noqa: E402
from ansible_collections.dockyard.registry.plugins.module_utils import _registry_config as rc  # noqa: E402
from ansible_collections.dockyard.registry.plugins.module_utils._registry_config_schema import (  # noqa: E402
    SECTIONS,
    VERSIONS,
    argument_spec,
)

DEFAULT_MODE = "0640"


def module_spec() -> dict:
    spec = {
        "path": {"type": "path", "required": True},
        "registry_version": {"type": "str", "choices": list(VERSIONS), "default": "2.8"},
        "replicas": {"type": "int", "default": 1},
    }
    spec.update(argument_spec(SECTIONS))
    return spec


class RegistryConfig:
    """The state logic: predict the file from the options, then write it unless in check mode."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        self.path = module.params["path"]

    def run(self) -> dict:
        params = self.module.params
        if os.path.isdir(self.path):
            self.module.fail_json(
                msg=f"path: {self.path} is a directory; give the file, e.g. {os.path.join(self.path, 'config.yml')}"
            )
        sections = {name: params[name] for name in SECTIONS}
        try:
            config, warnings = rc.prepare(sections, params["registry_version"], params["replicas"])
        except rc.ConfigError as exc:
            self.module.fail_json(
                msg=f"cannot write {self.path}, the registry configuration is not valid: " + "; ".join(exc.errors),
                errors=exc.errors,
            )
        for warning in warnings:
            self.module.warn(warning)
        content = rc.render(config).encode("utf-8")
        before = _files.read_file(self.path)
        file_args = _files.file_args_for(self.module, self.path, DEFAULT_MODE)
        changed = _files.write_file(self.module, self.path, content, file_args)
        masked = rc.mask(config)
        result = {"changed": changed, "path": self.path, "config": masked}
        if self.module._diff:
            before_text, after_text = rc.diff(before, config)
            result["diff"] = {
                "before_header": self.path,
                "after_header": self.path,
                "before": before_text,
                "after": after_text,
            }
        return result


def main():
    module = AnsibleModule(argument_spec=module_spec(), supports_check_mode=True, add_file_common_args=True)
    if rc.YAML_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"), exception=rc.YAML_IMPORT_ERROR)
    module.exit_json(**RegistryConfig(module).run())


if __name__ == "__main__":
    main()

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stack that ``make run`` deployed on this machine, as the benchmarks see it.

Where its CA and the admin's password are (``stack_secrets_dir`` of ``inventory/localhost.yml``), which
authentication it asks for (the registry's 401 challenge: Basic or Bearer), how the
traffic reaches it (docker's userland proxy or not, nginx to the registry over TCP or a
unix socket), and a small registry client over HTTPS that answers either challenge,
pushes a small image and deletes images again. Used by bench/transfer.py and
bench/auth_rate.py (bench/token_server.py takes its docker helper); it only ever talks to
loopback addresses.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import ipaddress
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import tarfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from _report import log

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "inventory" / "localhost.yml"


def inventory_secrets_dir() -> Path:
    """The secrets directory that make run's inventory names (stack_secrets_dir)."""
    with INVENTORY.open(encoding="utf-8") as stream:
        return Path(yaml.safe_load(stream)["all"]["vars"]["stack_secrets_dir"])


DEFAULT_SECRETS = inventory_secrets_dir()
DEFAULT_NAME = "registry.dockyard.test"
DEFAULT_USER = "admin"
# make run's containers (roles/registry, roles/proxy, roles/token_auth, roles/mariadb defaults).
PROXY_CONTAINER = "dockyard-proxy"
REGISTRY_CONTAINER = "registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_ACCEPT = f"{OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json"
HTTP_TIMEOUT = 60


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


@contextlib.contextmanager
def exit_status():
    """A BenchError ends the benchmark with status 2 and Ctrl-C with 130 (SystemExit: the caller's clean-up runs)."""
    try:
        yield
    except BenchError as exc:
        log(f"failed: {exc}")
        raise SystemExit(2) from exc
    except KeyboardInterrupt as exc:
        log("interrupted")
        raise SystemExit(130) from exc


def docker(*args: str, timeout: int = 120, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise BenchError(f"docker {' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-1000:]}")
    return proc


def loopback_only(host: str, port: int) -> None:
    """Refuse a host that resolves to anything but loopback: the benchmarks send traffic nowhere else."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except OSError as exc:
        raise BenchError(f"{host} does not resolve ({exc}); deploy the stack with `make run` first") from exc
    outside = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback)
    if outside:
        raise BenchError(f"{host} resolves to {', '.join(outside)}, not loopback: the benchmark talks to loopback only")


@dataclass
class Stack:
    """The deployed stack's address and the files a client needs."""

    name: str
    port: int
    ca_file: Path
    user: str
    password: str = field(repr=False)

    @classmethod
    def from_checkout(cls, secrets_dir: Path, name: str, user: str, port: int = 443) -> Stack:
        ca_file = secrets_dir / "pki" / "ca.crt"
        password_file = secrets_dir / f"{user}.password"
        for path in (ca_file, password_file):
            if not path.is_file():
                raise BenchError(f"{path} is missing: deploy the stack with `make run` first (or pass --secrets-dir)")
        loopback_only(name, port)
        password = password_file.read_text(encoding="utf-8").strip()
        return cls(name=name, port=port, ca_file=ca_file, user=user, password=password)

    @property
    def address(self) -> str:
        """host[:port] as clients name the registry."""
        return self.name if self.port == 443 else f"{self.name}:{self.port}"

    def basic_credentials(self) -> str:
        return base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    def write_authfile(self, path: Path) -> Path:
        """A containers-auth.json for skopeo (--authfile), so that the password is not in any argv."""
        path.write_text(json.dumps({"auths": {self.address: {"auth": self.basic_credentials()}}}) + "\n")
        path.chmod(0o600)
        return path


# -- how the traffic reaches the stack -----------------------------------------------------------
def listener(port: int) -> str:
    """The process that listens on 127.0.0.1:<port> (docker-proxy, nginx, ...), from ss."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        names = sorted(set(re.findall(r'users:\(\("([^"]+)"', out)))
        if names:
            return ", ".join(names)
    return "unknown"


def container_image(name: str) -> str:
    """The image ID a running container was made from, or ""."""
    proc = docker("inspect", "--format", "{{.Image}}", name, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def container_mounts(name: str) -> list[tuple[str, str]]:
    """(destination, host source) of a container's mounts; [] when it does not run."""
    proc = docker("inspect", "--format", "{{json .Mounts}}", name, check=False)
    if proc.returncode != 0:
        return []
    return [(m.get("Destination", ""), m.get("Source", "")) for m in json.loads(proc.stdout or "[]") or []]


def host_path(mounts: list[tuple[str, str]], path: str) -> Path | None:
    """Where a path inside the container lies on the host, through its mounts."""
    inside = [(d, s) for d, s in mounts if path == d or path.startswith(d.rstrip("/") + "/")]
    if not inside:
        return None
    destination, source = max(inside, key=lambda m: len(m[0]))
    return Path(source) / path[len(destination) :].lstrip("/")


def nginx_site() -> tuple[str, list[tuple[str, str]]]:
    """The proxy container's site configuration (its conf.d/*.conf, read on the host) and its mounts."""
    mounts = container_mounts(PROXY_CONTAINER)
    directory = host_path(mounts, "/etc/nginx/conf.d")
    if directory is None or not directory.is_dir():
        return "", mounts
    return "\n".join(c.read_text(encoding="utf-8", errors="replace") for c in sorted(directory.glob("*.conf"))), mounts


def proxy_upstream() -> str:
    """The registry upstream nginx uses (``server ...;`` of ``upstream dockyard_registry``)."""
    block = re.search(r"upstream\s+dockyard_registry\s*\{(.*?)\}", nginx_site()[0], re.S)
    return ", ".join(re.findall(r"^\s*server\s+([^;\s]+)", block.group(1), re.M)) if block else ""


def stored_hash(user: str) -> str:
    """How nginx's htpasswd file stores the user's password (scheme and bcrypt cost), read on the host."""
    site, mounts = nginx_site()
    # nginx's own auth_basic, or the file the proxy's perl handler reads (set $dockyard_htpasswd ...).
    found = re.search(r"(?:auth_basic_user_file|set\s+\$dockyard_htpasswd)\s+([^;\s]+)", site)
    path = host_path(mounts, found.group(1)) if found else None
    if path is None or not path.is_file():
        return "unknown (no htpasswd file found)"
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        name, _sep, stored = line.partition(":")
        if name == user:
            bcrypt = re.match(r"^\$(2[abxy]?)\$(\d+)\$", stored)
            if bcrypt:
                return f"bcrypt (${bcrypt.group(1)}$), cost {int(bcrypt.group(2))}"
            scheme = re.match(r"^(\$[^$]+\$|\{[A-Za-z0-9-]+\})", stored)
            return f"not bcrypt: {scheme.group(1) if scheme else 'crypt or plain text'}"
    return f"unknown ({user} not in the htpasswd file)"


def stack_path(stack: Stack) -> str:
    """The path a client's bytes take through the stack, as far as this machine shows it."""
    front = listener(stack.port)
    network = docker("inspect", "--format", "{{.HostConfig.NetworkMode}}", PROXY_CONTAINER, check=False)
    proxy = f"nginx (container {PROXY_CONTAINER}, network {network.stdout.strip() or 'unknown'}, TLS)"
    if "docker-proxy" in front:
        hop = f"docker's userland proxy (docker-proxy) -> {proxy}"
    elif "nginx" in front:
        hop = f"{proxy}, listening itself (no docker-proxy)"
    else:
        hop = f"{front} -> {proxy}"
    upstream = proxy_upstream()
    if upstream.startswith("unix:"):
        inner = f"the registry on a unix socket ({upstream.removeprefix('unix:')})"
    elif upstream:
        inner = f"the registry over TCP ({upstream})"
    else:
        inner = "the registry (upstream not found in nginx's configuration)"
    return f"client -> 127.0.0.1:{stack.port} -> {hop} -> {inner}"


def image_versions() -> dict[str, str]:
    """nginx's and the registry's versions, asked of the images the stack's containers run, in throw-away
    containers of our own (nothing runs inside make run's containers)."""
    found = {}
    for label, container, argv in (
        ("nginx", PROXY_CONTAINER, ("nginx", "-v")),
        ("registry", REGISTRY_CONTAINER, ("registry", "--version")),
    ):
        image = container_image(container)
        version = "unknown"
        if image:
            proc = docker(
                "run", "--rm", "--network", "none", "--name", f"dockyard-bench-version-{label}-{secrets.token_hex(4)}",
                "--entrypoint", argv[0], image, *argv[1:],
                check=False, timeout=60,
            )  # fmt: skip
            text = (proc.stdout + proc.stderr).strip().splitlines()
            if proc.returncode == 0 and text:
                # "nginx version: nginx/1.22.1", "registry github.com/docker/distribution 2.8.2+ds1"
                version = text[-1].strip().removeprefix("nginx version: ").removeprefix("registry ")
        found[label] = f"{version} (container {container})"
    return found


# -- a registry client ---------------------------------------------------------------------------
@dataclass
class Pushed:
    """An image in a repository: what deleting it again needs."""

    repository: str
    manifest_digest: str
    blobs: list[str]


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="...",scope="..."`` -> ("bearer", {...}); ``Basic realm=...`` -> ("basic", {})."""
    scheme, _sep, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


REPOSITORY_PATH = re.compile(r"^/v2/(.+?)/(?:manifests|blobs|tags)/")


class Registry:
    """The distribution API of one registry over HTTPS, answering its Basic or Bearer challenge with the
    given credentials (none: anonymous). One connection, reopened when the server closes it. Bearer tokens
    are asked per repository for pull, push and delete (the admin gets all three)."""

    def __init__(self, host: str, port: int, ca_file: Path, credentials: str = "") -> None:
        loopback_only(host, port)
        self.host, self.port, self.ca_file = host, port, ca_file
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.credentials = credentials  # base64 of user:password; "" for anonymous
        self.scheme = ""  # learnt from the first challenge: basic or bearer
        self.tokens: dict[str, str] = {}  # repository -> bearer token
        self.conn: http.client.HTTPSConnection | None = None

    @classmethod
    def of(cls, stack: Stack) -> Registry:
        return cls(stack.name, stack.port, stack.ca_file, stack.basic_credentials())

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Answer:
        """One request with exactly these headers (no challenge answered); reconnects once if the server closed
        the connection."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(
                    self.host, self.port, context=self.context, timeout=HTTP_TIMEOUT
                )
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return Answer(response.status, response.headers, response.read())
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def challenge(self) -> tuple[str, dict[str, str]]:
        """The scheme ("basic", "bearer"; "none" without a 401) and parameters of ``GET /v2/`` unauthenticated."""
        answer = self.send("GET", "/v2/", {}, None)
        if answer.status != 401:
            return "none", {}
        return parse_challenge(answer.headers.get("WWW-Authenticate", ""))

    def token(self, params: dict[str, str], scope: str = "") -> tuple[str, int]:
        """A bearer token from the challenge's realm for its service and ``scope`` (default: the challenge's),
        asked with the credentials; (token, expires_in seconds)."""
        realm = urllib.parse.urlsplit(params.get("realm", ""))
        if realm.scheme != "https" or not realm.hostname:
            raise BenchError(f"the registry's token realm {params.get('realm')!r} is not an https URL")
        query = {"service": params.get("service", "")}
        if scope or params.get("scope"):
            query["scope"] = scope or params["scope"]
        auth = Registry(realm.hostname, realm.port or 443, self.ca_file, self.credentials)
        try:
            headers = {"Authorization": f"Basic {self.credentials}"} if self.credentials else {}
            answer = auth.send("GET", f"{realm.path}?{urllib.parse.urlencode(query)}", headers, None)
        finally:
            auth.close()
        if answer.status != 200:
            raise BenchError(f"the token endpoint answered {answer.status} for {query}: {answer.body[:200]!r}")
        data = json.loads(answer.body)
        return data.get("token") or data["access_token"], int(data.get("expires_in", 60))

    def _authorization(self, path: str) -> dict[str, str]:
        if self.scheme == "basic" and self.credentials:
            return {"Authorization": f"Basic {self.credentials}"}
        match = REPOSITORY_PATH.match(path)
        if self.scheme == "bearer" and match and match.group(1) in self.tokens:
            return {"Authorization": f"Bearer {self.tokens[match.group(1)]}"}
        return {}

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> Answer:
        """One request; on a 401 it answers the challenge (Basic, or a token for the repository) and retries once."""
        sent = {**(headers or {}), **self._authorization(path)}
        answer = self.send(method, path, sent, body)
        if answer.status != 401 or not self.credentials:
            return answer
        scheme, params = parse_challenge(answer.headers.get("WWW-Authenticate", ""))
        self.scheme = scheme
        match = REPOSITORY_PATH.match(path)
        if scheme == "bearer" and match:
            self.tokens[match.group(1)] = self.token(params, f"repository:{match.group(1)}:pull,push,delete")[0]
        elif scheme == "bearer":
            sent["Authorization"] = f"Bearer {self.token(params)[0]}"
        elif scheme != "basic":
            return answer
        return self.send(method, path, {**sent, **self._authorization(path)}, body)

    def expect(self, answer: Answer, statuses: tuple[int, ...], what: str) -> Answer:
        if answer.status not in statuses:
            raise BenchError(f"{what}: the registry answered {answer.status}: {answer.body[:300]!r}")
        return answer

    # -- images --------------------------------------------------------------------------------------
    def upload_blob(self, repository: str, data: bytes) -> str:
        """A monolithic upload (POST, then PUT with the digest); the blob's digest."""
        digest = sha256_digest(data)
        started = self.expect(
            self.request("POST", f"/v2/{repository}/blobs/uploads/", {"Content-Length": "0"}, b""),
            (202,),
            f"starting an upload to {repository}",
        )
        location = urllib.parse.urlsplit(started.headers.get("Location", ""))
        query = urllib.parse.parse_qsl(location.query) + [("digest", digest)]
        path = f"{location.path}?{urllib.parse.urlencode(query)}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
        self.expect(self.request("PUT", path, headers, data), (201,), f"uploading a blob to {repository}")
        return digest

    def push_small_image(self, repository: str, tag: str, size: int = 1024) -> Pushed:
        """An OCI image of one small random uncompressed layer, pushed under ``tag``."""
        layer = tar_layer(os.urandom(size))
        layer_digest = self.upload_blob(repository, layer)
        config = image_config(layer_digest)
        config_digest = self.upload_blob(repository, config)
        manifest = oci_manifest(config_digest, len(config), layer_digest, len(layer))
        self.expect(
            self.request("PUT", f"/v2/{repository}/manifests/{tag}", {"Content-Type": OCI_MANIFEST}, manifest),
            (201,),
            f"pushing the manifest of {repository}:{tag}",
        )
        return Pushed(repository, sha256_digest(manifest), [layer_digest, config_digest])

    def delete_image(self, pushed: Pushed) -> list[str]:
        """Delete the manifest and unlink the blobs from the repository (the data stays until the registry's
        garbage collection); what could not be deleted, as messages."""
        problems = []
        for kind, digest in [("manifests", pushed.manifest_digest)] + [("blobs", d) for d in pushed.blobs]:
            answer = self.request("DELETE", f"/v2/{pushed.repository}/{kind}/{digest}")
            if answer.status not in (202, 404):
                problems.append(f"DELETE {pushed.repository}/{kind}/{digest[:19]}: {answer.status}")
        return problems


# -- image contents ------------------------------------------------------------------------------
def tar_header(name: str, size: int) -> bytes:
    """A ustar header for one regular file (mode 0644, mtime 0)."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info.tobuf(format=tarfile.USTAR_FORMAT)


TAR_END = bytes(1024)  # two zero blocks end a tar archive


def tar_layer(payload: bytes) -> bytes:
    """An uncompressed layer holding one file."""
    padding = bytes(-len(payload) % 512)
    return tar_header("payload.bin", len(payload)) + payload + padding + TAR_END


def image_config(layer_digest: str) -> bytes:
    """An OCI image configuration for one uncompressed layer (its diff ID is its digest)."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def oci_manifest(config_digest: str, config_size: int, layer_digest: str, layer_size: int) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer_size}],
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()

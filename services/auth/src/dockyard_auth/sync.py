# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog sync: make the server's repositories and tags match what the registry holds.

The registry's notifications keep the tables current; the sync catches up on
what they missed (events lost in a registry restart, a registry filled before
the server existed). It reads the registry's API with a token the server
issues to its own sync account. Strategies, as in Portus:

* ``initial``: fill an empty table; do nothing if any repository is known.
* ``update``: add what is new and move tags that changed; delete nothing.
* ``update-delete``: as update, and delete what the registry no longer has
  (a repository it still lists without any tag counts as gone), except rows
  changed after the run began: a push notified during the run is newer than
  the listing the run works from, and stays.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import re
import socket
import ssl
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard_auth import tokens
from dockyard_auth.store import Store, utcnow

log = logging.getLogger("dockyard_auth.sync")
STRATEGIES = ("initial", "update", "update-delete")
PAGE = 500
MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class SyncError(Exception):
    pass


@dataclass
class Report:
    strategy: str
    repositories_added: int = 0
    tags_added: int = 0
    tags_updated: int = 0
    tags_deleted: int = 0
    repositories_deleted: int = 0
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class _UnixConnection(http.client.HTTPConnection):
    """Plain HTTP to a registry listening on a unix socket (``http.net: unix``)."""

    def __init__(self, socket_path: str, host: str, timeout: float = 30, **_kwargs) -> None:
        super().__init__(host, timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixHandler(urllib.request.HTTPHandler):
    def __init__(self, socket_path: str) -> None:
        super().__init__()
        self.socket_path = socket_path

    def http_open(self, req):
        return self.do_open(functools.partial(_UnixConnection, self.socket_path), req)


class RegistryReader:
    """The few registry API calls the sync makes, each with a token for exactly what it reads.

    ``base_url`` is ``http(s)://host[:port]``, or ``unix:/path`` for a
    registry listening on a socket of this host.
    """

    def __init__(self, base_url: str, token_for: Callable[[list[dict]], str], ca_file: str | None = None) -> None:
        self.token_for = token_for
        self.context = ssl.create_default_context(cafile=ca_file) if base_url.startswith("https") else None
        if base_url.startswith("unix:"):
            self.base_url = "http://registry"
            self.opener = urllib.request.build_opener(_UnixHandler(base_url[len("unix:") :]))
        else:
            self.base_url = base_url.rstrip("/")
            self.opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self.context))

    def _request(self, method: str, path: str, access: list[dict], accept: str | None = None):
        headers = {"Authorization": f"Bearer {self.token_for(access)}"}
        if accept:
            headers["Accept"] = accept
        request = urllib.request.Request(self.base_url + path, method=method, headers=headers)  # noqa: S310
        try:
            return self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as exc:
            raise SyncError(f"{method} {path}: the registry answered {exc.code}") from exc
        except OSError as exc:
            raise SyncError(f"{method} {path}: {exc}") from exc

    def _paged(self, path: str, key: str, access: list[dict]) -> list[str]:
        items: list[str] = []
        next_path: str | None = f"{path}?n={PAGE}"
        for _page in range(10000):  # bounded: 5 million names at most
            if next_path is None:
                break
            with self._request("GET", next_path, access) as resp:
                body = json.load(resp)
                link = resp.headers.get("Link", "")
            items += body.get(key) or []
            match = _NEXT.search(link)
            next_path = None
            if match:
                parsed = urllib.parse.urlsplit(match.group(1))
                next_path = parsed.path + ("?" + parsed.query if parsed.query else "")
        return items

    def repositories(self) -> list[str]:
        return self._paged("/v2/_catalog", "repositories", [tokens.access_entry("registry", "catalog", ["*"])])

    def tags(self, repository: str) -> list[str]:
        access = [tokens.access_entry("repository", repository, ["pull"])]
        return self._paged(f"/v2/{repository}/tags/list", "tags", access)

    def manifest(self, repository: str, tag: str) -> tuple[str, str]:
        access = [tokens.access_entry("repository", repository, ["pull"])]
        path = f"/v2/{repository}/manifests/{urllib.parse.quote(tag)}"
        with self._request("HEAD", path, access, accept=MANIFEST_ACCEPT) as resp:
            digest = resp.headers.get("Docker-Content-Digest", "")
            media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        if not digest:
            raise SyncError(f"HEAD {path}: no Docker-Content-Digest header")
        return digest, media_type


def run(store: Store, reader: RegistryReader, strategy: str) -> Report:
    if strategy not in STRATEGIES:
        raise SyncError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    report = Report(strategy)
    started = utcnow()
    known = store.all_tags()
    if strategy == "initial" and known:
        log.info("initial sync skipped: the server knows %d repositories already", len(known))
        return report
    registry: dict[str, dict[str, tuple[str, str]]] = {}
    for repository in reader.repositories():
        try:
            registry[repository] = {tag: reader.manifest(repository, tag) for tag in reader.tags(repository)}
        except SyncError as exc:
            log.warning("sync: %s", exc)
            report.skipped.append(repository)

    def apply(conn) -> None:
        for repository, tags in registry.items():
            have = known.get(repository)
            if have is None:
                store.ensure_repository(conn, repository)
                report.repositories_added += 1
                have = {}
            for tag, (digest, media_type) in tags.items():
                if tag not in have:
                    report.tags_added += 1
                elif have[tag][0] != digest and have[tag][1] < started:
                    report.tags_updated += 1
                else:
                    continue
                store.put_tag(conn, repository, tag, digest, media_type, started, unless_changed_since=started)
        if strategy != "update-delete":
            return
        for repository, have in known.items():
            if repository in report.skipped:
                continue
            present = registry.get(repository, {})
            for tag in have:
                if tag not in present and store.delete_tag(
                    conn, repository, tag, started, unless_changed_since=started
                ):
                    report.tags_deleted += 1
            # The registry keeps listing a repository whose tags were all deleted; it holds no image anyone
            # can pull by tag, so it is forgotten like one the registry lost (a namespace can then go).
            if not registry.get(repository) and store.delete_repository_if_unchanged(conn, repository, started):
                report.repositories_deleted += 1

    store.apply_change(apply)
    log.info("sync (%s): %s", strategy, report.as_dict())
    return report

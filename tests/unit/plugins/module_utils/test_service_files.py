"""The pure parts of a service's file set: paths, modes, the digest, the candidate's place, what to mask."""

from __future__ import annotations

import hashlib
import json

import pytest
from ansible_collections.dockyard.registry.plugins.module_utils import _service_files as sf


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0644", "0644"), ("644", "0644"), ("0600", "0600"), ("750", "0750"), (0o640, "0640"), (0o755, "0755")],
)
def test_octal_mode(value, expected):
    assert sf.octal_mode("mode", value) == expected


@pytest.mark.parametrize("value", ["u=rw", "0x644", "06444", "8", "", "0648", True, None, 1.5])
def test_octal_mode_refuses(value):
    with pytest.raises(sf.ServiceFilesError, match="not an octal mode"):
        sf.octal_mode("mode", value)


@pytest.mark.parametrize("value", ["a", "a.conf", "conf.d/registry.conf", "a/b/c", ".hidden", "a/.b", "a..b"])
def test_relative_path_accepts(value):
    assert sf.relative_path("path", value) == value


@pytest.mark.parametrize("value", ["", "/a", "..", "../a", "a/..", "a/../b", ".", "./a", "a/.", "a//b", "a/", "a\x00b"])
def test_relative_path_refuses(value):
    with pytest.raises(sf.ServiceFilesError):
        sf.relative_path("path", value)


def test_root_itself_only_where_allowed():
    assert sf.relative_path("path", ".", allow_root=True) == "."
    with pytest.raises(sf.ServiceFilesError):
        sf.relative_path("path", "./a", allow_root=True)


@pytest.mark.parametrize(
    ("path", "expected"), [("a", []), ("a/b", ["a"]), ("a/b/c", ["a", "a/b"]), ("x/y/z/f", ["x", "x/y", "x/y/z"])]
)
def test_parent_dirs(path, expected):
    assert sf.parent_dirs(path) == expected


def entry(path: str, content: bytes, mode: str = "0644", owner: str = "root", group: str = "root") -> sf.FileEntry:
    return sf.FileEntry(path=path, content=content, attributes=sf.Attributes(mode=mode, owner=owner, group=group))


def test_digest_is_the_documented_hash():
    files = [entry("b", b"2", "0600", "root", "33"), entry("a", b"1")]
    rows = [
        ["a", "0644", "root", "root", hashlib.sha256(b"1").hexdigest()],
        ["b", "0600", "root", "33", hashlib.sha256(b"2").hexdigest()],
    ]
    expected = hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()
    assert sf.digest(files) == expected
    assert sf.digest(list(reversed(files))) == expected


def test_digest_tells_a_path_from_content():
    # Without a structured encoding, ("ab", "c") and ("a", "bc") could hash alike.
    assert sf.digest([entry("ab", b"c")]) != sf.digest([entry("a", b"bc")])
    assert sf.digest([]) != sf.digest([entry("a", b"")])


def test_candidate_parent(tmp_path):
    assert sf.candidate_parent(str(tmp_path / "svc")) == str(tmp_path)
    assert sf.candidate_parent(str(tmp_path / "missing" / "deeper" / "svc")) == str(tmp_path)
    assert sf.candidate_parent("/svc") == "/"


def test_substitute_replaces_every_occurrence():
    argv = ["sh", "-c", "test -f {root}/a && test -f {root}/b", "{root}", "{ro", "--volume={root}/x:/x"]
    assert sf.substitute(argv, "/c") == ["sh", "-c", "test -f /c/a && test -f /c/b", "/c", "{ro", "--volume=/c/x:/x"]


def test_secret_values_are_the_secret_files_only():
    key = "-----BEGIN PRIVATE KEY-----\nAAAABBBBCCCCDDDDEEEE\nshort\n-----END PRIVATE KEY-----\n"
    files = [entry("a", b"public text that is long enough\n"), entry("k", key.encode())]
    files[1].secret = True
    values = sf.secret_values(files)
    assert key in values and key.strip() in values
    assert "AAAABBBBCCCCDDDDEEEE" in values
    assert "short" not in values
    assert not any("public" in value for value in values)

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Repository, account, tag and digest names against distribution's grammar, good and bad."""

from __future__ import annotations

import pytest

from dockyard_auth.names import (
    InvalidName,
    RepositoryName,
    check_account_name,
    check_digest,
    check_tag,
    parse_repository,
)

SHA256 = "sha256:" + "0123456789abcdef" * 4

# ---------------------------------------------------------------- repository names

GOOD_REPOSITORIES = [
    # name, namespace (the first component of the whole name), repository (the rest)
    ("foo", None, "foo"),
    ("a", None, "a"),
    ("0", None, "0"),
    ("foo/bar", "foo", "bar"),
    ("foo/bar/baz", "foo", "bar/baz"),
    ("a__b", None, "a__b"),
    ("a_b", None, "a_b"),
    ("a.b", None, "a.b"),
    ("a-b", None, "a-b"),
    ("a---b", None, "a---b"),
    ("a.b_c__d-e--f", None, "a.b_c__d-e--f"),
    ("team-1/app_2", "team-1", "app_2"),
    ("example.com", None, "example.com"),  # no '/' after it: a path component
    ("localhost", None, "localhost"),
    # A registry host is the namespace: the registry stores the name whole, nothing is stripped.
    ("localhost/foo", "localhost", "foo"),
    ("localhost:5000/foo", "localhost:5000", "foo"),
    ("localhost:5000/foo/bar", "localhost:5000", "foo/bar"),
    ("example.com/a/b", "example.com", "a/b"),
    ("evil.example/web/app", "evil.example", "web/app"),
    ("example.com:443/a/b/c", "example.com:443", "a/b/c"),
    ("Registry.Example.COM/app", "Registry.Example.COM", "app"),
    ("my-host.example:5000/ns/app", "my-host.example:5000", "ns/app"),
    ("10.0.0.1:5000/foo", "10.0.0.1:5000", "foo"),
    ("a" * 255, None, "a" * 255),
    ("/".join(["ab"] * 85), "ab", "/".join(["ab"] * 84)),  # 254 characters
]


@pytest.mark.parametrize(("name", "namespace", "repository"), GOOD_REPOSITORIES)
def test_good_repository_names(name, namespace, repository):
    assert parse_repository(name) == RepositoryName(name, namespace, repository)


BAD_REPOSITORIES = [
    # name, a piece of the message
    ("", "empty"),
    ("Foo", "'Foo'"),
    ("foo/Bar", "'Bar'"),
    ("FOO/bar", "'FOO'"),  # uppercase first component: not a host without '.' or ':'
    ("_foo", "'_foo'"),
    ("-foo", "'-foo'"),
    (".foo", "'.foo'"),
    ("foo_", "'foo_'"),
    ("foo-", "'foo-'"),
    ("foo.", "'foo.'"),
    ("a___b", "'a___b'"),
    ("a..b", "'a..b'"),
    ("a._b", "'a._b'"),
    ("a-_b", "'a-_b'"),
    ("a_-b", "'a_-b'"),
    ("/foo", "empty path component"),
    ("foo/", "empty path component"),
    ("foo//bar", "empty path component"),
    ("/", "empty path component"),
    ("localhost:5000", "needs a path"),
    ("example.com:5000", "needs a path"),
    ("foo:bar", "needs a path"),
    ("localhost:5000/", "empty path component"),
    ("example.com/", "empty path component"),
    ("localhost:port/foo", "registry host"),
    ("-bad.example.com/foo", "registry host"),
    ("bad-.example.com/foo", "registry host"),
    ("bad..example.com/foo", "registry host"),
    ("host:50:00/foo", "registry host"),
    ("host_name.example/foo", "registry host"),
    ("example.com/Foo", "'Foo'"),
    ("localhost:5000/foo:tag", "'foo:tag'"),
    ("foo@sha256", "'foo@sha256'"),
    ("foo bar", "'foo bar'"),
    ("foo\n", "'foo\\n'"),
    ("foo\tbar", "'foo\\tbar'"),
    ("fóo", "'fóo'"),
    ("a" * 256, "256 characters"),
    ("/".join(["ab"] * 86), "257 characters"),
]


@pytest.mark.parametrize(("name", "fragment"), BAD_REPOSITORIES)
def test_bad_repository_names(name, fragment):
    with pytest.raises(InvalidName, match="^repository name ") as info:
        parse_repository(name)
    assert fragment in str(info.value)


def test_invalid_name_is_a_value_error():
    with pytest.raises(ValueError, match="lowercase letters and digits"):
        parse_repository("Foo")


def test_message_quotes_at_most_80_characters():
    with pytest.raises(InvalidName) as info:
        parse_repository("A" * 300)
    message = str(info.value)
    assert "'" + "A" * 80 + "...'" in message
    assert "A" * 81 not in message


# ---------------------------------------------------------------- accounts

GOOD_ACCOUNTS = ["ab", "bob", "alice42", "team_a", "team__a", "dev-ops", "dev--ops", "a1", "0x", "x" * 64]


@pytest.mark.parametrize("name", GOOD_ACCOUNTS)
def test_good_account_names(name):
    assert check_account_name("user", name) == name


BAD_ACCOUNTS = [
    ("", "empty"),
    ("a", "1 characters"),
    ("x" * 65, "65 characters"),
    ("Bob", "'Bob'"),
    ("bob smith", "'bob smith'"),
    ("_bob", "'_bob'"),
    ("bob-", "'bob-'"),
    ("bo___b", "'bo___b'"),
    ("bob/ci", "'bob/ci'"),
    ("bob:ci", "'bob:ci'"),
    ("bob+ci", "'bob+ci'"),
    ("john.doe", "'john.doe'"),  # read as a host in the first place of a repository name
    ("localhost", "reserved"),
    ("bób", "'bób'"),
]


@pytest.mark.parametrize(("name", "fragment"), BAD_ACCOUNTS)
def test_bad_account_names(name, fragment):
    with pytest.raises(InvalidName, match="^team name ") as info:
        check_account_name("team", name)
    assert fragment in str(info.value)
    assert "lowercase letters and digits" in str(info.value)


def test_a_good_account_name_is_a_namespace_of_repositories():
    for name in GOOD_ACCOUNTS:
        assert parse_repository(f"{name}/app").namespace == name


# ---------------------------------------------------------------- tags

GOOD_TAGS = ["latest", "v1", "V1", "1.0.0", "1.0.0-rc.1", "_", "_private", "a" * 128, "A_b.C-d", "0"]


@pytest.mark.parametrize("tag", GOOD_TAGS)
def test_good_tags(tag):
    assert check_tag(tag) == tag


BAD_TAGS = ["", ".hidden", "-dash", "a" * 129, "v1/2", "v1:2", "v 1", "v1\n", "täg", "v1+build", "@sha256"]


@pytest.mark.parametrize("tag", BAD_TAGS)
def test_bad_tags(tag):
    with pytest.raises(InvalidName, match="^tag "):
        check_tag(tag)


def test_tags_are_case_sensitive():
    assert check_tag("v1") != check_tag("V1")


# ---------------------------------------------------------------- digests

GOOD_DIGESTS = [
    SHA256,
    "sha384:" + "ab" * 48,
    "sha512:" + "0f" * 64,
    "multihash+base58:" + "Qm" * 20,
    "tarsum.v1+sha256:" + "a" * 64,
    "other:" + "A" * 32,
    "other:" + "a=_-" * 8,
]


@pytest.mark.parametrize("digest", GOOD_DIGESTS)
def test_good_digests(digest):
    assert check_digest(digest) == digest


BAD_DIGESTS = [
    "",
    "sha256",
    "sha256:",
    ":" + "a" * 64,
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 65,
    "sha256:" + "A" * 64,
    "sha256:" + "g" * 64,
    "sha512:" + "a" * 64,
    "SHA256:" + "a" * 64,
    "sha256:" + "a" * 64 + "\n",
    "other:" + "a" * 31,
    "other:" + "a" * 31 + "/",
    "-other:" + "a" * 32,
    "other-:" + "a" * 32,
    "latest",
]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_bad_digests(digest):
    with pytest.raises(InvalidName, match="^digest "):
        check_digest(digest)

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scope parsing: the grammar, names with host:port, classes, merging, and the scopes to refuse."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from dockyard_auth.scopes import MAX_SCOPES, Scope, ScopeError, parse_scope, parse_scopes

GOOD_SCOPES = [
    # text, type, name, actions
    ("repository:foo:pull", "repository", "foo", ("pull",)),
    ("repository:foo/bar:pull,push", "repository", "foo/bar", ("pull", "push")),
    ("repository:foo/bar:push,pull", "repository", "foo/bar", ("pull", "push")),
    ("repository:foo:pull,pull,push,pull", "repository", "foo", ("pull", "push")),
    ("repository:foo:delete", "repository", "foo", ("delete",)),
    ("repository:foo:*", "repository", "foo", ("*",)),
    ("repository:foo:pull,*", "repository", "foo", ("*", "pull")),
    ("repository:foo:unknown", "repository", "foo", ("unknown",)),
    ("repository:a__b/c---d.e:pull", "repository", "a__b/c---d.e", ("pull",)),
    ("repository:localhost:5000/foo/bar:pull,push", "repository", "localhost:5000/foo/bar", ("pull", "push")),
    ("repository:localhost/foo:pull", "repository", "localhost/foo", ("pull",)),
    ("repository:example.com/a/b:pull", "repository", "example.com/a/b", ("pull",)),
    ("repository(plugin):vieux/sshfs:pull", "repository", "vieux/sshfs", ("pull",)),
    ("repository(x1):foo:push", "repository", "foo", ("push",)),
    ("registry:catalog:*", "registry", "catalog", ("*",)),
    ("registry:other1:*", "registry", "other1", ("*",)),
    ("registry(x):catalog:*", "registry", "catalog", ("*",)),
    ("helm:charts/Whatever.Name:pull", "helm", "charts/Whatever.Name", ("pull",)),
    ("type9:a:b:c:pull", "type9", "a:b:c", ("pull",)),
    ("repository:" + "a" * 255 + ":pull", "repository", "a" * 255, ("pull",)),
]


@pytest.mark.parametrize(("text", "type_", "name", "actions"), GOOD_SCOPES)
def test_good_scopes(text, type_, name, actions):
    assert parse_scope(text) == Scope(type_, name, actions)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("repository:foo:push,pull", "repository:foo:pull,push"),
        ("repository(plugin):vieux/sshfs:pull", "repository:vieux/sshfs:pull"),
        ("repository:localhost:5000/foo:pull", "repository:localhost:5000/foo:pull"),
        ("registry:catalog:*", "registry:catalog:*"),
    ],
)
def test_scope_text(text, canonical):
    assert parse_scope(text).text() == canonical


def test_scope_constructor_sorts_and_dedupes_actions():
    assert Scope("repository", "foo", ("push", "pull", "push")).actions == ("pull", "push")


BAD_SCOPES = [
    # text, a piece of the message
    ("", "expected type:name:actions"),
    ("repository", "expected type:name:actions"),
    ("repository:foo", "expected type:name:actions"),
    ("repository:foo:", "no actions"),
    ("repository::pull", "empty name"),
    ("registry::*", "empty name"),
    ("::", "type ''"),
    (":foo:pull", "type ''"),
    ("Repository:foo:pull", "type 'Repository'"),
    ("repo-sitory:foo:pull", "type 'repo-sitory'"),
    ("repository():x:pull", "type 'repository()'"),
    ("repository(Plugin):x:pull", "type 'repository(Plugin)'"),
    ("repository(a)(b):x:pull", "type"),
    ("repository(a:x:pull", "type"),
    ("repository:Foo:pull", "'Foo'"),
    ("repository:foo/Bar:pull", "'Bar'"),
    ("repository:foo//bar:pull", "empty path component"),
    ("repository:/foo:pull", "empty path component"),
    ("repository:a___b:pull", "'a___b'"),
    ("repository:localhost:5000:pull", "needs a path"),
    ("repository:localhost:5000/foo", "contain '/'"),
    ("repository:foo:pull/push", "contain '/'"),
    ("repository:foo:PULL", "action 'PULL'"),
    ("repository:foo:Pull", "action 'Pull'"),
    ("repository:foo:pull,,push", "empty action"),
    ("repository:foo:pull,", "empty action"),
    ("repository:foo:,pull", "empty action"),
    ("repository:foo:pull;push", "action 'pull;push'"),
    ("repository:foo:pu11", "action 'pu11'"),
    ("repository:foo:**", "action '**'"),
    ("registry:Catalog:*", "registry name 'Catalog'"),
    ("registry:cat/alog:*", "registry name"),
    ("repository:foo bar:pull", "white space"),
    ("repository:foo:pull\n", "white space or control"),
    ("repository:fo\x00o:pull", "control"),
    ("helm:a\x7fb:pull", "control"),
    ("helm:a\u00a0b:pull", "white space"),
    ("repository:" + "a" * 256 + ":pull", "256 characters"),
    ("helm:" + "a" * 503 + ":pull", "513 characters"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_SCOPES)
def test_bad_scopes(text, fragment):
    with pytest.raises(ScopeError, match="^scope ") as info:
        parse_scope(text)
    assert fragment in str(info.value)


def test_scope_error_is_a_value_error_and_truncates_the_scope():
    with pytest.raises(ValueError, match="at most 512") as info:
        parse_scope("repository:" + "a" * 600 + ":pull")
    assert "a" * 81 not in str(info.value)


def test_longest_scope_accepted():
    text = "helm:" + "a" * 502 + ":pull"
    assert len(text) == 512
    assert parse_scope(text).name == "a" * 502


# ---------------------------------------------------------------- several scopes


def scopes_of(query: str) -> list[str]:
    """The scopes of a query string, decoded as a web framework does, in canonical text."""
    return [scope.text() for scope in parse_scopes(parse_qs(query, keep_blank_values=True).get("scope", []))]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([""], []),
        (["   "], []),
        (["repository:foo:pull"], ["repository:foo:pull"]),
        (
            ["repository:foo:pull,push repository:bar:pull"],
            ["repository:foo:pull,push", "repository:bar:pull"],
        ),
        (
            ["repository:foo:pull", "repository:bar:pull", "registry:catalog:*"],
            ["repository:foo:pull", "repository:bar:pull", "registry:catalog:*"],
        ),
        (["  repository:foo:pull \t\n repository:bar:push  "], ["repository:foo:pull", "repository:bar:push"]),
        (
            ["repository:foo:push", "repository:bar:pull", "repository:foo:pull"],
            ["repository:foo:pull,push", "repository:bar:pull"],
        ),
        (
            ["repository(plugin):vieux/sshfs:pull repository:vieux/sshfs:push"],
            ["repository:vieux/sshfs:pull,push"],
        ),
        (["repository:foo:pull", "repository:foo:pull"], ["repository:foo:pull"]),
        (["repository:foo:pull", "registry:foo:pull"], ["repository:foo:pull", "registry:foo:pull"]),
        (["repository:foo:*", "repository:foo:pull"], ["repository:foo:*,pull"]),
        (
            ["repository:localhost:5000/foo:pull repository:localhost:5000/foo:push"],
            ["repository:localhost:5000/foo:pull,push"],
        ),
    ],
)
def test_parse_scopes(values, expected):
    assert [scope.text() for scope in parse_scopes(values)] == expected


def test_parse_scopes_accepts_any_iterable():
    assert parse_scopes(iter(["repository:foo:pull"])) == [Scope("repository", "foo", ("pull",))]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("service=registry&scope=repository%3Afoo%2Fbar%3Apull%2Cpush", ["repository:foo/bar:pull,push"]),
        (
            "scope=repository%3Afoo%3Apull+repository%3Abar%3Apush",
            ["repository:foo:pull", "repository:bar:push"],
        ),
        (
            "scope=repository%3Afoo%3Apull%20repository%3Abar%3Apush&scope=registry%3Acatalog%3A%2A",
            ["repository:foo:pull", "repository:bar:push", "registry:catalog:*"],
        ),
        ("scope=repository%28plugin%29%3Avieux%2Fsshfs%3Apull", ["repository:vieux/sshfs:pull"]),
        ("scope=repository:localhost%3A5000/foo:pull", ["repository:localhost:5000/foo:pull"]),
        ("service=registry&account=bob", []),
        ("scope=", []),
    ],
)
def test_url_encoded_values(query, expected):
    assert scopes_of(query) == expected


def test_one_bad_scope_fails_the_lot():
    with pytest.raises(ScopeError, match="'repository:Foo:pull'"):
        parse_scopes(["repository:foo:pull repository:Foo:pull"])


def test_at_most_64_scopes():
    many = [f"repository:r{i}:pull" for i in range(MAX_SCOPES)]
    assert len(parse_scopes(many)) == MAX_SCOPES
    assert len(parse_scopes([" ".join(many)])) == MAX_SCOPES
    with pytest.raises(ScopeError, match="more than 64 scopes"):
        parse_scopes([*many, "repository:one-more:pull"])
    with pytest.raises(ScopeError, match="more than 64 scopes"):
        parse_scopes(["repository:same:pull"] * (MAX_SCOPES + 1))


def test_parse_scopes_refuses_a_bare_string():
    with pytest.raises(TypeError):
        parse_scopes("repository:foo:pull")

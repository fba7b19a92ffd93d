# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests of the parsers that read what a caller types: scopes and Basic credentials.

Two kinds of input for each parser. Text that is random, random pieces of the
grammar strung together, or valid input with a few pieces inserted, deleted or
replaced: only a value or the parser's documented error may come out. And input
built from the grammar in scopes.py and names.py, which must parse to exactly
what it was built from. The hypothesis profile (conftest.py) makes every run
try the same examples.
"""

from __future__ import annotations

import base64
import re

from hypothesis import assume, example, given, note, settings
from hypothesis import strategies as st

from dockyard_auth.authn import BadRequest, Credentials, parse_basic
from dockyard_auth.names import NAME_MAX_LENGTH, parse_repository
from dockyard_auth.scopes import MAX_SCOPES, SCOPE_MAX_LENGTH, Scope, ScopeError, parse_scope, parse_scopes

# Every character, lone surrogates too: a str may hold them, whatever the web server decodes.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()))
SHORT_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=3)


@st.composite
def mutated(draw, valid: st.SearchStrategy[str], pieces: st.SearchStrategy[str]) -> str:
    """Valid text with one to four pieces inserted, characters deleted or replaced: input near the grammar."""
    text = draw(valid)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(pieces | SHORT_TEXT)
        if edit == "insert":
            text = text[:at] + piece + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 3)) :]
        else:
            text = text[:at] + piece + text[at + 1 :]
    return text


def shown(**inputs) -> None:
    """Note the example's inputs: Hypothesis prints them blank while schemathesis's pytest plugin is loaded."""
    for name, value in inputs.items():
        note(f"{name} = {value!r}")


# -- scopes ------------------------------------------------------------------------------
LOWER = "abcdefghijklmnopqrstuvwxyz"
ALNUM = st.text(LOWER + "0123456789", min_size=1, max_size=6)


def _joined(words: list[str], separators: list[str]) -> str:
    return words[0] + "".join(sep + word for sep, word in zip(separators, words[1:], strict=False))


@st.composite
def path_components(draw, *, dots: bool = True) -> str:
    """A path component: lowercase letters and digits, with '.', '_', '__' or a run of '-' between them."""
    separators = ([".", "_", "__"] if dots else ["_", "__"]) + ["-", "--", "---"]
    words = draw(st.lists(ALNUM, min_size=1, max_size=4))
    return _joined(words, draw(st.lists(st.sampled_from(separators), min_size=len(words), max_size=len(words))))


LABEL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# A host label: letters and digits, with '-' inside only.
DOMAIN_LABEL = st.text(LABEL_CHARS, min_size=1, max_size=3) | st.builds(
    lambda a, middle, b: a + middle + b,
    st.sampled_from(LABEL_CHARS),
    st.text(LABEL_CHARS + "-", max_size=5),
    st.sampled_from(LABEL_CHARS),
)
PORT = st.integers(0, 65535).map(lambda port: f":{port}")


@st.composite
def domains(draw) -> str:
    """A registry host as distribution reads one: it has a '.' or a ':port', or is localhost."""
    kind = draw(st.sampled_from(["localhost", "dotted", "port"]))
    if kind == "localhost":
        return "localhost" + draw(st.just("") | PORT)
    if kind == "dotted":
        return ".".join(draw(st.lists(DOMAIN_LABEL, min_size=2, max_size=4))) + draw(st.just("") | PORT)
    return draw(DOMAIN_LABEL) + draw(PORT)


@st.composite
def repository_names(draw) -> str:
    """A valid repository name: [host[:port]/]component[/component]*, at most 255 characters."""
    domain = draw(st.none() | domains())
    count = draw(st.integers(1, 4))
    if domain is None and count > 1:
        # A first component with a '.' (or named localhost) would be read as a registry host.
        first = draw(path_components(dots=False).filter(lambda component: component != "localhost"))
        name = "/".join([first] + [draw(path_components()) for _ in range(count - 1)])
    else:
        name = "/".join(([domain] if domain else []) + [draw(path_components()) for _ in range(count)])
    assume(len(name) <= NAME_MAX_LENGTH)
    return name


def _safe_name_character(char: str) -> bool:
    code = ord(char)
    return not (code <= 0x20 or 0x7F <= code <= 0x9F or char.isspace())


# A name for a type the server knows nothing of: anything free of white space and control characters.
OTHER_NAME = st.text(st.characters(codec="utf-8").filter(_safe_name_character), min_size=1, max_size=20)
OTHER_TYPE = ALNUM.filter(lambda t: t not in ("repository", "registry"))
ACTION = st.text(LOWER, min_size=1, max_size=8) | st.just("*")


@st.composite
def valid_scopes(draw) -> tuple[str, Scope]:
    """Scope text built from the grammar, and the Scope it must parse to."""
    kind = draw(st.sampled_from(["repository", "registry", "other"]))
    if kind == "repository":
        type_, name = "repository", draw(repository_names())
    elif kind == "registry":
        type_, name = "registry", draw(st.just("catalog") | ALNUM)
    else:
        type_, name = draw(OTHER_TYPE), draw(OTHER_NAME)
    klass = draw(st.just("") | ALNUM.map(lambda c: f"({c})"))
    actions = draw(st.lists(ACTION, min_size=1, max_size=5))
    text = f"{type_}{klass}:{name}:{','.join(actions)}"
    assume(len(text) <= SCOPE_MAX_LENGTH)
    return text, Scope(type_, name, tuple(actions))


SCOPE_PIECES = st.sampled_from(
    [
        "repository", "registry", "repository(plugin)", "catalog", "helm", ":", ",", "/", "//", "(", ")", "*",
        "pull", "push", "delete", ".", "_", "__", "-", "---", "localhost", ":5000", "example.com", "A", " ", "\t",
        "\x00", "\x1f", "\x85", "\u00a0", "\u2028", "\ud800", "é", "ａ", "٣", "a" * 300,
    ]
)  # fmt: skip
SCOPE_LIKE = (
    ANY_TEXT
    | st.lists(SCOPE_PIECES | SHORT_TEXT, max_size=12).map("".join)
    | mutated(valid_scopes().map(lambda built: built[0]), SCOPE_PIECES)
)


def assert_well_formed(scope: Scope) -> None:
    """What every parsed scope holds, whatever text it came from."""
    assert isinstance(scope, Scope)
    assert re.fullmatch(r"[a-z0-9]+", scope.type), scope
    assert scope.name and all(_safe_name_character(c) for c in scope.name), scope
    assert scope.actions and list(scope.actions) == sorted(set(scope.actions)), scope
    assert all(re.fullmatch(r"[a-z]+|\*", a) for a in scope.actions), scope
    if scope.type == "repository":
        parse_repository(scope.name)  # raises if the name is not a valid repository name
    if scope.type == "registry":
        assert re.fullmatch(r"[a-z0-9]+", scope.name), scope
    # The canonical text reads back as the same scope.
    assert parse_scope(scope.text()) == scope


@given(SCOPE_LIKE)
@example("repository:localhost:5000/web/app:push,pull")
@example("type9:a:b:c:pull")
@example("repository:" + "a" * 600 + ":pull")
@example("repository:a\ud800:pull")
def test_parse_scope_returns_a_scope_or_raises_scope_error(text):
    shown(text=text)
    try:
        scope = parse_scope(text)
    except ScopeError:
        return
    assert len(text) <= SCOPE_MAX_LENGTH
    assert_well_formed(scope)


@given(valid_scopes())
def test_a_scope_built_from_the_grammar_parses_to_what_it_was_built_from(built):
    shown(built=built)
    text, expected = built
    scope = parse_scope(text)
    assert scope == expected
    assert_well_formed(scope)


@given(st.lists(SCOPE_LIKE, max_size=5))
def test_parse_scopes_returns_scopes_or_raises_scope_error(values):
    shown(values=values)
    try:
        scopes = parse_scopes(values)
    except ScopeError:
        return
    keys = [(scope.type, scope.name) for scope in scopes]
    assert len(keys) == len(set(keys)) <= MAX_SCOPES
    for scope in scopes:
        assert_well_formed(scope)


WHITE_SPACE = st.sampled_from([" ", "  ", "\t", "\n", " \r\n ", "\u2003"])


@settings(max_examples=50)  # up to 75 scopes an example: fewer examples, about the time of the others
@given(st.lists(st.lists(valid_scopes(), max_size=15), max_size=5), st.data())
def test_parse_scopes_merges_scopes_built_from_the_grammar(groups, data):
    values = []
    for group in groups:
        gaps = data.draw(st.lists(WHITE_SPACE | st.just(""), min_size=len(group) + 1, max_size=len(group) + 1))
        values.append(gaps[0] + "".join(text + " " + gap for (text, _scope), gap in zip(group, gaps[1:], strict=True)))
    shown(values=values)
    flat = [scope for group in groups for _text, scope in group]
    if len(flat) > MAX_SCOPES:
        try:
            parse_scopes(values)
        except ScopeError:
            return
        raise AssertionError(f"{len(flat)} scopes were accepted; at most {MAX_SCOPES} are")
    merged: dict[tuple[str, str], tuple[str, ...]] = {}
    for scope in flat:
        merged[(scope.type, scope.name)] = merged.get((scope.type, scope.name), ()) + scope.actions
    assert parse_scopes(values) == [Scope(type_, name, actions) for (type_, name), actions in merged.items()]


# -- Basic credentials ----------------------------------------------------------------------
SCHEME = st.sampled_from(["Basic", "basic", "BASIC", "bAsIc"])
USER = st.text(min_size=1).filter(lambda user: ":" not in user)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


HEADER_PIECES = st.sampled_from(
    ["Basic ", "basic ", "Bearer ", "Basic", " ", "  ", "=", "==", ":", "+", "/", "A", "\x00", "\t", "é", "€", "\ud800"]
)
VALID_HEADERS = st.builds(
    lambda scheme, user, password: f"{scheme} {b64(f'{user}:{password}'.encode())}", SCHEME, USER, st.text()
)
HEADER_LIKE = (
    ANY_TEXT
    | st.lists(
        HEADER_PIECES | st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), max_size=6
    ).map("".join)
    | mutated(VALID_HEADERS, HEADER_PIECES)
)


def parse_basic_or_bad_request(header: str | None) -> Credentials | None | BadRequest:
    try:
        return parse_basic(header)
    except BadRequest as exc:
        return exc


@given(st.none() | HEADER_LIKE)
@example("Basic é")
@example("Basic " + b64(b"alice:\xff"))
@example("Basic\x00" + b64(b"alice:pw"))
def test_parse_basic_returns_credentials_or_raises_bad_request(header):
    shown(header=header)
    result = parse_basic_or_bad_request(header)
    if header in (None, ""):
        assert result is None
    elif not isinstance(result, BadRequest):
        assert isinstance(result, Credentials), result
        assert result.username and ":" not in result.username


@given(SCHEME, st.binary(), st.sampled_from(["", " ", "  "]))
@example("Basic", b"alice:pass\x00word", "")
@example("Basic", b"alice:\xc3\x28", "")
def test_parse_basic_of_base64_of_any_bytes(scheme, data, padding):
    shown(scheme=scheme, data=data, padding=padding)
    result = parse_basic_or_bad_request(f"{scheme} {padding}{b64(data)}{padding}")
    user, sep, _password = data.partition(b":")
    if not (sep and user):
        assert isinstance(result, BadRequest)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Bytes that are not UTF-8: refused as unreadable, or kept exactly (as lone surrogates,
        # which no stored name or password holds), never turned into other text.
        if not isinstance(result, BadRequest):
            assert isinstance(result, Credentials), result
            assert f"{result.username}:{result.password}".encode("utf-8", "surrogateescape") == data
        return
    assert result == Credentials(*text.split(":", 1))


@given(SCHEME, USER, st.text())
@example("Basic", "alice", "pass\x00word")
@example("Basic", "robot+ci", "p:w:\U0001f600")
@example("Basic", "\x00", "")
def test_parse_basic_gives_back_any_user_and_password(scheme, user, password):
    shown(scheme=scheme, user=user, password=password)
    header = f"{scheme} {b64(f'{user}:{password}'.encode())}"
    assert parse_basic(header) == Credentials(user, password)

"""The htpasswd logic: strict parsing, hash schemes, input checks, the per-user decision, rendering and diff."""

from __future__ import annotations

import pytest
from ansible_collections.dockyard.registry.plugins.module_utils import _htpasswd
from ansible_collections.dockyard.registry.plugins.module_utils._htpasswd import HtpasswdError, Line
from passlib.hash import bcrypt

# Real bcrypt hashes at the lowest cost, so the tests stay fast.
FAST = bcrypt.using(rounds=4, ident="2y")
ALICE_HASH = FAST.hash("alice-pw")
BOB_HASH = FAST.hash("bob-pw")
SHA_HASH = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="  # htpasswd -s of "password"
APR1_HASH = "$apr1$RAnIaqNw$J81Zz5rMAeU8MIGrajzpM/"


def verify(password: str, hashed: str) -> bool:
    return bcrypt.verify(password, hashed)


def entries(content: bytes) -> list[tuple[str | None, str]]:
    return [(line.name, line.hashed) for line in _htpasswd.parse(content)]


# ---------------------------------------------------------------- schemes


@pytest.mark.parametrize(
    ("hashed", "scheme"),
    [
        (ALICE_HASH, "bcrypt"),
        ("$2a$" + ALICE_HASH[4:], "bcrypt"),
        ("$2b$" + ALICE_HASH[4:], "bcrypt"),
        ("$2b$31$" + ALICE_HASH[7:], "bcrypt"),
        ("$2x$" + ALICE_HASH[4:], "unknown"),  # crypt_blowfish's bug-compatible variant
        ("$2$" + ALICE_HASH[4:], "unknown"),
        ("$2y$03$" + ALICE_HASH[7:], "unknown"),  # cost below 4
        ("$2y$32$" + ALICE_HASH[7:], "unknown"),
        (ALICE_HASH[:-1], "unknown"),  # truncated
        (ALICE_HASH + "x", "unknown"),
        (ALICE_HASH + ":comment", "unknown"),
        (APR1_HASH, "apr1"),
        (SHA_HASH, "sha1"),
        ("$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0", "md5-crypt"),
        ("$5$rounds=5000$salt$hash", "sha256-crypt"),
        ("$6$salt$hash", "sha512-crypt"),
        ("rl0uE0cbmI9/.", "crypt"),
        ("secret", "unknown"),  # plain text (htpasswd -p)
        ("", "unknown"),
    ],
)
def test_scheme_of(hashed, scheme):
    assert _htpasswd.scheme_of(hashed) == scheme


# ---------------------------------------------------------------- parse


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", []),
        (b"\n", [(None, "")]),
        (f"alice:{ALICE_HASH}\n".encode(), [("alice", ALICE_HASH)]),
        (f"alice:{ALICE_HASH}".encode(), [("alice", ALICE_HASH)]),  # no final newline
        (b"alice:x\nbob:y\n", [("alice", "x"), ("bob", "y")]),
        (b"# users\n\n   \nalice:x\n#bob:y\n", [(None, ""), (None, ""), (None, ""), ("alice", "x"), (None, "")]),
        (b"alice:", [("alice", "")]),  # an empty hash parses; it is not bcrypt
        (b"alice:hash:with:colons\n", [("alice", "hash:with:colons")]),
        (b"alice smith:x\n", [("alice smith", "x")]),
        ("j\u00fcrgen:x\n".encode(), [("j\u00fcrgen", "x")]),
    ],
)
def test_parse_accepts(content, expected):
    assert entries(content) == expected


def test_parse_keeps_line_numbers_and_text():
    lines = _htpasswd.parse(b"# head\nalice:x\n\nbob:y\n")
    assert [(line.number, line.text) for line in lines] == [(1, "# head"), (2, "alice:x"), (3, ""), (4, "bob:y")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"alice:x\ngarbage\n", "line 2 has no ':'"),
        (b"alice:x\n:hash\n", "line 2 has an empty user name"),
        (b"alice:x\r\n", "line 1 ends in a carriage return"),
        (b"al\tice:x\n", "line 1 contains the control character U+0009"),
        (b"alice:x\x00y\n", "line 1 contains the control character U+0000"),
        (b"alice:x\x7f\n", "line 1 contains the control character U+007F"),
        ("alice:x\u0085\n".encode(), "line 1 contains the control character U+0085"),
        (b"# fine\n\x1b[31m:x\n", "line 2 contains the control character U+001B"),
        (b" alice:x\n", "line 1 has leading or trailing white space"),
        (b"alice:x \n", "line 1 has leading or trailing white space"),
        (b"  # indented comment\n", "line 1 has leading or trailing white space"),
        (b"alice:x\n\xff\xfe:y\n", "line 2 is not valid UTF-8"),
        (b"alice:x\nbob:y\nalice:z\n", "user 'alice' appears on lines 1 and 3"),
    ],
)
def test_parse_refuses(content, message):
    with pytest.raises(HtpasswdError) as caught:
        _htpasswd.parse(content)
    assert message in str(caught.value)


def test_parse_errors_never_quote_the_line():
    with pytest.raises(HtpasswdError) as caught:
        _htpasswd.parse(b"pasted-password-Secr3t\n")
    assert "Secr3t" not in str(caught.value)


# ---------------------------------------------------------------- check_users


@pytest.mark.parametrize(
    "users",
    [
        [],
        [{"name": "alice", "password": "pw", "state": "present"}],
        [{"name": "alice", "password": "pw"}],  # state defaults to present
        [{"name": "gone", "password": None, "state": "absent"}],  # absent needs no password
        [{"name": "gone", "password": "", "state": "absent"}],
        [{"name": "j\u00fcrgen", "password": "\u00e9" * 36}],  # 72 bytes in UTF-8
        [{"name": "ci bot", "password": "x" * 72}],
        [{"name": "a#b", "password": "pw"}],
        [{"name": "alice", "password": "pw"}, {"name": "bob", "password": "pw"}],
    ],
)
def test_check_users_accepts(users):
    _htpasswd.check_users(users)


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ([{"name": "", "password": "pw"}], "users[0].name is empty"),
        ([{"name": "ok", "password": "pw"}, {"name": None, "password": "pw"}], "users[1].name is empty"),
        ([{"name": "a:b", "password": "pw"}], "users[0].name 'a:b' contains ':'"),
        ([{"name": "a\nb", "password": "pw"}], "users[0].name 'a\\nb' contains the control character U+000A"),
        ([{"name": "a\tb", "password": "pw"}], "control character U+0009"),
        ([{"name": "a\x00", "password": "pw"}], "control character U+0000"),
        ([{"name": "#alice", "password": "pw"}], "starts with '#'"),
        ([{"name": " alice", "password": "pw"}], "leading or trailing white space"),
        ([{"name": "alice ", "password": "pw"}], "leading or trailing white space"),
        (
            [{"name": "alice", "password": "pw"}, {"name": "alice", "password": "pw", "state": "absent"}],
            "users[1].name 'alice' is listed twice (also users[0])",
        ),
        ([{"name": "alice", "password": ""}], "users[0].password is empty for user 'alice'"),
        ([{"name": "alice", "password": None}], "users[0].password is empty for user 'alice'"),
        ([{"name": "alice"}], "users[0].password is empty"),
        ([{"name": "alice", "password": "x" * 73}], "users[0].password of user 'alice' is longer than 72 bytes"),
        ([{"name": "alice", "password": "\u00e9" * 37}], "longer than 72 bytes"),  # 37 characters, 74 bytes
        ([{"name": "alice", "password": "a\x00b"}], "contains a NUL character"),
    ],
)
def test_check_users_refuses(users, message):
    with pytest.raises(HtpasswdError) as caught:
        _htpasswd.check_users(users)
    assert message in str(caught.value)


def test_check_users_never_quotes_a_password():
    for password in ("", "Secr3t\x00", "Secr3t" * 13):
        with pytest.raises(HtpasswdError) as caught:
            _htpasswd.check_users([{"name": "alice", "password": password}])
        assert "Secr3t" not in str(caught.value)


# ---------------------------------------------------------------- plan


def present(name: str, password: str) -> dict:
    return {"name": name, "password": password, "state": "present"}


def absent(name: str) -> dict:
    return {"name": name, "password": None, "state": "absent"}


def lines_of(text: str) -> list[Line]:
    return _htpasswd.parse(text.encode())


EXISTING = f"alice:{ALICE_HASH}\nbob:{BOB_HASH}\n"


@pytest.mark.parametrize(
    ("existing", "users", "exclusive", "expected"),
    [
        pytest.param(
            "",
            [present("alice", "alice-pw"), present("bob", "bob-pw")],
            False,
            {"added": ["alice", "bob"], "users": ["alice", "bob"]},
            id="new-file",
        ),
        pytest.param(
            EXISTING,
            [present("alice", "alice-pw"), present("bob", "bob-pw")],
            False,
            {"unchanged": ["alice", "bob"], "users": ["alice", "bob"]},
            id="all-verify",
        ),
        pytest.param(
            EXISTING,
            [present("bob", "bob-pw"), present("alice", "alice-pw")],
            False,
            {"unchanged": ["alice", "bob"], "users": ["alice", "bob"]},
            id="file-order-kept",
        ),
        pytest.param(
            EXISTING,
            [present("carol", "carol-pw"), present("alice", "alice-pw")],
            False,
            {"added": ["carol"], "unchanged": ["alice", "bob"], "users": ["alice", "bob", "carol"]},
            id="add-one-appended",
        ),
        pytest.param(
            EXISTING,
            [present("bob", "new-pw")],
            False,
            {"updated": ["bob"], "unchanged": ["alice"], "users": ["alice", "bob"]},
            id="update-password",
        ),
        pytest.param(
            EXISTING,
            [absent("alice"), absent("nobody")],
            False,
            {"removed": ["alice"], "unchanged": ["bob"], "users": ["bob"]},
            id="absent",
        ),
        pytest.param(
            EXISTING,
            [present("bob", "bob-pw")],
            True,
            {"removed": ["alice"], "unchanged": ["bob"], "users": ["bob"]},
            id="exclusive",
        ),
        pytest.param(EXISTING, [], True, {"removed": ["alice", "bob"], "users": []}, id="exclusive-nobody"),
        pytest.param(
            f"dave:{SHA_HASH}\nerin:{APR1_HASH}\nalice:{ALICE_HASH}\n",
            [present("dave", "dave-pw")],
            False,
            {
                "upgraded": ["dave"],
                "unchanged": ["erin", "alice"],
                "legacy_users": ["erin"],
                "users": ["dave", "erin", "alice"],
            },
            id="legacy-listed-upgraded-unlisted-reported",
        ),
        pytest.param(
            f"dave:{SHA_HASH}\nerin:{APR1_HASH}\n",
            [present("dave", "dave-pw")],
            True,
            {"upgraded": ["dave"], "removed": ["erin"], "users": ["dave"]},
            id="legacy-exclusive",
        ),
        pytest.param(
            "frank:\nplain:secret\n",
            [present("plain", "secret")],
            False,
            {"upgraded": ["plain"], "unchanged": ["frank"], "legacy_users": ["frank"], "users": ["frank", "plain"]},
            id="plain-text-and-empty",
        ),
        pytest.param(
            f"alice:$2x${ALICE_HASH[4:]}\n",
            [present("alice", "alice-pw")],
            False,
            {"upgraded": ["alice"], "users": ["alice"]},
            id="unsupported-bcrypt-variant",
        ),
    ],
)
def test_plan(existing, users, exclusive, expected):
    result = _htpasswd.plan(lines_of(existing), users, exclusive, verify).result()
    full = {key: [] for key in ("added", "updated", "upgraded", "removed", "unchanged", "legacy_users", "users")}
    assert result == dict(full, **expected)


def test_plan_verifies_only_bcrypt_entries_of_listed_users():
    calls = []

    def recording_verify(password, hashed):
        calls.append((password, hashed))
        return verify(password, hashed)

    existing = f"alice:{ALICE_HASH}\nbob:{BOB_HASH}\ndave:{SHA_HASH}\n"
    _htpasswd.plan(lines_of(existing), [present("alice", "alice-pw"), present("dave", "x")], False, recording_verify)
    assert calls == [("alice-pw", ALICE_HASH)]


def test_plan_keeps_a_bcrypt_entry_of_another_cost():
    other_cost = bcrypt.using(rounds=5, ident="2b").hash("alice-pw")
    plan = _htpasswd.plan(lines_of(f"alice:{other_cost}\n"), [present("alice", "alice-pw")], False, verify)
    assert plan.unchanged == ["alice"]
    assert not plan.changes


@pytest.mark.parametrize(
    ("users", "exclusive", "changes"),
    [
        ([present("alice", "alice-pw")], False, False),
        ([present("alice", "alice-pw")], True, True),
        ([present("alice", "other")], False, True),
        ([present("carol", "carol-pw")], False, True),
        ([absent("carol")], False, False),
        ([absent("bob")], False, True),
    ],
)
def test_changes(users, exclusive, changes):
    assert _htpasswd.plan(lines_of(EXISTING), users, exclusive, verify).changes is changes


# ---------------------------------------------------------------- render and diff


def fake_hash(password: str) -> str:
    return f"HASH({password})"


def test_render_keeps_lines_and_comments_and_appends_new_users():
    existing = f"# registry users\nalice:{ALICE_HASH}\n\nbob:{BOB_HASH}\ndave:{SHA_HASH}\n"
    users = [present("zed", "zed-pw"), present("bob", "new"), present("dave", "d"), present("alice", "alice-pw")]
    plan = _htpasswd.plan(lines_of(existing), users, False, verify)
    assert plan.render(fake_hash) == (
        f"# registry users\nalice:{ALICE_HASH}\n\nbob:HASH(new)\ndave:HASH(d)\nzed:HASH(zed-pw)\n".encode()
    )


def test_render_exclusive_keeps_comments():
    plan = _htpasswd.plan(lines_of(f"# keep me\nalice:{ALICE_HASH}\n"), [], True, verify)
    assert plan.render(fake_hash) == b"# keep me\n"


def test_render_nothing():
    assert _htpasswd.plan([], [], False, verify).render(fake_hash) == b""


def test_render_adds_the_final_newline():
    plan = _htpasswd.plan(lines_of(f"alice:{ALICE_HASH}"), [present("bob", "b")], False, verify)
    assert plan.render(fake_hash) == f"alice:{ALICE_HASH}\nbob:HASH(b)\n".encode()


def test_render_is_utf8():
    plan = _htpasswd.plan([], [present("j\u00fcrgen", "pw")], False, verify)
    assert plan.render(fake_hash) == "j\u00fcrgen:HASH(pw)\n".encode()


def test_diff_names_only():
    existing = f"# c\nalice:{ALICE_HASH}\nbob:{BOB_HASH}\ndave:{SHA_HASH}\nerin:{APR1_HASH}\nfrank:{ALICE_HASH}\n"
    users = [present("alice", "alice-pw"), present("bob", "Secr3t"), present("dave", "d-pw"), absent("frank")]
    users.append(present("carol", "c-pw"))
    before, after = _htpasswd.plan(lines_of(existing), users, False, verify).diff()
    assert before == "alice\nbob\ndave (sha1)\nerin (apr1)\nfrank\n"
    assert after == "alice\nbob (new password)\ndave (rehashed from sha1)\nerin (apr1)\ncarol\n"
    for secret in ("Secr3t", "alice-pw", "$2y$", "{SHA}", "$apr1$"):
        assert secret not in before + after

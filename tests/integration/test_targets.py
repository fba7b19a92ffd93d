"""Every ansible-test integration target under tests/integration/targets/.

Each module's target runs it four times (check mode, apply, check mode again,
apply again) and then checks what it wrote with the real consumer (openssl,
Apache's htpasswd, the registry). ansible-test runs them on this machine
(`--local`) from the ansible_collections tree scripts/ansible-test.sh makes.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.targets

TARGETS = sorted(p.name for p in (ROOT / "tests" / "integration" / "targets").glob("*") if (p / "tasks").is_dir())
# A target gets this long at most.
TARGET_TIMEOUT = 900


@pytest.mark.parametrize("target", TARGETS)
def test_target(target: str, capsys):
    with capsys.disabled():
        print(f"\n===== ansible-test integration {target} =====", flush=True)
        proc = subprocess.run(
            [
                "bash",
                str(ROOT / "scripts" / "ansible-test.sh"),
                "integration",
                "--local",
                "--python",
                "3.11",
                "--color",
                "no",
                target,
            ],
            cwd=ROOT,
            timeout=TARGET_TIMEOUT,
            check=False,
        )
    assert proc.returncode == 0, f"integration target {target} failed ({proc.returncode}): see its output above"

"""mmv3 as a user gets it from `pip install`: a wheel, not this checkout.

The README's commands install the checkout in editable mode (so do tox and .ci/run); this test
builds the wheel, installs it into a fresh virtual environment (dependencies from the current
one) and runs `mmv3` from outside the checkout, so that a data file the wheel forgets, or a path
that only resolves inside a checkout, fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from mmv3 import paths

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin` directory of a venv holding the built wheel."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist,
         paths.REPO_ROOT],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = dist.glob("mmv3-*.whl")
    env_dir = root / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    bin_dir = env_dir / "bin"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", bin_dir / "python", "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return bin_dir


def run(bin_dir: Path, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMV3_", "PYTEST_", "PYTHON"))}
    return subprocess.run(
        [bin_dir / args[0], *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_installed_copy_finds_its_own_data(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import json, mmv3.paths as p;"
        "print(json.dumps([str(p.schemas_dir()), str(p.conformance_dir()), str(p.loadtests_dir())]))"
    )
    result = run(installed, "python", "-c", probe, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    site = installed.parent / "lib"
    for found in json.loads(result.stdout):
        assert Path(found).is_relative_to(site), f"{found} is not the wheel's copy"


def test_the_installed_copy_runs_a_check(installed: Path, tmp_path: Path) -> None:
    result = run(
        installed, "mmv3", "check", "--families", "security", "-n", "0", "--reports", str(tmp_path / "r"),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    (run_json,) = (tmp_path / "r").glob("*/run.json")
    assert json.loads(run_json.read_text())["exit_code"] == 0

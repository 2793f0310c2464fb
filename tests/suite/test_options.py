"""Each option is read from the command line, then the environment, then the ini section."""

from __future__ import annotations

import pytest

from .conformance_run import run_suite

pytestmark = pytest.mark.slow

COLLECT = ["--collect-only", "-m", "ratelimit"]


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["-o", "mm_timeout=soon"], {}, 4),  # ini value is read (and refused)
        ([], {"MMV3_TIMEOUT": "soon"}, 4),  # environment is read
        (["-o", "mm_timeout=soon"], {"MMV3_TIMEOUT": "3"}, 0),  # environment beats the ini
        (["--mm-timeout", "3"], {"MMV3_TIMEOUT": "soon"}, 0),  # command line beats the environment
        (["--mm-ratelimit", "sometimes"], {}, 4),
    ],
)
def test_option_sources_and_precedence(args, env, code, tmp_path):
    run = run_suite([*COLLECT, *args], reports=tmp_path, env=env, timeout=120)
    assert run.returncode == code, run.tail()
    if code == 4:
        assert "Traceback" not in run.stdout + run.stderr
        assert "ERROR:" in run.stderr

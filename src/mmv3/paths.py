"""Where mmv3's data files live, in a checkout and in an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
REPO_ROOT = _PACKAGE.parent.parent


def schemas_dir() -> Path:
    """`schemas/` of the checkout, else the copy packaged into the wheel."""
    override = os.environ.get("MMV3_SCHEMAS")
    if override:
        return Path(override)
    checkout = REPO_ROOT / "schemas"
    if (checkout / "openapi.yaml").exists():
        return checkout
    return _PACKAGE / "_schemas"


def openapi_path() -> Path:
    return schemas_dir() / "openapi.yaml"


def models_dir() -> Path:
    return schemas_dir() / "models"


def corpus_dir() -> Path:
    """The recorded Mattermost 4.9 exchanges (tests and the fidelity harness use them)."""
    override = os.environ.get("MMV3_CORPUS")
    if override:
        return Path(override)
    return REPO_ROOT / "tests" / "corpus" / "mattermost-4.9.0"


def conformance_dir() -> Path | None:
    """The conformance suite (`conformance/` of the checkout, else its packaged copy)."""
    for candidate in (REPO_ROOT / "conformance", _PACKAGE / "_conformance"):
        if (candidate / "conftest.py").exists():
            return candidate
    return None


def loadtests_dir() -> Path | None:
    """The Locust scenarios (`loadtests/` of the checkout, else their packaged copy)."""
    for candidate in (REPO_ROOT / "loadtests", _PACKAGE / "_loadtests"):
        if (candidate / "locustfile.py").exists():
            return candidate
    return None

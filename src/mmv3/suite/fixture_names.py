"""Names for the anonymous teardown steps of fixtures in the Allure results.

allure-pytest names each finalizer of a fixture `<fixture>::<the finalizer's __name__>`. pytest
(9.1 and later) registers a lambda on every fixture to call pytest_fixture_post_finalizer, and
fixtures may register lambdas of their own: the report then listed teardown steps such as
`conformance::<lambda>`. The hook below names them `teardown` before allure-pytest, an outer
wrapper of the same hook, reads them. A plugin of its own so that a test can load it alone.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

TEARDOWN = "teardown"


@pytest.hookimpl(wrapper=True, trylast=True)  # trylast: inside allure-pytest's wrapper
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    try:
        return (yield)
    finally:
        for finalizer in getattr(fixturedef, "_finalizers", []):
            if getattr(finalizer, "__name__", None) == "<lambda>":
                with contextlib.suppress(AttributeError, TypeError):
                    finalizer.__name__ = finalizer.__qualname__ = TEARDOWN

"""The mmv3 conformance suite: `pytest conformance [--base-url URL --mm-user ... ]`.

Everything lives in `mmv3.suite.plugin`; importing its hooks and fixtures here registers them
for this directory (a non-root conftest may not use `pytest_plugins`).
"""

from mmv3.suite.plugin import *  # noqa: F403

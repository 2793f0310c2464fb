"""The pytest conformance suite's machinery: options, preflight, the embedded target, the
matrix and the Allure additions. `conformance/conftest.py` loads `mmv3.suite.plugin`."""

from mmv3.suite.plugin import cases, operation_id

__all__ = ["cases", "operation_id"]

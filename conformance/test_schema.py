"""schema: Success bodies against the operation's response schema."""

import pytest

from mmv3.checks import schema
from mmv3.suite import cases

pytestmark = pytest.mark.schema


@cases(schema.success_body)
def test_success_body(operation, conformance):
    conformance.verify(schema.success_body, operation)

"""errors: Bad input gets a 4xx AppError; unknown routes and wrong methods the catch-all 404."""

import pytest

from mmv3.checks import errors
from mmv3.suite import cases

pytestmark = pytest.mark.errors


@cases(errors.bad_input)
def test_bad_input(operation, conformance):
    conformance.verify(errors.bad_input, operation)


@cases(errors.unknown_route)
def test_unknown_route(operation, conformance):
    conformance.verify(errors.unknown_route, operation)


@cases(errors.wrong_method)
def test_wrong_method(operation, conformance):
    conformance.verify(errors.wrong_method, operation)

"""headers: X-Request-Id, X-Version-Id, Expires on GETs, the login's Token header and cookie."""

import pytest

from mmv3.checks import headers
from mmv3.suite import cases

pytestmark = pytest.mark.headers


@cases(headers.request_id)
def test_request_id(operation, conformance):
    conformance.verify(headers.request_id, operation)


@cases(headers.version_id)
def test_version_id(operation, conformance):
    conformance.verify(headers.version_id, operation)


@cases(headers.expires_zero)
def test_expires_zero(operation, conformance):
    conformance.verify(headers.expires_zero, operation)


@cases(headers.login_token)
def test_login_token(operation, conformance):
    conformance.verify(headers.login_token, operation)


@cases(headers.etag)
def test_etag(operation, conformance):
    conformance.verify(headers.etag, operation)

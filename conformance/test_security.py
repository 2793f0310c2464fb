"""security: No secrets in answers; session lists without tokens; privacy settings honoured."""

import pytest

from mmv3.checks import security
from mmv3.suite import cases

pytestmark = pytest.mark.security


@cases(security.no_secrets)
def test_no_secrets(operation, conformance):
    conformance.verify(security.no_secrets, operation)


@cases(security.sessions_without_tokens)
def test_sessions_without_tokens(operation, conformance):
    conformance.verify(security.sessions_without_tokens, operation)


@cases(security.privacy)
def test_privacy(operation, conformance):
    conformance.verify(security.privacy, operation)

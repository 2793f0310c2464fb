"""auth: Who may call what: missing, garbage, revoked and cookie tokens, regular users, non-members."""

import pytest

from mmv3.checks import auth
from mmv3.suite import cases

pytestmark = pytest.mark.auth


@cases(auth.no_token)
def test_no_token(operation, conformance):
    conformance.verify(auth.no_token, operation)


@cases(auth.garbage_token)
def test_garbage_token(operation, conformance):
    conformance.verify(auth.garbage_token, operation)


@cases(auth.revoked)
def test_revoked(operation, conformance):
    conformance.verify(auth.revoked, operation)


@cases(auth.cookie_without_xhr)
def test_cookie_without_xhr(operation, conformance):
    conformance.verify(auth.cookie_without_xhr, operation)


@cases(auth.regular_user_refused)
def test_regular_user_refused(operation, conformance):
    conformance.verify(auth.regular_user_refused, operation)


@cases(auth.non_member_refused)
def test_non_member_refused(operation, conformance):
    conformance.verify(auth.non_member_refused, operation)


@cases(auth.answers_without_token)
def test_answers_without_token(operation, conformance):
    conformance.verify(auth.answers_without_token, operation)

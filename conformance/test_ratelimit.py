"""ratelimit: X-Ratelimit-* on every answer; the limiter's behaviour against the GCRA model (serial)."""

import pytest

from mmv3.checks import ratelimit
from mmv3.suite import cases

pytestmark = pytest.mark.ratelimit


@cases(ratelimit.headers_present)
def test_headers_present(operation, conformance):
    conformance.verify(ratelimit.headers_present, operation)


@cases(ratelimit.exceeding)
def test_exceeding(operation, conformance):
    conformance.verify(ratelimit.exceeding, operation)


@cases(ratelimit.countdown)
def test_countdown(operation, conformance):
    conformance.verify(ratelimit.countdown, operation)


@cases(ratelimit.bucket)
def test_bucket(operation, conformance):
    conformance.verify(ratelimit.bucket, operation)


@cases(ratelimit.reset_seconds)
def test_reset_seconds(operation, conformance):
    conformance.verify(ratelimit.reset_seconds, operation)


@cases(ratelimit.recovery)
def test_recovery(operation, conformance):
    conformance.verify(ratelimit.recovery, operation)


@cases(ratelimit.sustained_rate)
def test_sustained_rate(operation, conformance):
    conformance.verify(ratelimit.sustained_rate, operation)

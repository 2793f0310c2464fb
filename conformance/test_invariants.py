"""invariants: Post lists, ids, timestamps, Etags that change, windows over posts, counts against lists."""

import pytest

from mmv3.checks import invariants
from mmv3.suite import cases

pytestmark = pytest.mark.invariants


@cases(invariants.post_list)
def test_post_list(operation, conformance):
    conformance.verify(invariants.post_list, operation)


@cases(invariants.ids)
def test_ids(operation, conformance):
    conformance.verify(invariants.ids, operation)


@cases(invariants.timestamps)
def test_timestamps(operation, conformance):
    conformance.verify(invariants.timestamps, operation)


@cases(invariants.etag_changes)
def test_etag_changes(operation, conformance):
    conformance.verify(invariants.etag_changes, operation)


@cases(invariants.windows)
def test_windows(operation, conformance):
    conformance.verify(invariants.windows, operation)


@cases(invariants.counts)
def test_counts(operation, conformance):
    conformance.verify(invariants.counts, operation)

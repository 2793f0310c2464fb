"""The target profile: how a recorded one is read, written and compared with a run's."""

from __future__ import annotations

import pytest

from mmv3.suite import expectations
from mmv3.suite.profile import ProfileError, TargetProfile, compare, measured_rate

RECORDED = TargetProfile("4.9.0", "4.9.0-rc3", False, True, 21, 100.0)


def _differs(expected: TargetProfile, actual: TargetProfile) -> list[str]:
    return compare(expected, actual)[0]


def test_the_same_target_passes():
    assert compare(RECORDED, TargetProfile("4.9.0", "4.9.0-rc3", False, True, 21, 104.0)) == ([], [])


def test_a_target_that_stopped_rate_limiting_is_named():
    (difference,) = _differs(RECORDED, TargetProfile("4.9.0", "4.9.0-rc3", False, False))
    assert difference.startswith("rate limiting: expected on (Limit 21, refill 100.0/s), found off")


@pytest.mark.parametrize(
    ("actual", "words"),
    [
        (TargetProfile("4.10.0", "x", False, True, 21, 100.0), "version: expected 4.9, found 4.10.0"),
        (TargetProfile("4.9.0", "x", True, True, 21, 100.0), "licensed: expected unlicensed, found licensed"),
        (TargetProfile("4.9.0", "x", False, True, 101, 100.0), "expected X-Ratelimit-Limit 21, found 101"),
        (TargetProfile("4.9.0", "x", False, True, 21, 10.0), "expected a refill of 100.0/s, measured 10.0/s"),
    ],
    ids=["version", "licensed", "limit", "rate"],
)
def test_each_difference_fails_and_says_what(actual, words):
    differences = _differs(RECORDED, actual)
    assert len(differences) == 1 and words in differences[0], differences


def test_a_new_build_of_the_same_version_is_a_note_and_an_unmeasured_rate_too():
    differences, notes = compare(RECORDED, TargetProfile("4.9.1", "4.9.1", False, True, 21, None))
    assert differences == []
    assert any(n.startswith("build:") for n in notes) and any(n.startswith("refill rate:") for n in notes)


def test_only_the_recorded_keys_are_compared():
    version_only = TargetProfile.from_dict({"version": "4.9"})
    assert _differs(version_only, TargetProfile("4.9.0", None, True, False)) == []
    assert _differs(version_only, TargetProfile("5.0.0", None, True, False)) == [
        "version: expected 4.9, found 5.0.0"
    ]


@pytest.mark.parametrize(
    "data",
    [
        {"version": "four"},
        {"licensed": "no"},
        {"rate_limit": {"enabled": "on"}},
        {"rate_limit": {"limit": "many"}},
        {"rate_limit": {"burst": 3}},
        {"colour": "red"},
        ["4.9"],
    ],
)
def test_an_ill_formed_profile_is_refused(data):
    with pytest.raises(ProfileError):
        TargetProfile.from_dict(data)


def test_a_baseline_carries_the_profile_and_loads_it_back(tmp_path):
    path = expectations.dump(tmp_path / "b.yaml", "http://x", [], RECORDED)
    loaded = expectations.load(path)
    assert loaded.profile == TargetProfile("4.9.0", "4.9.0-rc3", False, True, 21, 100.0)
    off = expectations.load(
        expectations.dump(tmp_path / "c.yaml", "x", [], TargetProfile("4.9.0", None, None, False))
    )
    assert off.profile == TargetProfile("4.9.0", None, None, False)


def test_a_bad_profile_section_is_an_expectations_error(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("profile:\n  rate_limit: {enabled: maybe}\ndeviations: []\n")
    with pytest.raises(expectations.ExpectationsError, match="enabled must be true or false"):
        expectations.load(path)


def test_the_shipped_49_file_requires_the_version_family_only():
    profile = expectations.load(expectations.bundled()).profile
    assert profile == TargetProfile(version="4.9")


def test_the_measured_rate_prefers_the_steady_rate_and_wants_a_narrow_range():
    assert measured_rate({"ratelimit.steady_rate": 99.0, "ratelimit.refill_range": [90, 110]}) == 99.0
    assert measured_rate({"ratelimit.refill_range": [90, 110]}) == 100.0
    assert measured_rate({"ratelimit.refill_range": [36, 123]}) is None
    assert measured_rate({"ratelimit.refill_range": [36, None]}) is None

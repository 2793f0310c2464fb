"""The open-model schedule: fixed send times, lateness when the generator falls behind."""

from __future__ import annotations

import pytest

from mmv3.load.arrivals import ArrivalSchedule, Lateness


def test_slots_are_evenly_spaced_and_phase_shifted() -> None:
    s = ArrivalSchedule(4.0, start=100.0, phase=0.5)
    slots = [s.next_slot(now=100.0) for _ in range(4)]
    assert slots == [100.125, 100.375, 100.625, 100.875]
    assert s.lateness.late == 0 and s.warning() is None


def test_late_slots_are_counted_and_warned_about_once() -> None:
    s = ArrivalSchedule(100.0, start=0.0)
    for _ in range(10):
        s.next_slot(now=1.0)  # every slot is up to 1 s in the past
    assert s.lateness.late == 10 and s.lateness.max_lag == pytest.approx(1.0)
    warning = s.warning()
    assert warning and "cannot keep 100 requests/s" in warning and "10 request(s)" in warning
    assert s.warning() is None  # nothing new since


def test_rate_changes_and_pauses() -> None:
    s = ArrivalSchedule(0.0, start=0.0)
    assert s.next_slot(now=0.0) is None
    s.set_rate(2.0, now=10.0)
    assert [s.next_slot(now=10.0), s.next_slot(now=10.0)] == [10.0, 10.5]
    with pytest.raises(ValueError):
        s.set_rate(-1, now=0.0)


def test_lateness_merges_worker_reports() -> None:
    total = Lateness()
    total.merge({"slots": 10, "late": 1, "max_lag_s": 0.2, "mean_lag_s": 0.01})
    total.merge({"slots": 30, "late": 0, "max_lag_s": 0.05, "mean_lag_s": 0.0})
    assert total.to_dict()["slots"] == 40 and total.late_ratio == pytest.approx(0.025)
    assert total.max_lag == pytest.approx(0.2)

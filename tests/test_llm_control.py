"""Rate control with no limit known: how a learned rate answers the endpoint's 429s."""

from __future__ import annotations

import pytest

from asyncgen.llm.control import RateControl


def learned_at_100_per_second() -> tuple[RateControl, float]:
    """10 s of sends at 100/s, then the first 429: a rate is learned from what was admitted."""
    control = RateControl(0.0)
    for i in range(1000):
        control.on_send(i * 0.01)
    assert control.on_refusal(10.0, 9.99, None)
    assert control.ceiling == pytest.approx(99.9, abs=0.2)
    return control, 10.0


def send_for(control: RateControl, start: float, seconds: float) -> float:
    """`seconds` more of sends at 100/s, all admitted; the end time."""
    n = int(seconds * 100)
    for i in range(n):
        control.on_send(start + i * 0.01)
    return start + n * 0.01


def test_a_stray_refusal_at_a_learned_rate_costs_one_percent() -> None:
    """One 429 in a thousand sends is the edge of a rate the endpoint keeps admitting (a
    rolling second's jitter): the learned rate drops 1 %, not 5 % (a 5 % sawtooth cost
    2-3 % of a run), and grows beyond it only as slowly as a stated limit's margin."""
    control, now = learned_at_100_per_second()
    now = send_for(control, now + 0.01, 10.0)
    before = control.current(now)[1]
    assert before is not None
    assert control.on_refusal(now, now - 0.01, None)
    assert control.ceiling == pytest.approx(0.99 * before)
    later = control.current(now + 5.0)[1]
    assert later is not None and later <= control.ceiling * 1.004**5 * 1.001


def test_many_refusals_at_a_learned_rate_still_cut_five_percent() -> None:
    """Refusals above 1 % of recent sends are no edge jitter: the rate is too high."""
    control, now = learned_at_100_per_second()
    now = send_for(control, now + 0.01, 10.0)
    before = control.current(now)[1]
    assert before is not None
    for i in range(20):  # refusals of requests sent before the last event: counted, no event
        assert not control.on_refusal(now - 0.9 + i * 0.001, 9.0, None)
    assert control.on_refusal(now, now - 0.01, None)
    assert control.ceiling == pytest.approx(0.95 * before)

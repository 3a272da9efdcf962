"""Rate control with no limit known: how a learned rate answers the endpoint's 429s."""

from __future__ import annotations

import pytest

from asyncgen.llm.control import CatchUp, RateControl


def learned_at_100_per_second() -> tuple[RateControl, float]:
    """10 s of sends at 100/s, then 429s: a rate is learned from what was admitted (the
    first refusal alone teaches none: refusals must repeat)."""
    control = RateControl(0.0)
    for i in range(1000):
        control.on_send(i * 0.01)
    assert not control.on_refusal(9.995, 9.98, None)
    assert control.ceiling is None
    assert control.on_refusal(10.0, 9.99, None)
    assert control.ceiling == pytest.approx(99.9, abs=0.2)
    return control, 10.0


def send_for(control: RateControl, start: float, seconds: float) -> float:
    """`seconds` more of sends at 100/s, all admitted; the end time."""
    n = int(seconds * 100)
    for i in range(n):
        control.on_send(start + i * 0.01)
    return start + n * 0.01


def test_a_first_rate_needs_refusals_that_repeat_among_admitted_sends() -> None:
    """Nothing learned yet: a lone 429 teaches no rate, nor do refusals of every send so
    far (a rate measured from them is the 0.1/s floor: it crawled); a second refusal among
    sends the endpoint admitted does, at what it admitted."""
    control = RateControl(0.0)
    control.on_send(0.0)
    control.on_send(0.0)
    assert not control.on_refusal(0.001, 0.0, None)  # the run's first send, refused
    assert not control.on_refusal(0.002, 0.0, None)  # and its second: nothing admitted
    assert control.ceiling is None
    for i in range(1, 301):  # 3 s at 100/s, all admitted
        control.on_send(i * 0.01)
    assert control.ceiling is None
    assert control.on_refusal(3.0, 2.99, None)  # the third refusal: a rate
    assert control.ceiling == pytest.approx(299 / 3.0, rel=0.02)


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


def test_catch_up_window_grows_while_quiet_and_lets_unsent_requests_go() -> None:
    """No 429s: the window grows a step per quiet half second to 10 s; sends the pacer did
    not make in the last 10 s (the cap held them back) may then go at once."""
    catch_up = CatchUp(0.0)
    assert catch_up.wait(0.0, 100.0) is None  # uniform pacing from the start
    sends = [i * 0.01 for i in range(1000) if not 8.0 <= i * 0.01 < 9.0]  # a 1 s stall
    for t in sends:
        catch_up.on_send(t)
    assert catch_up.window(10.0)[0] == 10.0
    for _ in range(100):  # the stall's 100 sends are made up at once
        assert catch_up.wait(10.0, 100.0) == 0.0
        catch_up.on_send(10.0)
    # 1,000 in 10 s (and a 20 ms guard): the next waits for the oldest to age out
    assert catch_up.wait(10.0, 100.0) == pytest.approx(0.02, abs=1e-4)


def test_catch_up_drops_to_uniform_pacing_after_a_429_and_waits_longer_each_time() -> None:
    """A 429 while a window is in force (a rolling 1 s window refusing the catch-up): uniform
    pacing for 5 s, then the window grows again; the next such 429 holds it 10 s."""
    catch_up = CatchUp(0.0)
    assert catch_up.window(2.0)[0] == 10.0
    assert catch_up.on_refusal(2.0, 1.99)  # to blame: the rate is not lowered
    assert catch_up.on_refusal(2.01, 1.995)  # a burst's other refusals: the same
    assert catch_up.wait(2.0, 100.0) is None
    assert catch_up.window(6.9)[0] == 0.0
    assert catch_up.window(7.0)[0] == 2.0
    catch_up.on_refusal(7.1, 7.09)
    assert catch_up.window(16.9)[0] == 0.0
    assert catch_up.window(17.1)[0] == 2.0
    assert catch_up.shrinks == 2


def test_a_429_at_uniform_pacing_delays_the_next_step() -> None:
    """A stray 429 while pacing uniformly: the window grows only after a quiet step."""
    catch_up = CatchUp(0.0)
    assert not catch_up.on_refusal(0.4, 0.39)  # the rate's business
    assert catch_up.window(0.6)[0] == 0.0
    assert catch_up.window(0.9)[0] == 2.0


def test_catch_up_lead_starts_small_and_doubles_while_quiet() -> None:
    """The first probe of a window runs at most 5 requests (0.05 s of 100/s) ahead within a
    second: against a rolling 1 s window it costs a few 429s, not a second's worth."""
    catch_up = CatchUp(0.0)
    for i in range(50):  # 0.5 s at 100/s
        catch_up.on_send(i * 0.01)
    assert catch_up.window(0.5) == (2.0, 0.05)
    for _ in range(55):  # 100 in the last second is the rate; 5 more is the lead
        assert catch_up.wait(0.5, 100.0) == 0.0
        catch_up.on_send(0.5)
    assert catch_up.wait(0.5, 100.0) == pytest.approx(
        0.5, abs=1e-4
    )  # until the oldest is a second old
    assert catch_up.window(1.0) == (5.0, 0.1)
    assert catch_up.window(3.0)[1] == pytest.approx(1.6)  # six steps: 0.05 s x 2^5

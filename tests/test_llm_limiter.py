"""The rate limiter on a fake clock: pacing, burst, pause and ramp, header learning, AIMD."""

from __future__ import annotations

import asyncio
import bisect

import pytest
from fake_clock import FakeClock

from asyncgen.config import LimitSettings
from asyncgen.llm import RateLimiter, RateLimitInfo
from asyncgen.llm.window import PriorityLock, Window
from asyncgen.sim.ratelimit import RateLimiter as EndpointLimiter


def limiter(clock: FakeClock, **limits: object) -> RateLimiter:
    settings = LimitSettings.model_validate({"resume_ramp_seconds": 0, **limits})
    return RateLimiter(settings, clock=clock, sleep=clock.sleep)


async def send_times(lim: RateLimiter, clock: FakeClock, n: int, tokens: int = 0) -> list[float]:
    times = []
    for _ in range(n):
        permit = await lim.acquire(tokens, 0)
        times.append(clock.now)
        lim.release(permit, outcome="ok", used_tokens=tokens)
    return times


async def test_rpm_paces_sends_evenly() -> None:
    """At 600 RPM sends go out 0.1 s apart from a cold start, never faster."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600, burst_seconds=0.2)
    times = await send_times(lim, clock, 22)
    assert times[1] - times[0] == pytest.approx(0.1)  # no burst from a cold start
    assert times[-1] - times[0] == pytest.approx(2.1, abs=1e-6)
    assert all(b - a <= 0.1 + 1e-9 for a, b in zip(times, times[1:], strict=False))


async def test_default_burst_is_admitted_by_an_openai_style_endpoint() -> None:
    """With the default burst (a tenth of a second of the limit), every send at 6,000 RPM is
    one the simulator's OpenAI-style limiter admits: no 429 from a cold start, none paced."""
    clock = FakeClock()
    lim = limiter(clock, rpm=6000)
    times = await send_times(lim, clock, 800)
    endpoint = EndpointLimiter(6000, None, clock=iter(times).__next__)
    refused = [t for t in times if not endpoint.admit("key", 0).admitted]
    assert refused == []
    assert sum(1 for t in times if t == times[0]) == 1  # no burst from a cold start
    assert times[-1] - times[0] == pytest.approx(7.99, abs=0.02)  # then 100/s


async def test_short_burst_keeps_every_second_near_its_share() -> None:
    """For endpoints that count fixed windows, a short burst keeps any 1 s under share + 5 %."""
    clock = FakeClock()
    lim = limiter(clock, rpm=6000, burst_seconds=0.05)
    times = await send_times(lim, clock, 500)
    worst = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert worst <= 105


async def test_tpm_paces_by_tokens() -> None:
    """At 6,000 TPM, 1,000-token requests go out every 10 s once the burst is spent."""
    clock = FakeClock()
    lim = limiter(clock, tpm=6000, burst_seconds=10)
    times = await send_times(lim, clock, 4, tokens=1000)
    assert [round(t - times[0], 3) for t in times] == [0.0, 10.0, 20.0, 30.0]


async def test_oversized_request_waits_for_a_full_bucket_then_goes() -> None:
    """A request larger than the burst is not stuck forever: it runs into debt."""
    clock = FakeClock()
    lim = limiter(clock, tpm=600, burst_seconds=1)
    times = await send_times(lim, clock, 2, tokens=50)
    assert times[1] - times[0] == pytest.approx(5.0)


async def test_pause_holds_everyone_then_ramps() -> None:
    """A 429 pause stops every send until retry-after; the rate then ramps back up."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600, burst_seconds=0.1, resume_ramp_seconds=2.0)
    start = clock.now
    lim.pause(3.0)
    times = await send_times(lim, clock, 12)
    assert times[0] >= start + 3.0
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] > gaps[-1] >= 0.1 - 1e-9  # slower right after the pause, full rate later
    assert lim.pauses == 1


async def test_headers_teach_limits_and_remaining_lowers_level() -> None:
    """A response's limit creates the bucket; a low remaining drains it to match the server."""
    clock = FakeClock()
    lim = limiter(clock, burst_seconds=1.0)
    assert lim.rpm_limit is None and lim.is_adaptive
    permit = await lim.acquire()
    info = RateLimitInfo(limit_requests=600, remaining_requests=0, reset_requests=60.0)
    lim.release(permit, outcome="ok", info=info)
    assert lim.rpm_limit == 600 and not lim.is_adaptive
    before = clock.now
    await send_times(lim, clock, 1)
    assert clock.now - before == pytest.approx(0.1, abs=0.01)  # waited for one token to refill


async def test_fixed_window_reset_holds_sends_until_the_window_resets() -> None:
    """remaining=0 with a reset far sooner than a continuous refill means: wait for the reset."""
    clock = FakeClock()
    lim = limiter(clock, burst_seconds=1.0)
    permit = await lim.acquire()
    info = RateLimitInfo(limit_requests=600, remaining_requests=0, reset_requests=5.0)
    lim.release(permit, outcome="ok", info=info)
    before = clock.now
    await send_times(lim, clock, 1)
    assert clock.now - before == pytest.approx(5.0, abs=0.01)


async def test_limit_learned_late_charges_the_sends_already_made() -> None:
    """Sends made before the limit was known count against the new bucket (no 1 s overshoot)."""
    clock = FakeClock()
    lim = limiter(clock, initial_concurrency=32, burst_seconds=1.0)
    permits = [await lim.acquire() for _ in range(30)]
    clock.now += 0.2
    for permit in permits:
        lim.release(permit, outcome="ok", info=RateLimitInfo(limit_requests=1200))
    start = clock.now
    await send_times(lim, clock, 1)
    # 30 sent in 0.2 s at 20/s: 26 ahead of pace, waited off from one request's worth
    assert clock.now - start == pytest.approx(1.3, abs=0.01)


async def test_aimd_halves_on_503_and_grows_on_success() -> None:
    """Without known limits the window halves on a 503/529 and creeps up on successes."""
    clock = FakeClock()
    lim = limiter(clock, initial_concurrency=64, concurrency=64)
    assert lim.window.size == 64
    permit = await lim.acquire()
    lim.release(permit, outcome="overloaded")
    assert lim.window.size == 32
    for _ in range(40):
        clock.now += 0.2
        permit = await lim.acquire()
        lim.release(permit, outcome="ok", latency=0.01)
    assert 33 <= lim.window.size <= 40


async def test_latency_alone_never_shrinks_the_window() -> None:
    """Answers slowing down 20x (a server queueing them) is no refusal: the window stays."""
    clock = FakeClock()
    lim = limiter(clock, concurrency=64)
    for latency in [0.05] * 30 + [1.0] * 30:
        clock.now += 0.5
        permit = await lim.acquire()
        lim.release(permit, outcome="ok", latency=latency)
    assert lim.window.size == 64


async def test_no_limit_known_goes_to_the_concurrency_cap_after_the_first_answer() -> None:
    """16 go out before the endpoint's first answer (its headers may state a limit); an
    answer that states none opens the whole cap at once, as a plain client would (no slow
    start), and nothing paces the sends."""
    clock = FakeClock()
    lim = limiter(clock, concurrency=50)
    first = [await lim.acquire() for _ in range(16)]
    assert lim.window.size == 16
    lim.release(first.pop(), outcome="ok", latency=0.4)
    more = [await lim.acquire() for _ in range(35)]
    assert clock.now == 1000.0 and lim.window.active == 50 and lim.rate_in_force is None
    for permit in first + more:
        lim.release(permit, outcome="ok")


async def test_429s_by_slots_in_flight_lower_the_window_not_the_rate() -> None:
    """50 sent at once, the endpoint admits 45 in flight: the 5 refused at levels 45-49 hold
    the window at 45 and teach no rate (a concurrency limit, whatever the send rate)."""
    clock = FakeClock()
    lim = limiter(clock, concurrency=50, initial_concurrency=50)
    permits = [await lim.acquire() for _ in range(50)]
    clock.now += 0.002
    for permit in permits[45:]:
        lim.release(permit, outcome="rate_limited")
    assert lim.window.size == 45 and lim.rate_in_force is None
    clock.now += 0.4
    for permit in permits[:45]:
        lim.release(permit, outcome="ok")
    for _ in range(3):  # the window holds: 45 at a time, sent at once, no pacing
        batch = [await lim.acquire() for _ in range(45)]
        assert lim.window.active == 45 and lim.window.waiting == 0
        clock.now += 0.4
        for permit in batch:
            lim.release(permit, outcome="ok")
    assert lim.window.size == 45 and lim.rate_in_force is None


async def test_429s_at_a_level_the_endpoint_admits_teach_a_rate() -> None:
    """Requests sent with 49 others in flight kept passing, then ones at that level are
    refused: not a slot count but a rate; the window stays at the cap and, once the
    refusals repeat, sends are paced (a lone 429 paces nothing)."""
    clock = FakeClock()
    lim = limiter(clock, concurrency=50, initial_concurrency=50)
    permits = [await lim.acquire() for _ in range(50)]
    for _ in range(500):  # a steady 100/s at 50 in flight, each sent with 49 others out
        clock.now += 0.01
        lim.release(permits.pop(0), outcome="ok")
        permits.append(await lim.acquire())
    clock.now += 0.01
    lim.release(permits.pop(0), outcome="rate_limited")
    assert lim.window.size == 50 and lim.rate_in_force is None
    clock.now += 0.01
    lim.release(permits.pop(0), outcome="rate_limited")
    assert lim.window.size == 50
    # paced at what the endpoint admitted (550 in 5 s, the first 50 at once)
    assert lim.rate_in_force is not None and 100 <= lim.rate_in_force <= 115


async def test_window_resizes_while_tasks_wait() -> None:
    """Growing the window admits queued tasks at once, in order."""
    window = Window(1, cap=4)
    await window.acquire()
    order: list[int] = []

    async def take(i: int) -> None:
        await window.acquire()
        order.append(i)

    tasks = [asyncio.create_task(take(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert order == [] and window.waiting == 3
    window.set_limit(3)
    await asyncio.sleep(0)
    assert order == [0, 1]
    window.release()
    await asyncio.gather(tasks[2])
    assert order == [0, 1, 2] and window.active == 3


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    """A task cancelled while queued leaves the window's count intact."""
    window = Window(1, cap=1)
    await window.acquire()
    waiter = asyncio.create_task(window.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    window.release()
    assert window.active == 0 and window.waiting == 0


async def test_retries_go_ahead_of_first_attempts() -> None:
    """Waiting for the pacing lock, a retry is served before first attempts queued earlier."""
    lock = PriorityLock()
    await lock.acquire()
    order: list[str] = []

    async def take(name: str, urgent: bool) -> None:
        await lock.acquire(urgent=urgent)
        order.append(name)
        lock.release()

    tasks = [asyncio.create_task(take(f"new{i}", False)) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(take("retry", True)))
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["retry", "new0", "new1", "new2"] and not lock.locked


async def test_measuring_mode_does_not_pause_after_a_429() -> None:
    """With pause_on_429 off (bench: limiter off), a 429 holds back no later send."""
    clock = FakeClock()
    lim = limiter(clock, pause_on_429=False, adaptive=False)
    permit = await lim.acquire(0, 0)
    lim.release(permit, outcome="rate_limited", retry_after=5.0)
    start = clock.now
    await send_times(lim, clock, 3)
    assert clock.now == start
    assert lim.paused_for == 0


# -- rate control: a 429 is information -----------------------------------------------------


class RollingWindow:
    """An endpoint admitting at most `per_second` requests in any sliding second."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self.admitted: list[float] = []

    def admit(self, now: float) -> bool:
        recent = [t for t in self.admitted[-self.per_second :] if t > now - 1.0]
        if len(recent) >= self.per_second:
            return False
        self.admitted.append(now)
        return True


async def drive_against(
    lim: RateLimiter, clock: FakeClock, endpoint: RollingWindow, seconds: float
) -> tuple[int, int]:
    """Send as fast as the limiter allows for `seconds`; (admitted, refused)."""
    admitted = refused = 0
    end = clock.now + seconds
    while clock.now < end:
        permit = await lim.acquire()
        if endpoint.admit(clock.now):
            admitted += 1
            lim.release(permit, outcome="ok")
        else:
            refused += 1
            lim.release(permit, outcome="rate_limited", retry_after=1.0)
    return admitted, refused


async def test_a_configured_limit_that_draws_429s_is_lowered_a_little() -> None:
    """Configured 6,000 RPM against a rolling 1 s window of 100: a few 429s teach the margin,
    and the rate stays at the endpoint's limit (no second-long pause per 429)."""
    clock = FakeClock()
    lim = limiter(clock, rpm=6000, burst_seconds=1.0)
    admitted, refused = await drive_against(lim, clock, RollingWindow(100), 30.0)
    assert admitted >= 0.96 * 3000
    assert refused <= 0.02 * admitted
    assert lim.pauses <= 1  # at most the cold start's burst meets a closed second


async def test_a_limit_higher_than_the_endpoints_adapts_down() -> None:
    """Headers (or config) say 12,000 RPM, a proxy in front admits 6,000: the rate follows the
    endpoint (each closed window lowers it) and the 429s stop."""
    clock = FakeClock()
    lim = limiter(clock, rpm=12000)
    endpoint = RollingWindow(100)
    await drive_against(lim, clock, endpoint, 40.0)
    admitted, refused = await drive_against(lim, clock, endpoint, 20.0)
    assert admitted >= 0.95 * 2000 and refused <= 0.02 * admitted
    assert lim.snapshot()["send_rpm"] < 6300


async def test_no_limit_known_learns_the_rate_the_endpoint_admits() -> None:
    """No limit given, no headers: the first 429s set a learned rate near what was admitted."""
    clock = FakeClock()
    lim = limiter(clock, concurrency=64)
    await drive_against(lim, clock, RollingWindow(100), 5.0)
    admitted, refused = await drive_against(lim, clock, RollingWindow(100), 20.0)
    assert admitted >= 0.93 * 2000 and refused <= 0.03 * admitted
    assert lim.control.ceiling is not None and 90 <= lim.control.ceiling <= 110


async def test_a_run_of_429s_holds_everyone_briefly() -> None:
    """Five 429s in a row mean the window is closed: every send waits the advice (at most 2 s)."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600)
    for _ in range(5):
        permit = await lim.acquire()
        lim.release(permit, outcome="rate_limited", retry_after=1.5)
    assert lim.paused_for == pytest.approx(1.5)


async def test_answers_of_earlier_sends_do_not_hide_a_closed_window() -> None:
    """Five sends in a row refused close the window even while answers of requests sent
    before it shut keep arriving between the 429s (a 429 comes back at once, an answer a
    latency later): the run is counted in send order."""
    clock = FakeClock()
    lim = limiter(clock, rpm=6000)
    earlier = [await lim.acquire() for _ in range(5)]
    refused = [await lim.acquire() for _ in range(5)]
    for before, permit in zip(earlier, refused, strict=True):
        lim.release(permit, outcome="rate_limited", retry_after=1.5)
        lim.release(before, outcome="ok")
    assert lim.paused_for == pytest.approx(1.5)
    assert lim.pauses == 1


async def test_refusals_between_admitted_sends_hold_no_one() -> None:
    """A window at its edge refuses every other send and admits the rest: no closed window,
    however many 429s arrive before the admitted sends' answers."""
    clock = FakeClock()
    lim = limiter(clock, rpm=6000)
    permits = [await lim.acquire() for _ in range(12)]
    for permit in permits[::2]:
        lim.release(permit, outcome="rate_limited", retry_after=1.5)
    assert lim.paused_for == 0 and lim.pauses == 0
    for permit in permits[1::2]:
        lim.release(permit, outcome="ok")
    assert lim.pauses == 0


async def test_cancelling_many_waiters_of_the_pacing_lock_is_clean() -> None:
    """Waiters cancelled while the holder releases (a second Ctrl-C) leave no error behind."""
    lock = PriorityLock()
    await lock.acquire()
    waiters = [asyncio.create_task(lock.acquire()) for _ in range(5)]
    await asyncio.sleep(0)
    for task in waiters:
        task.cancel()
    lock.release()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    await asyncio.wait_for(lock.acquire(), 1.0)


async def _reading(lim: RateLimiter, clock: FakeClock, remaining: int, reset: float) -> None:
    permit = await lim.acquire()
    info = RateLimitInfo(limit_requests=600, remaining_requests=remaining, reset_requests=reset)
    lim.release(permit, outcome="ok", info=info)


async def test_a_fixed_windows_remaining_is_spent_at_once() -> None:
    """Two readings 0.5 s apart point at the same reset moment, less left by what was sent
    between: a fixed window. Its 300 remaining go out without pacing (600 RPM: 30 s)."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600)
    await _reading(lim, clock, remaining=320, reset=20.0)
    await send_times(lim, clock, 1)
    clock.now += 0.5
    await _reading(lim, clock, remaining=318, reset=20.0 - (clock.now - 1000.0))
    start = clock.now
    await send_times(lim, clock, 300)
    assert clock.now - start < 0.01


async def test_a_moving_reset_grants_no_credit() -> None:
    """A bucket's reset moves with every send (no fixed moment): its large remaining is a
    minute's figure, not what a shorter window admits now, so sends stay paced."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600)
    await _reading(lim, clock, remaining=590, reset=1.0)
    clock.now += 0.5
    await _reading(lim, clock, remaining=590, reset=1.0)
    start = clock.now
    await send_times(lim, clock, 21)
    assert clock.now - start == pytest.approx(2.0, abs=0.15)


async def test_a_remaining_below_a_second_of_the_rate_is_spendable_now() -> None:
    """A GCRA's burst being spent: remaining 8 at 600 RPM (under a second's 10) passes now."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600)
    await _reading(lim, clock, remaining=8, reset=0.2)
    start = clock.now
    await send_times(lim, clock, 8)
    assert clock.now - start < 0.01


async def test_a_continuous_buckets_second_share_is_spent_at_once() -> None:
    """OpenAI-style headers (reset = time to refill what is used at 600 RPM): the bucket
    lacks 1 of its second's 10, so 9 go at once (the lead that absorbs stalls), then paced."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600)
    await _reading(lim, clock, remaining=599, reset=0.1)
    start = clock.now
    await send_times(lim, clock, 9)
    assert clock.now - start < 0.01
    await send_times(lim, clock, 1)
    assert clock.now - start == pytest.approx(0.1, abs=0.01)


async def test_a_rolling_windows_remaining_grants_no_second_share() -> None:
    """The same remaining with a reset a minute away (a rolling window's newest request
    ageing out) is no bucket: a shorter window may hold less, so sends stay paced."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600)
    await _reading(lim, clock, remaining=599, reset=59.9)
    start = clock.now
    await send_times(lim, clock, 10)
    assert clock.now - start == pytest.approx(1.0, abs=0.15)


async def test_no_second_share_once_the_endpoint_has_refused() -> None:
    """After a 429 the endpoint is known to count short windows: no credit from headers."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600)
    permit = await lim.acquire()
    lim.release(permit, outcome="rate_limited", retry_after=0.1)
    clock.now += 2.0
    await _reading(lim, clock, remaining=599, reset=0.1)
    start = clock.now
    await send_times(lim, clock, 6)
    assert clock.now - start > 0.3


async def test_free_slots_in_the_headers_do_not_drain_a_given_rate() -> None:
    """A slot limit's headers (remaining = free slots, reset 0) say nothing of the rate the
    user gave: a full window of slots must not empty the rate's bucket."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600, burst_seconds=1.0)
    clock.now += 2.0  # the bucket holds its second's 10
    permit = await lim.acquire()
    info = RateLimitInfo(concurrency=45, remaining_requests=0, reset_requests=0.0)
    lim.release(permit, outcome="ok", info=info)
    start = clock.now
    await send_times(lim, clock, 5)
    assert clock.now - start < 0.01


async def test_a_task_waiting_for_its_turn_at_the_rate_holds_no_slot() -> None:
    """Tasks queued behind the rate take no slot of the window until their turn: a slot held
    while waiting is a request the endpoint could be serving."""
    clock = FakeClock()
    gate = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await gate.wait()
        clock.now += seconds

    settings = LimitSettings(rpm=60, concurrency=4, resume_ramp_seconds=0)
    lim = RateLimiter(settings, clock=clock, sleep=sleep)
    first = await lim.acquire()
    waiting = [asyncio.create_task(lim.acquire()) for _ in range(3)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert lim.window.active == 1  # the one sent; the three waiting for the rate hold none
    gate.set()
    permits = await asyncio.gather(*waiting)
    assert lim.window.active == 4
    for permit in [first, *permits]:
        lim.release(permit, outcome="ok")
    assert lim.window.active == 0


async def test_a_lower_rate_the_user_gave_gets_no_second_share() -> None:
    """The endpoint's bucket would admit a second of its 6,000 RPM at once, but the user said
    300 RPM (a key shared with another process): sends keep to the user's pace."""
    clock = FakeClock()
    lim = limiter(clock, rpm=300)
    permit = await lim.acquire()
    info = RateLimitInfo(limit_requests=6000, remaining_requests=5999, reset_requests=0.01)
    lim.release(permit, outcome="ok", info=info)
    start = clock.now
    await send_times(lim, clock, 6)
    assert clock.now - start == pytest.approx(1.2, abs=0.15)


async def test_a_spent_fixed_window_reopens_whole() -> None:
    """A fixed window seen to be one (the same reset moment, less left by what was sent) and
    then spent holds sends until its reset, then what it was read to hold goes at once
    (not paced from one request, waiting a round trip for the new window's remaining)."""
    clock = FakeClock()
    lim = limiter(clock, rpm=600)
    await _reading(lim, clock, remaining=320, reset=20.0)
    await send_times(lim, clock, 1)
    clock.now += 0.5
    await _reading(lim, clock, remaining=318, reset=20.0 - (clock.now - 1000.0))
    clock.now += 0.5
    await _reading(lim, clock, remaining=0, reset=20.0 - (clock.now - 1000.0))
    start = clock.now
    await send_times(lim, clock, 1)
    opened = clock.now
    assert opened - start == pytest.approx(19.0, abs=0.1)  # not before the reset
    await send_times(lim, clock, 300)
    assert clock.now - opened < 0.01


async def test_rolling_window_headers_let_sends_make_up_a_stall_until_a_429() -> None:
    """6,000 RPM, headers of a rolling minute (remaining = what the last minute left, reset
    = its newest request's age-out): a second the sends were held back (the cap of
    requests in flight) is made up at once, as a rolling 10 s window admits, and no 10 s
    ever holds more than 1,000 (so no minute more than the 6,000 given); a 429 after it
    (a rolling 1 s window refusing the catch-up) brings back uniform pacing."""
    clock = FakeClock()
    lim = limiter(clock, rpm=6000)
    times: list[float] = []

    async def send(n: int) -> float:
        start = clock.now
        for _ in range(n):
            permit = await lim.acquire()
            times.append(clock.now)
            in_minute = len(times) - bisect.bisect_right(times, clock.now - 60.0)
            info = RateLimitInfo(
                limit_requests=6000, remaining_requests=6000 - in_minute, reset_requests=60.0
            )
            lim.release(permit, outcome="ok", info=info)
        return clock.now - start

    await send(500)  # the first seconds (a 10 s window's room spent as the lead grows)
    for _ in range(1500):  # then a request every 10 ms, as the rate's pace needs
        clock.now = max(clock.now, times[-1] + 0.01)
        await send(1)
    clock.now += 1.0  # a second with no sends (the cap of requests in flight held them)
    assert await send(100) < 0.05  # made up at once
    await send(3000)  # (within the first minute: a minute nearly spent reads otherwise)
    assert max(bisect.bisect_left(times, t + 10.0) - i for i, t in enumerate(times)) <= 1000
    permit = await lim.acquire()
    lim.release(permit, outcome="rate_limited", retry_after=0.5)
    clock.now += 1.0
    assert await send(100) > 0.9  # uniform pacing: the stall is not made up


async def test_a_rolling_minute_nearly_spent_is_not_taken_for_a_gcra_burst() -> None:
    """Headers first read as a rolling minute's (reset = its newest request's age-out); a
    later reading with less than a second's share left is that minute nearly spent, not a
    GCRA's burst to spend at once: the sends stay paced (a 10 s or 1 s window the headers
    do not show would refuse the burst)."""
    clock = FakeClock()
    lim = limiter(clock, rpm=6000)
    for remaining in (5999, 5998):
        permit = await lim.acquire()
        info = RateLimitInfo(limit_requests=6000, remaining_requests=remaining, reset_requests=60)
        lim.release(permit, outcome="ok", info=info)
        clock.now += 0.5
    permit = await lim.acquire()
    info = RateLimitInfo(limit_requests=6000, remaining_requests=80, reset_requests=60)
    lim.release(permit, outcome="ok", info=info)
    clock.now += 2.0  # a stall the catch-up would otherwise make up
    start = clock.now
    await send_times(lim, clock, 80)
    assert clock.now - start > 0.5


async def test_token_bucket_headers_get_no_catch_up_window() -> None:
    """A continuous bucket's headers (reset = time to refill what was used) have their own
    credit rule (a second's share at once): after a 5 s stall the sends do not make up the
    stall's 500, as a 10 s catch-up window would."""
    clock = FakeClock()
    lim = limiter(clock, rpm=6000)
    for _ in range(300):
        permit = await lim.acquire()
        info = RateLimitInfo(limit_requests=6000, remaining_requests=5999, reset_requests=0.01)
        lim.release(permit, outcome="ok", info=info)
    clock.now += 5.0
    start = clock.now
    await send_times(lim, clock, 600)
    assert clock.now - start > 4.5  # a second's share at once, then the rate


async def _stall_made_up(info: RateLimitInfo | None, rpm: int = 6000) -> tuple[float, list[float]]:
    """Sends at the user's `rpm` (6,000: a request every 10 ms) for 5 s with these headers
    on every answer, then a second with none (the cap of requests in flight held them):
    the seconds the next 100 sends take, and every send time."""
    clock = FakeClock()
    lim = limiter(clock, rpm=rpm)
    times: list[float] = []

    async def send(n: int) -> float:
        start = clock.now
        for _ in range(n):
            permit = await lim.acquire()
            times.append(clock.now)
            lim.release(permit, outcome="ok", info=info)
        return clock.now - start

    for _ in range(500):
        clock.now = max(clock.now, times[-1] + 0.01) if times else clock.now
        await send(1)
    clock.now += 1.0
    took = await send(100)
    await send(1000)
    return took, times


def _most_in(times: list[float], seconds: float) -> int:
    return max(bisect.bisect_left(times, t + seconds) - i for i, t in enumerate(times))


@pytest.mark.parametrize(
    "info",
    [
        # a limit on requests in flight (remaining = free slots, reset 0): no rate stated
        RateLimitInfo(concurrency=45, remaining_requests=30, reset_requests=0.0),
        # the simulator's daily budget in OpenAI's names (8.64 M refilling at 100/s), one
        # request used: read as a continuous bucket of 1,440 times the user's rate a minute
        RateLimitInfo(limit_requests=8_640_000, remaining_requests=8_639_999, reset_requests=0.01),
        RateLimitInfo(daily_requests=14_400, remaining_requests=14_000, reset_requests=2400.0),
    ],
    ids=["slots", "far-looser", "daily"],
)
async def test_a_given_rpm_with_no_rate_stated_near_it_makes_up_a_stall(
    info: RateLimitInfo,
) -> None:
    """The endpoint states its request limits and none is a rate near the 6,000 RPM the user
    gave: a second the sends were held back is made up at once, and no 10 s (so no
    minute) ever holds more than the user's rate allows."""
    took, times = await _stall_made_up(info)
    assert took < 0.05
    assert _most_in(times, 10.0) <= 1000
    assert _most_in(times, 60.0) <= 6000


@pytest.mark.parametrize(
    "info",
    [
        None,  # no limit headers: the endpoint may count single seconds, which refuse a lead
        # a stated limit twice the user's (a key shared with another process)
        RateLimitInfo(limit_requests=12_000, remaining_requests=11_990, reset_requests=0.05),
    ],
    ids=["no-headers", "shared-key"],
)
async def test_a_given_rpm_otherwise_keeps_its_uniform_pace(info: RateLimitInfo | None) -> None:
    """Without headers, or with a stated rate near the user's, the second held back is not
    made up: the next 100 sends take about a second (a burst of 0.1 s goes at once)."""
    took, _ = await _stall_made_up(info)
    assert took > 0.85


async def test_a_429_ends_a_given_rpms_catch_up() -> None:
    """A 429 while the user's rate is made up (an endpoint counting single seconds after
    all) brings back uniform pacing: a stall made up before it is not after it, and the
    refusal is the catch-up's, not the rate's."""
    clock = FakeClock()
    lim = limiter(clock, rpm=6000)
    slots = RateLimitInfo(concurrency=45, remaining_requests=30, reset_requests=0.0)

    async def stall_then(n: int) -> float:
        clock.now += 1.0
        start = clock.now
        for _ in range(n):
            permit = await lim.acquire()
            lim.release(permit, outcome="ok", info=slots)
        return clock.now - start

    for _ in range(300):
        permit = await lim.acquire()
        clock.now += 0.01
        lim.release(permit, outcome="ok", info=slots)
    assert await stall_then(100) < 0.05
    permit = await lim.acquire()
    lim.release(permit, outcome="rate_limited", retry_after=0.5)
    assert await stall_then(100) > 0.85
    assert lim.control.margin == 1.0


@pytest.mark.parametrize("per_second", [3, 100])
async def test_429s_that_repeat_still_teach_a_rate_from_a_cold_start(per_second: int) -> None:
    """No limit known, and the endpoint refuses from the first seconds on: one 429 alone
    teaches no rate, but refusals that repeat do, and the rate settles at what the
    endpoint admits, with few 429s (a tiny free-tier limit as well as 100/s)."""
    clock = FakeClock()
    lim = limiter(clock, concurrency=8)
    endpoint = RollingWindow(per_second)
    await drive_against(lim, clock, endpoint, 20.0)
    admitted, refused = await drive_against(lim, clock, endpoint, 20.0)
    assert admitted >= 0.85 * 20 * per_second
    assert refused <= 0.1 * admitted
    ceiling = lim.control.ceiling
    assert ceiling is not None and 0.75 * per_second <= ceiling <= 1.15 * per_second


async def test_a_lone_429_mid_run_with_nothing_learned_paces_nothing() -> None:
    """A thousand sends admitted, then one 429 (another process on the key for a moment):
    no rate is learned from it, sends stay unpaced; a second 429 soon after is a rate."""
    clock = FakeClock()
    lim = limiter(clock, concurrency=8)
    for _ in range(1000):
        clock.now += 0.01
        lim.release(await lim.acquire(), outcome="ok")
    lim.release(await lim.acquire(), outcome="rate_limited", retry_after=1.0)
    assert lim.rate_in_force is None and lim.paused_for == 0
    before = clock.now
    for _ in range(50):
        lim.release(await lim.acquire(), outcome="ok")
    assert clock.now == before  # not paced
    clock.now += 1.0
    lim.release(await lim.acquire(), outcome="rate_limited", retry_after=1.0)
    assert lim.rate_in_force is not None


async def _refused_at(level_admitted: int, level_refused: int) -> RateLimiter:
    """6,000 RPM given, no limit headers: 300 sends admitted, each with `level_admitted`
    others in flight, then one sent with `level_refused` others in flight is refused."""
    clock = FakeClock()
    lim = limiter(clock, rpm=6000, concurrency=50)
    out = [await lim.acquire() for _ in range(level_admitted)]
    for _ in range(300):
        clock.now += 0.01
        out.append(await lim.acquire())
        lim.release(out.pop(0), outcome="ok")
    extra = [await lim.acquire() for _ in range(level_refused - level_admitted)]
    refused = await lim.acquire()
    lim.release(refused, outcome="rate_limited")
    for permit in out + extra:
        lim.release(permit, outcome="ok")
    return lim


async def test_a_given_rpm_without_headers_still_finds_a_slot_limit() -> None:
    """The user gave 6,000 RPM; the endpoint states no limit and refuses a request sent with
    45 others in flight, a level it never admitted: a slot limit (the window holds 45),
    not a rate (the pace stays the user's, no rate event)."""
    lim = await _refused_at(44, 45)
    assert lim.window.size == 45
    assert lim.rate_in_force == pytest.approx(100.0) and lim.control.events == 0


async def test_a_given_rpm_without_headers_takes_a_refusal_at_an_admitted_level_as_a_rate() -> None:
    """A refusal at the level the endpoint kept admitting is the rate's edge: the window
    stays at the cap and rate control counts the event."""
    lim = await _refused_at(44, 44)
    assert lim.window.size == 50 and lim.control.events == 1

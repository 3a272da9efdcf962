"""How fast to send when the endpoint's 429s say the limits we hold are wrong.

A 429 is information. Limits given in config or learned from headers may be too high
(a proxy in front with its own, a key shared with another process, a stricter window
than the headers suggest), and an endpoint may state no limit at all. `RateControl`
keeps the send rate where the endpoint admits it, without a hint:

- **Known limit** (config or headers): send at `margin` × the limit. Each 429 *event*
  (the first 429 of requests sent after the previous decrease: the others are the same
  congestion, as in TCP) multiplies `margin` by `DECREASE`; if what the endpoint really
  admitted over the last seconds is far below, `margin` jumps there at once. Without
  429s `margin` recovers by `RECOVER` per second, back to the full limit.
- **Unknown limit**: nothing paces sends (the concurrency window alone) until the first
  429 event, which takes refusals that repeat (`LEARN_AFTER`) among sends the endpoint
  partly admitted: a lone 429 costs only its own request the advised wait (measured from
  it alone, a refusal of a run's first send set the rate to 0.1/s); then the rate the
  endpoint was admitting becomes a learned `ceiling`, which
  later events lower the same way and quiet seconds raise by `PROBE` (multiplicative),
  so a limit that rises is found again.

This is AIMD on the send rate with a learned ceiling: the idea of AWS's adaptive retry
mode (a client-side token bucket whose rate drops on throttling and grows back cubically
toward the rate measured when throttled), simplified because a rate limit, unlike
congestion, stays put: after the first event the ceiling sits at the measured limit.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

DECREASE = 0.95  # learned rate after one 429 event, as a share of the rate before it
KNOWN_DECREASE = 0.99  # margin after one on a known limit: a stated limit is nearly right,
# and a refusal at its edge costs one retry (the endpoint says how long), not a slowdown
RECOVER = 0.05  # growth per quiet second while below the rate of the last event (x DECREASE)
PROBE = 0.004  # margin's growth per quiet second beyond it: slowly looking for more
CEILING_PROBE = 0.02  # a learned rate's: nothing stated it, so it looks harder
QUIET = 1.0  # seconds after an event before the rate grows again
EVENT_GAP = 1.0  # at most one event per this long: a window remembers the sends before it
MIN_MARGIN = 0.05
JUMP_BELOW = 0.85  # admitted below this share of what was sent: jump down to it (at most
# halving per event: a short measurement must not collapse the rate)
MEASURE_SECONDS = 10.0  # window over which the admitted rate is measured (a 10 s sub-window)
MIN_SPAN = 1.0  # a refusal within the first second: the endpoint's second was full
MEASURED = 2.0  # seconds of history a closed window's jump needs
RECLOSED = 10.0  # a window that shuts again within this long after the last: too fast
RECLOSED_DECREASE = 0.9
EDGE_SHARE = 0.01  # refused share of recent sends up to which a known limit's margin holds
GROW_ROOM = 1.1  # a learned rate grows to at most this much above what was sent lately:
# a ceiling the sends never reach (the concurrency cap holds them) has not been tested
SEND_RATE_SPAN = 1.0  # seconds per reading of the send rate
LEARN_AFTER = 2  # refusals within `MEASURE_SECONDS` before a first rate is learned: one
# 429 with nothing learned yet (a key shared for a moment, a stray burst) costs its own
# request the advised wait; a rate measured from it (one send, one refusal: 0.1/s) crawled


class RateControl:
    """The share of known limits to use, or a learned request rate when none is known."""

    def __init__(self, now: float) -> None:
        self.margin = 1.0
        self.ceiling: float | None = None  # requests/s learned from 429s (no limit known)
        self._margin_plateau = 1.0
        self._ceiling_plateau = 0.0
        self.events = 0
        self._updated = now
        self._last_event = -math.inf
        self._last_closed = -math.inf
        self._sends: deque[float] = deque()
        self._refusals: deque[float] = deque()
        self._ceiling_probe = CEILING_PROBE  # PROBE once the endpoint's edge was met
        self._first_send: float | None = None
        self.send_rate = 0.0  # requests/s sent over the last full `SEND_RATE_SPAN`
        self._span_start = now
        self._span_sends = 0

    def on_send(self, now: float) -> None:
        """One request left for the endpoint."""
        if self._first_send is None:
            self._first_send = self._span_start = now
        self._sends.append(now)
        self._trim(self._sends, now)
        self._span_sends += 1
        if now - self._span_start >= SEND_RATE_SPAN:
            self.send_rate = self._span_sends / (now - self._span_start)
            self._span_start, self._span_sends = now, 0

    def current(self, now: float) -> tuple[float, float | None]:
        """(margin for known limits, learned requests/s or None), after recovery to `now`."""
        elapsed = now - self._updated
        if elapsed > 0:
            self._updated = now
            if now - self._last_event > QUIET:
                if self.margin < 1.0:
                    self.margin = min(1.0, _grow(self.margin, self._margin_plateau, elapsed))
                if self.ceiling is not None:
                    grown = _grow(self.ceiling, self._ceiling_plateau, elapsed, self._ceiling_probe)
                    room = max(self.ceiling, GROW_ROOM * self.send_rate)
                    self.ceiling = min(grown, room)
        return self.margin, self.ceiling

    def on_refusal(self, now: float, sent_at: float, known_rate: float | None) -> bool:
        """A 429 for a request sent at `sent_at`; True when it starts a new event.

        Args:
            now: when the refusal arrived.
            sent_at: when the refused request was sent.
            known_rate: the known request limit in requests/s (None when unknown).
        """
        self._refusals.append(now)
        self._trim(self._refusals, now)
        self.current(now)
        if sent_at < self._last_event or now - self._last_event < EVENT_GAP:
            return False  # sent before the last decrease took effect: the same congestion
        if known_rate is None and self.ceiling is None and not self._sampled:
            return False  # nothing learned, too little seen to measure a rate from
        admitted, sent = self._rates(now)  # since the previous event: what its rate earned
        # the endpoint turned away a good share of what the rate set then sent (judged over
        # a long enough span: just after a change the retries of the last event crowd it)
        mostly_refused = self._span(now) >= MEASURED and admitted < JUMP_BELOW * sent
        self._last_event = now
        self.events += 1
        if known_rate is not None:
            self._margin_plateau = self.margin
            if mostly_refused:
                self.margin = self._margin_plateau = max(admitted / known_rate, self.margin / 2)
            elif len(self._refusals) > EDGE_SHARE * len(self._sends):
                self.margin *= KNOWN_DECREASE
            # else: a stray refusal at the limit's edge (arrivals jitter by milliseconds
            # against a rolling second) costs its one retry; 1 % less rate costs far more
            self.margin = max(MIN_MARGIN, self.margin)
        elif self.ceiling is None:
            self.ceiling = self._ceiling_plateau = max(admitted, 0.1)
        else:
            self._ceiling_plateau = self.ceiling
            if mostly_refused:
                self.ceiling = self._ceiling_plateau = max(admitted, self.ceiling / 2)
            elif len(self._refusals) > EDGE_SHARE * len(self._sends):
                self.ceiling *= DECREASE
            else:
                # a stray refusal at the edge of a rate the endpoint keeps admitting (a
                # rolling second's jitter): the rate is found; 5 % less each time swung
                # it between 96 and 102 % of the limit. Cut as little as a stated
                # limit's margin and look beyond it as slowly.
                self.ceiling *= KNOWN_DECREASE
                self._ceiling_probe = PROBE
        return True

    @property
    def _sampled(self) -> bool:
        """True when refusals repeat (`LEARN_AFTER`) in the last `MEASURE_SECONDS` and the
        endpoint admitted some of the sends among them: a rate measured from sends it all
        refused is no rate (the floor, 0.1/s: two refusals of a run's first two sends); a
        window refusing everything is the closed-window hold's to answer."""
        return len(self._refusals) >= LEARN_AFTER and len(self._sends) > len(self._refusals)

    def on_closed_window(self, now: float, known_rate: float | None) -> None:
        """A run of sends refused one after another (a window that refuses everything until
        it resets): one event. The rate jumps down only when the seconds before it show
        the endpoint turning away a good share of what was sent; a fixed window that
        closes after a burst says nothing about the rate, and the refusals that follow
        until it reopens are the same event."""
        admitted, sent = self._rates(now)
        measured = now - max(self._first_send or now, self._last_event) >= MEASURED
        mostly_refused = measured and admitted < JUMP_BELOW * sent
        again = now - self._last_closed < RECLOSED  # it shut again soon after reopening
        self._last_event = self._last_closed = now
        self.events += 1
        if known_rate is not None:
            if mostly_refused:
                self.margin = self._margin_plateau = max(admitted / known_rate, self.margin / 2)
            else:
                self.margin *= RECLOSED_DECREASE if again else KNOWN_DECREASE
            self.margin = max(MIN_MARGIN, self.margin)
        elif self.ceiling is not None:
            if mostly_refused:
                self.ceiling = self._ceiling_plateau = max(admitted, self.ceiling / 2)
            else:
                self.ceiling *= RECLOSED_DECREASE if again else DECREASE

    def admitted_rate(self, now: float) -> float:
        """Requests/s the endpoint accepted lately (sends minus refusals)."""
        return self._rates(now)[0]

    def _rates(self, now: float) -> tuple[float, float]:
        """(admitted, sent) requests/s over the last `MEASURE_SECONDS`, or since the first
        send or the last event (what the rate set then earned), but at least a second: a
        refusal in the first second means the endpoint's second was full with what it took."""
        span = max(self._span(now), MIN_SPAN)
        sends = sum(1 for t in self._sends if t >= now - span)
        refused = sum(1 for t in self._refusals if t >= now - span)
        return max(0.0, sends - refused) / span, sends / span

    def _span(self, now: float) -> float:
        if self._first_send is None:
            return 0.0
        return min(MEASURE_SECONDS, now - max(self._first_send, self._last_event))

    @staticmethod
    def _trim(times: deque[float], now: float) -> None:
        while times and times[0] < now - MEASURE_SECONDS:
            times.popleft()


def _grow(value: float, plateau: float, seconds: float, probe: float = PROBE) -> float:
    """Quiet-time growth: fast back toward just under the last event's rate, slow beyond."""
    fast_to = plateau * KNOWN_DECREASE
    if value < fast_to:
        return min(fast_to, value * math.pow(1.0 + RECOVER, seconds))
    return value * math.pow(1.0 + probe, seconds)


ADMITTED_MEMORY = 5.0  # seconds an admitted request's in-flight level is remembered
ADMIT_EVIDENCE = 3  # admissions at a refused level (and more than refusals) that make it a rate


class ConcurrencyGuess:
    """Whether 429s with no limit known are about requests in flight, not a rate.

    A concurrency limit refuses by level: every request sent while fewer than L others
    were in flight passes, every one sent with L or more is refused, whatever the rate.
    So a refusal of a request sent with `level` others in flight, when (almost) nothing
    sent at that level or above passed lately, says "at most `level` in flight": the
    window drops there and no rate is learned (a rate learned from slots in flight swings
    with latency). A refusal at a level the endpoint keeps admitting cannot be a slot
    count: it is a rate, and rate control takes over for good.
    """

    def __init__(self) -> None:
        self.limit: int | None = None  # requests in flight the endpoint admits (guessed)
        self.is_rate = False  # refusals came at levels it admitted: a rate limit
        self._admitted: deque[tuple[float, int]] = deque(maxlen=4096)
        self._refused: deque[tuple[float, int]] = deque(maxlen=4096)
        self._changed = -math.inf

    def on_admitted(self, now: float, level: int) -> None:
        """A request sent with `level` others in flight was answered."""
        self._admitted.append((now, level))

    def on_refusal(self, now: float, sent_at: float, level: int) -> bool | None:
        """A 429 for a request sent at `sent_at` with `level` others in flight.

        Returns:
            True: the window should drop to `limit`; False: it is a rate (from now on);
            None: nothing new (sent before the last change, or already judged a rate).
        """
        if self.is_rate:
            return None
        self._refused.append((now, level))
        if sent_at < self._changed:
            return None
        for times in (self._admitted, self._refused):
            while times and times[0][0] < now - ADMITTED_MEMORY:
                times.popleft()
        # A send's count of others in flight includes answers already read in the same
        # tick, so a full window admits a few now and then: at a slot limit the refusals
        # at this level and above still outnumber the admissions; at a rate, never.
        passed = sum(1 for _, other in self._admitted if other >= level)
        refused = sum(1 for _, other in self._refused if other >= level)
        if level < 1 or passed >= max(ADMIT_EVIDENCE, refused):
            self.is_rate, self.limit = True, None
            return False
        self.limit = level
        self._changed = now
        return True


SAME_MOMENT = 0.05  # seconds two resets may differ and still name one moment
APART = 0.25  # seconds between the readings compared (a moving reset moves this much)


class ResetClock:
    """Whether a limit resets at a fixed moment (a clock-aligned window), from its headers.

    A continuous bucket's reset (time until full) and a rolling window's (until the newest
    request ages out) move forward with every send; a fixed window's points at the same
    moment from every reading until it reopens, while `remaining` falls by what was sent.
    Two readings at least `APART` seconds apart that agree on the moment, with less left
    in the later one, say "fixed window" for good: its `remaining` is then spendable at
    once, as the endpoint counts nothing else until that moment.
    """

    def __init__(self) -> None:
        self.fixed = False
        self._anchor: tuple[float, float, int, int] | None = None  # sent, moment, left, seq

    def observe(self, sent_at: float, reset: float | None, remaining: int, seq: int) -> bool:
        """One answer's reading (`reset` seconds after `sent_at`, the `seq`-th send);
        True once the window is known to be fixed."""
        if self.fixed or reset is None or reset <= SAME_MOMENT:
            return self.fixed
        moment = sent_at + reset
        anchor = self._anchor
        if anchor is None or abs(moment - anchor[1]) > SAME_MOMENT or remaining > anchor[2]:
            self._anchor = (sent_at, moment, remaining, seq)
        elif sent_at - anchor[0] >= APART:
            spent, sent = anchor[2] - remaining, seq - anchor[3]
            # less left by what was sent between: a count that nothing refilled
            self.fixed = spent >= 2 and abs(spent - sent) <= max(2, 0.1 * sent)
        return self.fixed


CATCH_UP_WINDOWS = (0.0, 2.0, 5.0, 10.0)  # seconds; each divides a minute (no 1 s: its
# guard would cost 2 % of the rate, and uniform pacing is what a 1 s window admits)
CATCH_UP_STEP = 0.5  # quiet seconds (no 429) before the window grows one step
CATCH_UP_LEAD = 0.05  # seconds of the rate a second may hold beyond it at the first step
MAX_CATCH_UP_STEP = 12  # the lead doubles per step up to the window (0.05 s x 2^11 > 10 s)
CATCH_UP_HOLD = 5.0  # seconds at uniform pacing after a 429 ends a catch-up (then doubled)
MAX_CATCH_UP_HOLD = 60.0
CATCH_UP_TICK = 1e-5  # seconds past the moment a send leaves the window (above clock dust)
CATCH_UP_GUARD = 0.02  # seconds added to the window: our send time is not the endpoint's stamp


class CatchUp:
    """How far sends may run ahead of uniform pacing to make up for sends they did not make.

    Uniform pacing at the limit loses for good every send the cap of requests in flight
    held back (the latency tail), and the first seconds' share a window had room for: a
    rolling window of 10 s would have admitted them a little later, but the pacer never
    runs ahead. With a window `W` in force, the send rate is judged over `W` seconds of
    our own sends instead: at most `rate * W` in any `W` seconds (plus a guard), so what
    was not sent in the last `W` seconds may go now, at most `lead` seconds of the rate
    ahead of it within any second. That is credit only the endpoint's own window can
    judge: a rolling 10 s window admits it, a rolling 1 s one refuses any lead, and the two
    send the same headers. So `W` starts at 0 (uniform pacing) and grows one step per
    quiet half second to 10 s, the lead from 0.05 s of the rate, doubling per step up to
    `W`; a 429 while `W > 0` drops both to 0 for `CATCH_UP_HOLD` seconds, doubled each
    time it happens again (a probe of a 1 s window costs a few refusals, fewer each time).
    Every window divides a minute, so no minute holds more than the rate's minute: a
    stated RPM is kept.
    """

    def __init__(self, now: float) -> None:
        self._step = 0
        self._grow_at = now + CATCH_UP_STEP
        self._hold = CATCH_UP_HOLD
        self._times: list[float] = []  # our send times of the longest window, in order
        self._start = 0  # index of the oldest send kept in `_times`
        self._dropped_at = -math.inf  # when a 429 last ended a catch-up
        self.shrinks = 0

    def window(self, now: float) -> tuple[float, float]:
        """(seconds of our own sends the rate is judged over, seconds of the rate a second
        may hold beyond it) now; (0, 0): uniform pacing."""
        while now >= self._grow_at and self._step < MAX_CATCH_UP_STEP:
            self._step += 1
            self._grow_at += CATCH_UP_STEP
        if self._step == 0:
            return 0.0, 0.0
        span = CATCH_UP_WINDOWS[min(self._step, len(CATCH_UP_WINDOWS) - 1)]
        return span, min(span, CATCH_UP_LEAD * 2 ** (self._step - 1))

    def on_send(self, now: float) -> None:
        """One request left (every send is kept: a longer window must see them all)."""
        self._times.append(now)
        horizon = now - CATCH_UP_WINDOWS[-1] - CATCH_UP_GUARD
        times = self._times
        start = bisect.bisect_left(times, horizon, self._start)
        if start > 4096 and start > len(times) // 2:
            del times[:start]
            start = 0
        self._start = start

    def wait(self, now: float, rate: float) -> float | None:
        """Seconds until one more send fits `rate` over the window in force and the lead;
        None when no window is in force (or it would hold less than one send)."""
        span, lead = self.window(now)
        if math.floor(rate * span) < 1:
            return None
        return max(
            self._wait(now - span - CATCH_UP_GUARD, math.floor(rate * span)),
            self._wait(now - 1.0, math.floor(rate * (1.0 + lead))),
        )

    def _wait(self, since: float, allowed: int) -> float:
        """Seconds until fewer than `allowed` sends are at or after `since` (+ the wait)."""
        first = bisect.bisect_left(self._times, since, self._start)
        excess = len(self._times) - first - allowed
        if excess < 0:
            return 0.0
        # strictly past it: a wait of ~0 would let a burst sent at one instant out again
        return max(0.0, self._times[first + excess] - since) + CATCH_UP_TICK

    def on_refusal(self, now: float, sent_at: float) -> bool:
        """A 429 for a request sent at `sent_at`: no growth until a quiet step; a catch-up
        in force ends for a while. True when the catch-up is to blame (the request left
        while one was in force): the refusal then says nothing about the rate."""
        if self._step > 0:
            self._step = 0
            self._grow_at = now + self._hold
            self._hold = min(MAX_CATCH_UP_HOLD, self._hold * 2)
            self._dropped_at = now
            self.shrinks += 1
            return True
        self._grow_at = max(self._grow_at, now + CATCH_UP_STEP)
        return sent_at <= self._dropped_at

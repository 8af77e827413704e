"""One USSD hop, end to end: rate limit, replay check, the pure step, and the session record.

Session record (JSON in Redis under the sessionId):
  state     the engine's state (screen, data, history, lang, ended)
  seen      digest of the full `text` of the last hop handled; seen_len its length
  reply     the reply given to that hop (returned again, with no second effect, on a replay)
  hops      per-hop timings [{"screen", "ms"}], the last 30
  private   true when the reply was a delivery code shown on the screen: `reply` then holds the
            catalog's stand-in ("shown once already"), and the end-of-session event drops AT's copy
            of the last screen (ussd/routes.py)
  limits    "pay" or "request" when the number passed the limits look for that journey lately (read
            with the dial, or earned in this session): its first screen needs no database read
The raw `text` is never stored or logged: it may hold a delivery code.
"""
import logging
import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from escrow.catalog import render

from ussd.engine import Outcome, resume_point, start, start_typed, step
from ussd.errors import RateLimited, SessionExpired, StoreUnavailable
from ussd.render import Reply
from ussd.screens import Context

log = logging.getLogger("ussd")
HOPS_KEPT = 30


@dataclass(frozen=True)
class Hop:
    """One callback from the gateway, in our words."""
    session_id: str
    phone: str
    text: str
    network: str = ""


@dataclass(frozen=True)
class Answer:
    reply: Reply
    screen: str


class Conversation:
    def __init__(self, service, store, settings, clock=time.monotonic):
        self.service, self.store, self.settings, self.clock = service, store, settings, clock

    def answer(self, hop: Hop) -> Answer:
        """The reply to one hop. Never raises: every failure becomes a polite END."""
        try:
            return self._answer(hop)
        except RateLimited:
            return self._sorry(hop, "ussd.err.rate", "rate_limited")
        except SessionExpired:
            return self._sorry(hop, "ussd.err.expired", "expired")
        except (StoreUnavailable, RedisError) as exc:
            log.warning("ussd store unavailable: %s", type(exc).__name__)
            return self._sorry(hop, "ussd.err.busy", "busy")
        except Exception as exc:  # noqa: BLE001 - the gateway must get an END, never a 500
            log.error("ussd hop failed: %s%s", type(exc).__name__, _cause(exc))
            return self._sorry(hop, "ussd.err.busy", "failed")

    def _answer(self, hop: Hop) -> Answer:
        began = self.clock()
        with self.store.hop(hop.session_id, hop.phone, dialled=hop.text == "") as opened:
            if opened.hops_this_minute > self.settings.rate_limit:
                raise RateLimited(hop.session_id)
            record = opened.record
            if self._is_replay(record, hop.text):
                return Answer(Reply(**record["reply"]), record["state"]["screen"])
            limits = LimitsLook(self.service, opened.limits_pass if hop.text == "" else (record or {}).get("limits"))
            outcome = self._next(opened, hop, limits)
            self._remember(opened, hop, outcome, round((self.clock() - began) * 1000), limits)
        return Answer(outcome.reply, outcome.state["screen"])

    def _is_replay(self, record: dict | None, text: str) -> bool:
        return bool(record) and record["seen_len"] == len(text) and record["seen"] == self.store.digest(text)

    def _next(self, opened, hop: Hop, limits: "LimitsLook") -> Outcome:
        record = opened.record
        if hop.text == "":
            first_dial = False
            if opened.language is None:   # not dialled today: ask the core (and greet a new number)
                welcome = self.service.welcome(hop.phone)
                opened.language, first_dial = welcome.language, welcome.first
                opened.remember_language(opened.language)
                if welcome.first:   # its profile is written by the worker, not by this hop
                    opened.queue_first_dial(welcome.key)
            return start(self._context(hop, opened.language, limits), opened.resume, first_dial=first_dial)
        if record is None:   # a first hop dialled with a path (*384*1234*3#), or a session we lost
            language = opened.language or self.service.language_of(hop.phone)
            return start_typed(self._context(hop, language, limits), hop.text)
        ctx = self._context(hop, record["state"]["lang"], limits)
        return step(record["state"], self.new_input(record, hop.text), ctx)

    def new_input(self, record: dict, text: str) -> str:
        """What was typed since the last hop: what follows the previous text and its `*`."""
        seen_len = record["seen_len"]
        if seen_len == 0:
            return text
        if text[seen_len:seen_len + 1] == "*" and self.store.digest(text[:seen_len]) == record["seen"]:
            return text[seen_len + 1:]
        return text.rsplit("*", 1)[-1]

    def _remember(self, opened, hop: Hop, outcome: Outcome, ms: int, limits: "LimitsLook") -> None:
        """Save the session, the resume offer, a changed language and a limits pass; release the lock."""
        record = opened.record
        timings = ((record or {}).get("hops", []) + [{"screen": outcome.state["screen"], "ms": ms}])
        kept = outcome.reply.text if outcome.private is None else render(outcome.state["lang"], outcome.private)
        opened.save({"state": outcome.state, "seen": self.store.digest(hop.text), "seen_len": len(hop.text),
                     "reply": {"text": kept, "end": outcome.reply.end}, "hops": timings[-HOPS_KEPT:],
                     **({"private": True} if outcome.private else {}),
                     **({"limits": limits.known} if limits.known else {})})
        if limits.earned:
            opened.remember_limits_pass(limits.earned)
        self._offer_resume(opened, outcome.state)
        if record and outcome.state.get("lang") != record["state"].get("lang"):
            opened.remember_language(outcome.state["lang"])
        try:
            opened.commit()
        except RedisError:
            if not outcome.reply.end:
                raise
            log.warning("ussd session not saved after an END; the action stands")
        log.info("ussd hop screen=%s ms=%d actions=%s net=%s", outcome.state["screen"], ms,
                 ",".join(outcome.actions) or "-", hop.network or "-")

    @staticmethod
    def _offer_resume(opened, state: dict) -> None:
        if state["screen"] == "resume" and not state.get("ended"):
            return
        opened.offer_resume(resume_point(state))

    def _context(self, hop: Hop, language: str, service=None) -> Context:
        return Context(service or self.service, hop.phone, language or "en", self.settings.screen_limit,
                       self.settings.support_phone, hop.network, self.settings.sms_shortcode)

    def _sorry(self, hop: Hop, key: str, screen: str) -> Answer:
        return Answer(Reply(render(self._language(hop), key), end=True), screen)

    def _language(self, hop: Hop) -> str:
        try:
            return self.service.language_of(hop.phone)
        except Exception:  # noqa: BLE001 - an apology must not fail
            return "en"


class LimitsLook:
    """The core as one hop sees it: its limits look answered by a pass the number earned lately ("pay"
    covers "request", which counts less), and a new pass noted when the core's look lets it through.
    Advisory only, like the look itself: create_order counts again, under its lock."""

    __slots__ = ("_service", "known", "earned")

    def __init__(self, service, known: str | None):
        self._service, self.known, self.earned = service, known, None

    def check_limits(self, phone: str, *, paying: bool) -> None:
        if self.known == "pay" or (self.known == "request" and not paying):
            return
        self._service.check_limits(phone, paying=paying)
        self.known = self.earned = "pay" if paying else "request"

    def __getattr__(self, name: str):
        return getattr(self._service, name)


def _cause(exc: Exception) -> str:
    """A database error's driver class and SQLSTATE, which say what went wrong (a lost connection, a
    refused one, a lock); never its message, which may quote a value."""
    cause = getattr(exc, "orig", None)
    if cause is None:
        return ""
    state = getattr(cause, "sqlstate", None)
    return f" ({type(cause).__name__}{f', SQLSTATE {state}' if state else ''})"

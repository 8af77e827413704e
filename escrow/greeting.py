"""A number's first dial of the day (issue 13): its language, one cheap read (a primary-key lookup,
outside any transaction), and nothing more, for a known number and a new one alike.

A number never seen before is greeted in English with the language offer, and its profile (what
makes the offer once only) is written later, off the hop: the USSD adapter queues the dial with the
hop's own Redis commit and the worker records the queued dials in batches (`record_first_dials`).
Until then the number is simply not known yet: its language is English either way, and a dial the
same day is answered from the adapter's cache. Should a queued dial be lost (Redis lost before the
worker's pass), the number is offered the language choice once more.

A queued dial must not bring back a number erased meanwhile (escrow/privacy/erasure.py deletes its
profile): a dial is not recorded while an erasure of the number is pending, nor when any erasure was
carried out since it was queued (the done rows name no number; erasures are rare, and a dial
dropped this way costs the number one more language offer). The batch holds the numbers' locks,
which erase() takes too, so an erasure and a recording of the same number never overlap."""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, select

from escrow import quick
from escrow.db import db_now, insert_once
from escrow.limits import one_number_at_a_time
from escrow.models import ErasureRequest, Profile
from escrow.privacy.erasure import DONE, PENDING

# Clocks of the web host (which queues a dial), the worker and the database may disagree by this much.
CLOCK_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Welcome:
    language: str
    first: bool             # never seen: greet with the language offer and record the dial (key)
    key: str | None = None  # the number's keyed hash, for record_first_dials (only when first)


@dataclass(frozen=True)
class QueuedDial:
    key: str          # the number's keyed hash (Welcome.key)
    age: timedelta    # how long ago the dial was queued, by the clock that queued it


def welcome(db, phone_key: str) -> Welcome:
    language = language_of(db, phone_key)
    if language is not None:
        return Welcome(language, False)
    return Welcome("en", True, phone_key)


def language_of(db, phone_key: str) -> str | None:
    row = quick.lone(db, _LANGUAGE, {"key": phone_key})
    return row[0] if row is not None else None


def record_first_dials(db, dials: list[QueuedDial]) -> int:
    """Write the profiles of numbers first dialled a while ago (English, as they were greeted); one that
    exists already (a second dial, a language chosen meanwhile) is left as it is. Returns how many
    were written."""
    if not dials:
        return 0
    with db.transaction() as session:
        keys = sorted({dial.key for dial in dials})
        one_number_at_a_time(session, *keys)       # an erasure of one of them waits, or has ended
        erasing = set(session.scalars(select(ErasureRequest.phone_key).where(
            ErasureRequest.phone_key.in_(keys), ErasureRequest.status == PENDING)))
        since_erasure = _since_last_erasure(session)
        written = 0
        for key in sorted({dial.key for dial in dials if dial.key not in erasing
                           and (since_erasure is None or since_erasure > dial.age + CLOCK_MARGIN)}):
            written += insert_once(session, Profile, phone_key=key, language="en")
        return written


def _since_last_erasure(session) -> timedelta | None:
    """How long ago the last erasure was carried out, by the database's clock; None if never."""
    latest = session.scalar(select(func.max(ErasureRequest.done_at)).where(ErasureRequest.status == DONE))
    return None if latest is None else db_now(session) - latest


_LANGUAGE = quick.Prepared(select(Profile.language).where(Profile.phone_key == bindparam("key")))

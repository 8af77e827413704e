"""A number's first dial of the day (issue 13): its language, one cheap read (a primary-key lookup,
outside any transaction). Only for a number never seen is there a second statement: its profile made
and the limits look a menu's first screen would make, in ONE statement on PostgreSQL.

The USSD adapter remembers the language (and a pass the look gave) in Redis for the day, so this runs
once per number per day, and the `1` hop that follows needs no database at all. The read comes first
because known numbers are nearly every first dial of a day and new ones are seen once; a single
statement for both (tried) cost a known number's dial a tenth of a millisecond more than the read.
A profile is written with `synchronous_commit` off for that statement's own transaction: a profile
lost to a crash just before the disk caught up means the language offer is made once more. The look
is advisory, as everywhere: create_order counts again under its lock. SQLite (in process, no round
trips to save) writes the new profile and leaves the look to the menu."""
from dataclasses import dataclass

from sqlalchemy import String, bindparam, func, literal, select
from sqlalchemy.dialects import postgresql

from escrow import quick
from escrow.context import Core
from escrow.errors import LimitExceeded
from escrow.limits import counts_statement, judge_limits
from escrow.models import Profile
from escrow.writes import insert_once_statement


@dataclass(frozen=True)
class Welcome:
    language: str
    first: bool                      # the number's first dial ever: its profile was made just now
    may_pay: bool | None = None      # what the limits look said, when it came with the greeting
    may_request: bool | None = None


def welcome(db, core: Core, phone_key: str) -> Welcome:
    language = language_of(db, phone_key)
    if language is not None:
        return Welcome(language, False)
    if db.dialect != "postgresql":
        made = quick.lone(db, _NEW_PROFILE, {"key": phone_key})
        return Welcome("en", True) if made is not None else Welcome(language_of(db, phone_key) or "en", False)
    _, created, spent, pushes, made = quick.lone(db, _WELCOME_NEW, {"key": phone_key})
    if made is None:        # a first dial of the same number at the same moment made it
        return Welcome(language_of(db, phone_key) or "en", False)
    return Welcome(made, True, _allows(core, created, spent, pushes, paying=True),
                   _allows(core, created, 0, 0, paying=False))


def language_of(db, phone_key: str) -> str | None:
    row = quick.lone(db, _LANGUAGE, {"key": phone_key})
    return row[0] if row is not None else None


def _allows(core: Core, created: int, spent: int, pushes: int, *, paying: bool) -> bool:
    """The menu's look (escrow.limits.look_at_order_limits) judged on counts already read: paying, the
    number as buyer with the smallest order; requesting, only the orders it made this hour."""
    try:
        judge_limits(core, created, spent, pushes, charge=core.settings.order_min if paying else 0,
                     pushes_too=paying)
    except LimitExceeded:
        return False
    return True


def _welcome_new_statement():
    """SELECT the clock, the look's counts and the language of a profile made now (the INSERT a CTE,
    ON CONFLICT DO NOTHING: a first dial of the same number at the same moment may have made it)."""
    key = bindparam("key", None, type_=Profile.phone_key.type)   # a value of None: given at each run
    unheard = select(key, literal("en", String)).where(func.set_config("synchronous_commit", "off", True) == "off")
    made = (postgresql.insert(Profile).from_select(["phone_key", "language"], unheard, include_defaults=False)
            .on_conflict_do_nothing().returning(Profile.language).cte("made"))
    clock, *counts = counts_statement(key, key, pushes_too=True).selected_columns
    return select(clock, *counts, select(made.c.language).scalar_subquery()).add_cte(made)


_WELCOME_NEW = quick.Prepared(_welcome_new_statement())
_LANGUAGE = quick.Prepared(select(Profile.language).where(Profile.phone_key == bindparam("key")))
_NEW_PROFILE = quick.Prepared(insert_once_statement("sqlite", Profile, phone_key=bindparam("key"), language="en")
                              .returning(Profile.language))

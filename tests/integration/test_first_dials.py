"""A new number's first dial, recorded by the worker (escrow/greeting.py, ussd/first_dials.py), through the
real app, Redis and database: recorded once however often it dials before the worker's pass, a language
chosen meanwhile kept, a pass that fails leaves the dials for the next, and an erasure before the pass
brings nothing back."""
from sqlalchemy import func, select

from app import create_app
from data_commands import forgetter
from escrow.audit import Actor
from escrow.models import Profile
from escrow.privacy.erasure import erase, request_erasure
from tests.integration.test_ussd_round_trips import Phone, app  # noqa: F401 - the fixture

NEW, OTHER = "+254711000501", "+254711000502"
OPERATOR = Actor("cli", "tester")


def profiles(zemi) -> dict[str, str]:
    with zemi.db.transaction() as session:
        return dict(session.execute(select(Profile.phone_key, Profile.language)).all())


def test_dials_before_the_workers_pass_are_recorded_once_with_a_language_chosen_meanwhile(app):
    zemi, store = app.extensions["zemi"], app.blueprints["ussd"].conversation.store
    first, other = Phone(app, NEW), Phone(app, OTHER)
    assert "Welcome" in first.dial()
    assert "Welcome" in other.dial()
    store.redis.delete(store._key("lang", store.phone_key(NEW)))   # forgotten before the pass
    assert "Welcome" in first.dial()                               # still new: greeted again, queued once
    other.type("5")
    other.type("2")                                                # chose Kiswahili
    assert len(store.first_dials(10)) == 2
    zemi.worker().run_once()
    vault = zemi.core.vault
    assert profiles(zemi) == {vault.phone_key(NEW): "en", vault.phone_key(OTHER): "sw"}
    assert store.first_dials(10) == []


def test_a_pass_that_cannot_reach_the_database_leaves_the_dials_waiting(app, monkeypatch):
    zemi, store = app.extensions["zemi"], app.blueprints["ussd"].conversation.store
    Phone(app, NEW).dial()
    worker = zemi.worker()

    def unreachable(dials):
        raise OSError("database down")

    monkeypatch.setattr(zemi.service, "record_first_dials", unreachable)
    worker.run_once()
    assert [key for key, _ in store.first_dials(10)] == [zemi.core.vault.phone_key(NEW)]
    monkeypatch.undo()
    worker.run_once()
    assert list(profiles(zemi)) == [zemi.core.vault.phone_key(NEW)]


def test_a_number_erased_before_the_workers_pass_is_not_brought_back(app):
    zemi, store = app.extensions["zemi"], app.blueprints["ussd"].conversation.store
    Phone(app, NEW).dial()
    with zemi.db.transaction() as session:
        request_id = request_erasure(session, zemi.core, NEW, source="cli", actor=OPERATOR, reason="asked")
    assert erase(zemi.db, zemi.core, request_id, forgetter(zemi), actor=OPERATOR).done
    zemi.worker().run_once()
    assert profiles(zemi) == {}
    assert store.first_dials(10) == []

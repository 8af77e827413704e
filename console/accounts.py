"""Operator accounts: enrolment, sign-in (argon2 password, TOTP for agents and admins), lockout after
repeated failures (counted in the database, so a Redis flush resets nothing), and sessions that end on
idle and on absolute age, judged by the database's clock."""
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta, timezone

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from console.errors import BadRequest, SignInRefused
from console.roles import NEEDS_TOTP, ROLES
from console.settings import ConsoleSettings
from escrow import audit
from escrow.db import Database, db_now, insert_row
from escrow.models import AuditEntry, Operator, OperatorSession
from escrow.vault import Vault

NAME = re.compile(r"^[a-z][a-z0-9_.-]{1,11}$")
RESERVED = {"buyer", "seller", "system", "operator", "timer", "mpesa", "worker", "admin", "root", "reconcile"}
MIN_PASSWORD = 12
ISSUER = "Zemi Escrow"
_HASHER = PasswordHasher()
_DUMMY_HASH = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Enrolment:
    name: str
    role: str
    token: str          # shown once; only its hash is stored


@dataclass(frozen=True)
class SignedIn:
    operator: Operator
    session_id: str
    csrf: str


class Accounts:
    def __init__(self, db: Database, vault: Vault, settings: ConsoleSettings):
        self.db, self.vault, self.settings = db, vault, settings

    # --- managing accounts (flask operators ...) -------------------------------------------
    def add(self, name: str, role: str, *, by: audit.Actor) -> Enrolment:
        name = (name or "").strip().lower()
        if not NAME.match(name) or name in RESERVED:
            raise BadRequest("a name is 2 to 12 of a-z 0-9 . _ - starting with a letter, and not a reserved word")
        if role not in ROLES:
            raise BadRequest(f"role is one of {', '.join(ROLES)}")
        token = secrets.token_urlsafe(24)
        secret = self.vault.seal(pyotp.random_base32()) if role in NEEDS_TOTP else None
        with self.db.transaction() as session:
            if session.scalar(select(Operator.id).where(Operator.name == name)):
                raise BadRequest(f"there is already an operator {name}")
            insert_row(session, Operator, name=name, role=role, totp_sealed=secret, enrol_hash=_hash(token),
                       enrol_by=db_now(session) + timedelta(hours=self.settings.enrol_hours))
            audit.record(session, by, "operator_added", target=name, after={"role": role})
        return Enrolment(name, role, token)

    def disable(self, name: str, *, by: audit.Actor) -> None:
        with self.db.transaction() as session:
            operator = self._named(session, name)
            session.execute(update(Operator).where(Operator.id == operator.id).values(disabled=True))
            session.execute(delete(OperatorSession).where(OperatorSession.operator_id == operator.id))
            audit.record(session, by, "operator_disabled", target=operator.name, before={"disabled": operator.disabled},
                         after={"disabled": True})

    def reset(self, name: str, *, by: audit.Actor) -> Enrolment:
        """A lost phone or a forgotten password: the account needs a new enrolment (new password, new TOTP
        key); its sessions end and the old password no longer works."""
        token = secrets.token_urlsafe(24)
        with self.db.transaction() as session:
            operator = self._named(session, name)
            if operator.disabled:
                raise BadRequest(f"operator {operator.name} is disabled")
            secret = self.vault.seal(pyotp.random_base32()) if operator.role in NEEDS_TOTP else None
            session.execute(update(Operator).where(Operator.id == operator.id).values(
                password_hash=None, totp_sealed=secret, totp_last_step=0, enrol_hash=_hash(token),
                enrol_by=db_now(session) + timedelta(hours=self.settings.enrol_hours), failed_logins=0,
                locked_until=None))
            session.execute(delete(OperatorSession).where(OperatorSession.operator_id == operator.id))
            audit.record(session, by, "operator_reset", target=operator.name)
        return Enrolment(operator.name, operator.role, token)

    def unlock(self, name: str, *, by: audit.Actor) -> None:
        with self.db.transaction() as session:
            operator = self._named(session, name)
            session.execute(update(Operator).where(Operator.id == operator.id)
                            .values(failed_logins=0, locked_until=None))
            audit.record(session, by, "operator_unlocked", target=operator.name,
                         before={"failed_logins": operator.failed_logins}, after={"failed_logins": 0})

    def everyone(self) -> list[Operator]:
        with self.db.transaction() as session:
            return list(session.scalars(select(Operator).order_by(Operator.name)))

    @staticmethod
    def _named(session: Session, name: str) -> Operator:
        operator = session.scalar(select(Operator).where(Operator.name == (name or "").strip().lower()))
        if operator is None:
            raise BadRequest(f"no operator {name}")
        return operator

    # --- enrolment ---------------------------------------------------------------------------
    def pending_enrolment(self, token: str) -> tuple[Operator, str | None]:
        """The operator a live enrolment link is for, and their otpauth:// URI (None for a viewer)."""
        with self.db.transaction() as session:
            operator = session.scalar(select(Operator).where(Operator.enrol_hash == _hash(token or ""),
                                                             Operator.disabled.is_(False)))
            if operator is None or operator.enrol_by < db_now(session):
                raise BadRequest("this enrolment link is unknown, used or expired: ask an admin for a new one")
        return operator, self.totp_uri(operator)

    def totp_uri(self, operator: Operator) -> str | None:
        if not operator.totp_sealed:
            return None
        return pyotp.TOTP(self.vault.unseal(operator.totp_sealed)).provisioning_uri(name=operator.name, issuer_name=ISSUER)

    def enrol(self, token: str, password: str, again: str, code: str, remote_addr: str | None) -> Operator:
        operator, _ = self.pending_enrolment(token)
        if len(password or "") < MIN_PASSWORD or len(password) > 200:
            raise BadRequest(f"a password has {MIN_PASSWORD} to 200 characters")
        if password != again:
            raise BadRequest("the two passwords differ")
        with self.db.transaction() as session:
            if operator.totp_sealed and not self._totp_ok(session, operator, code):
                raise BadRequest("that code is not the one your authenticator shows now: check its clock and try again")
            won = session.execute(update(Operator).where(Operator.id == operator.id,
                                                         Operator.enrol_hash == operator.enrol_hash)
                                  .values(password_hash=_HASHER.hash(password), enrol_hash=None, enrol_by=None)).rowcount
            if not won:
                raise BadRequest("this enrolment link was used meanwhile")
            audit.record(session, audit.Actor(operator.name, operator.role, remote_addr), "enrolled")
        return operator

    # --- sign-in and sessions -------------------------------------------------------------------
    def sign_in(self, name: str, password: str, code: str, remote_addr: str | None) -> SignedIn:
        """A session for the right name, password and (agents, admins) current TOTP code; anything
        else is one refusal, counted against the account."""
        with self.db.transaction() as session:
            now = db_now(session)
            if self._address_failures(session, remote_addr, now) >= self.settings.address_failures:
                raise SignInRefused(f"too many failed sign-ins from this address; try again after "
                                    f"{self.settings.lockout_minutes} minutes")
            operator = session.scalar(select(Operator).where(Operator.name == (name or "").strip().lower())
                                      .with_for_update())
            if operator is None or operator.password_hash is None or operator.disabled:
                _verify(_dummy_hash(), password or "")   # the same work whether or not the name exists
                typed = (name or "").strip().lower()
                audit.record(session, audit.Actor(typed if NAME.match(typed) else "?", None, remote_addr),
                             "sign_in_refused",
                             reason="unknown, unenrolled or disabled account")
                session.commit()   # the refusal stays in the audit log
                raise SignInRefused("sign-in refused: wrong name, password or code")
            if operator.locked_until and operator.locked_until > now:
                audit.record(session, audit.Actor(operator.name, operator.role, remote_addr), "sign_in_refused",
                             reason="locked")
                session.commit()
                raise SignInRefused(f"this account is locked after {self.settings.max_failures} failed sign-ins; "
                                    f"try again after {self.settings.lockout_minutes} minutes or ask an admin")
            good = _verify(operator.password_hash, password or "")
            if good and operator.role in NEEDS_TOTP:
                good = self._totp_ok(session, operator, code)
            if not good:
                self._count_failure(session, operator, now, remote_addr, "wrong password or code")
                raise SignInRefused("sign-in refused: wrong name, password or code")
            session.execute(update(Operator).where(Operator.id == operator.id)
                            .values(failed_logins=0, locked_until=None, last_login_at=now))
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            insert_row(session, OperatorSession, id=_hash(token), operator_id=operator.id, csrf=csrf,
                       remote_addr=(remote_addr or "")[:64] or None, created_at=now, seen_at=now)
            audit.record(session, audit.Actor(operator.name, operator.role, remote_addr), "signed_in")
        return SignedIn(operator, token, csrf)

    def _address_failures(self, session: Session, remote_addr: str | None, now) -> int:
        """Refused sign-ins from this address lately (the audit log is the counter: one name after another
        from one place is throttled too, not only one account)."""
        if not remote_addr:
            return 0
        return session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.at > now - timedelta(minutes=self.settings.lockout_minutes),
            AuditEntry.action == "sign_in_refused", AuditEntry.remote_addr == remote_addr[:64]))

    def _count_failure(self, session: Session, operator: Operator, now, remote_addr, why: str) -> None:
        failures = operator.failed_logins + 1
        locked = now + timedelta(minutes=self.settings.lockout_minutes) if failures >= self.settings.max_failures \
            else None
        session.execute(update(Operator).where(Operator.id == operator.id)
                        .values(failed_logins=0 if locked else failures, locked_until=locked))
        audit.record(session, audit.Actor(operator.name, operator.role, remote_addr), "sign_in_refused", reason=why,
                     after={"failures": failures, "locked": bool(locked)})
        session.commit()   # the count must survive the refusal that follows

    def session_for(self, token: str | None) -> tuple[Operator, OperatorSession] | None:
        """The live session a cookie names, touched; None when unknown, idle too long, too old or disabled."""
        if not token:
            return None
        with self.db.transaction() as session:
            row = session.get(OperatorSession, _hash(token))
            if row is None:
                return None
            now = db_now(session)
            operator = session.get(Operator, row.operator_id)
            if (now - row.seen_at > timedelta(minutes=self.settings.idle_minutes)
                    or now - row.created_at > timedelta(hours=self.settings.session_hours) or operator.disabled
                    or (operator.locked_until is not None and operator.locked_until > now)):
                session.execute(delete(OperatorSession).where(OperatorSession.id == row.id))
                return None
            session.execute(update(OperatorSession).where(OperatorSession.id == row.id).values(seen_at=now))
            return operator, row

    def sign_out(self, token: str | None, remote_addr: str | None = None) -> None:
        if not token:
            return
        with self.db.transaction() as session:
            row = session.get(OperatorSession, _hash(token))
            if row is None:
                return
            operator = session.get(Operator, row.operator_id)
            session.execute(delete(OperatorSession).where(OperatorSession.id == row.id))
            audit.record(session, audit.Actor(operator.name, operator.role, remote_addr), "signed_out")

    def step_up(self, operator: Operator, code: str, remote_addr: str | None) -> None:
        """The second factor again, just before money moves; a wrong code counts as a failed sign-in
        (and a lockout ends the session's power to act: `session_for` refuses a locked account)."""
        if operator.role not in NEEDS_TOTP:
            raise SignInRefused("this account has no second factor")
        with self.db.transaction() as session:
            fresh = session.scalar(select(Operator).where(Operator.id == operator.id).with_for_update())
            if not self._totp_ok(session, fresh, code):
                self._count_failure(session, fresh, db_now(session), remote_addr, "wrong code before a money action")
                raise SignInRefused("that authenticator code is wrong or already used: nothing was done")

    def _totp_ok(self, session: Session, operator: Operator, code: str) -> bool:
        """A current code (one 30 s step of drift either way), each step usable once."""
        code = (code or "").strip()
        if not operator.totp_sealed or not re.fullmatch(r"[0-9]{6}", code):
            return False
        totp = pyotp.TOTP(self.vault.unseal(operator.totp_sealed))
        now = db_now(session)
        for drift in (0, -1, 1):
            step = totp.timecode(now.replace(tzinfo=timezone.utc)) + drift
            if step > operator.totp_last_step and secrets.compare_digest(totp.generate_otp(step), code):
                return bool(session.execute(update(Operator).where(Operator.id == operator.id,
                                                                   Operator.totp_last_step < step)
                                            .values(totp_last_step=step)).rowcount)
        return False


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))
    return _DUMMY_HASH


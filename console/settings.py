"""CONSOLE_* settings (README, "Operator console")."""
from dataclasses import dataclass
from typing import Mapping

from escrow.settings import read_bool, read_int


@dataclass(frozen=True)
class ConsoleSettings:
    idle_minutes: int = 15             # CONSOLE_IDLE_MINUTES: a session unused this long ends
    session_hours: int = 8             # CONSOLE_SESSION_HOURS: and any session ends after this
    max_failures: int = 5              # CONSOLE_MAX_FAILURES: wrong passwords/codes before a lockout
    lockout_minutes: int = 15          # CONSOLE_LOCKOUT_MINUTES
    address_failures: int = 20         # CONSOLE_MAX_FAILURES_PER_ADDRESS: refused sign-ins from one address
                                       # within CONSOLE_LOCKOUT_MINUTES before it is refused outright
    enrol_hours: int = 24              # CONSOLE_ENROL_HOURS: how long an enrolment link works
    secure_cookies: bool = False       # CONSOLE_SECURE_COOKIES: default on when PUBLIC_BASE_URL is https
    trust_proxy: bool = False          # TRUST_PROXY: the client address from X-Forwarded-For's last hop
    public_base_url: str = "http://127.0.0.1:8000"
    approval_above: int = 50_000       # CONSOLE_APPROVAL_ABOVE: KES; a dispute holding more needs a second agent

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "ConsoleSettings":
        base = str(env.get("PUBLIC_BASE_URL") or cls.public_base_url).rstrip("/")
        return cls(idle_minutes=read_int(env, "CONSOLE_IDLE_MINUTES", 15, minimum=1),
                   session_hours=read_int(env, "CONSOLE_SESSION_HOURS", 8, minimum=1),
                   max_failures=read_int(env, "CONSOLE_MAX_FAILURES", 5, minimum=1),
                   lockout_minutes=read_int(env, "CONSOLE_LOCKOUT_MINUTES", 15, minimum=1),
                   address_failures=read_int(env, "CONSOLE_MAX_FAILURES_PER_ADDRESS", 20, minimum=1),
                   enrol_hours=read_int(env, "CONSOLE_ENROL_HOURS", 24, minimum=1),
                   secure_cookies=read_bool(env, "CONSOLE_SECURE_COOKIES", base.startswith("https://")),
                   trust_proxy=read_bool(env, "TRUST_PROXY"), public_base_url=base,
                   approval_above=read_int(env, "CONSOLE_APPROVAL_ABOVE", 50_000, minimum=0))

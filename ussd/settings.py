"""The USSD adapter's settings, read once from a mapping (the environment, or a test's dict)."""
import ipaddress
from dataclasses import dataclass, field
from typing import Mapping

from escrow.errors import ConfigError


@dataclass(frozen=True)
class UssdSettings:
    """
    path_token      USSD_PATH_TOKEN: when set, AT must call /ussd/<token> (and /ussd/<token>/events);
                    the bare /ussd paths then answer 404, and so does a wrong token.
    allowed_ips     USSD_ALLOWED_IPS: comma list of addresses or CIDR networks; empty = anyone.
    trust_proxy     TRUST_PROXY=1: take the caller's address from X-Forwarded-For's last hop.
    screen_limit    USSD_SCREEN_LIMIT (160): characters per screen, including "CON "/"END ".
    session_ttl     USSD_SESSION_TTL (300 s): how long a session's state lives in Redis.
    resume_ttl      USSD_RESUME_TTL (300 s): how long an unfinished task is offered again.
    rate_limit      USSD_RATE_LIMIT_PER_MINUTE (30): hops per phone number per minute.
    support_phone   SUPPORT_PHONE: shown in Help when the core gives none.
    hash_key        SECRET_KEY: keys the digests of session text and of phone numbers (HMAC-SHA256);
                    empty means plain SHA-256.
    """
    path_token: str = ""
    allowed_ips: tuple = field(default=())
    trust_proxy: bool = False
    screen_limit: int = 160
    session_ttl: int = 300
    resume_ttl: int = 300
    rate_limit: int = 30
    support_phone: str = ""
    hash_key: str = ""

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "UssdSettings":
        return cls(
            path_token=(env.get("USSD_PATH_TOKEN") or "").strip(),
            allowed_ips=_networks(env.get("USSD_ALLOWED_IPS") or ""),
            trust_proxy=(env.get("TRUST_PROXY") or "").strip().lower() in ("1", "true", "yes"),
            screen_limit=_positive(env, "USSD_SCREEN_LIMIT", 160),
            session_ttl=_positive(env, "USSD_SESSION_TTL", 300),
            resume_ttl=_positive(env, "USSD_RESUME_TTL", 300),
            rate_limit=_positive(env, "USSD_RATE_LIMIT_PER_MINUTE", 30),
            support_phone=(env.get("SUPPORT_PHONE") or "").strip(),
            hash_key=env.get("SECRET_KEY") or "",
        )

    def allows(self, address: str) -> bool:
        """Whether a caller address passes the allow-list (an empty list allows everyone)."""
        if not self.allowed_ips:
            return True
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        return any(ip in network for network in self.allowed_ips)


def _networks(raw: str) -> tuple:
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False)
                     for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError("USSD_ALLOWED_IPS must be a comma list of IP addresses or networks") from None


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value

"""The USSD adapter's settings, read once from a mapping (the environment, or a test's dict)."""
import ipaddress
from dataclasses import dataclass, field
from typing import Mapping

from escrow.settings import read_bool, read_int, read_networks, read_text


@dataclass(frozen=True)
class UssdSettings:
    """
    path_token      USSD_PATH_TOKEN: when set, AT must call /ussd/<token> (and /ussd/<token>/events);
                    the bare /ussd paths then answer 404, and so does a wrong token.
    allowed_ips     USSD_ALLOWED_IPS: comma list of addresses or CIDR networks; empty = anyone.
    trust_proxy     TRUST_PROXY (1/true/yes/on): take the caller's address from X-Forwarded-For's last hop.
    screen_limit    USSD_SCREEN_LIMIT (160): characters per screen, including "CON "/"END ".
    session_ttl     USSD_SESSION_TTL (300 s): how long a session's state lives in Redis.
    resume_ttl      USSD_RESUME_TTL (300 s): how long an unfinished task is offered again.
    rate_limit      USSD_RATE_LIMIT_PER_MINUTE (30): hops per phone number per minute.
    support_phone   SUPPORT_PHONE: shown in Help when the core gives none.
    sms_shortcode   SMS_SHORTCODE: the number people text ERASE/FUTA (and HELP) to, named in the
                    first-dial privacy line; empty: the line says to reply to a Zemi SMS.
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
    sms_shortcode: str = ""

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "UssdSettings":
        """Every value is read by the core's one settings parser (escrow/settings.py)."""
        return cls(
            path_token=read_text(env, "USSD_PATH_TOKEN"),
            allowed_ips=read_networks(env, "USSD_ALLOWED_IPS"),
            trust_proxy=read_bool(env, "TRUST_PROXY"),
            screen_limit=read_int(env, "USSD_SCREEN_LIMIT", 160, minimum=1),
            session_ttl=read_int(env, "USSD_SESSION_TTL", 300, minimum=1),
            resume_ttl=read_int(env, "USSD_RESUME_TTL", 300, minimum=1),
            rate_limit=read_int(env, "USSD_RATE_LIMIT_PER_MINUTE", 30, minimum=1),
            support_phone=read_text(env, "SUPPORT_PHONE"),
            hash_key=env.get("SECRET_KEY") or "",
            sms_shortcode=read_text(env, "SMS_SHORTCODE"),
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


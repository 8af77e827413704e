"""Optional defences for Daraja's unsigned callbacks (reliability.md X1), chosen by setting.

- MPESA_ALLOWED_IPS: a comma list of addresses or networks (CIDR) allowed to post callbacks;
  empty turns the check off. The list circulating for Safaricom is not official (protocols.md
  C.12 #4), so a refused callback is still answered 200 and kept (status 'rejected'), never acted on.
- TRUST_PROXY=1: take the client address from the last hop of X-Forwarded-For, the one our own
  proxy appended; without it the header is ignored (anyone can send it).
- MPESA_CONFIRM_WITH_QUERY: whether money in is confirmed with M-Pesa before it funds an order or
  is returned (reliability.md X1): a held STK success ('unconfirmed') by an STK Push Query in the
  worker's reconcile pass, a held C2B confirmation by a Transaction Status query on its TransID
  (escrow/confirmation.py); the callback handlers themselves make no outbound call. Against live
  Daraja it is always on, for every amount: unset means 'always', and 'never' or an amount stops
  start-up. Only the simulator (a loopback MPESA_BASE_URL with its public test key, or no
  MPESA_BASE_URL at all) may skip it: there the default is 'never', and 'always' or an amount
  (successes above it) turn it on.
"""
import ipaddress
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

from escrow.errors import ConfigError
from escrow.settings import read_bool, read_networks

SIMULATOR_CONSUMER_KEY = "sim-key"   # the built-in simulator's public test credentials
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# Words Daraja refuses in callback URLs (protocols.md C.12 #3), compared case-insensitively.
FILTERED_WORDS = ("m-pesa", "mpesa", "safaricom", "exec", "exe", "cmd", "sql", "query")


def filtered_words_in(text: str) -> list[str]:
    lowered = (text or "").lower()
    return [word for word in FILTERED_WORDS if word in lowered]


@dataclass(frozen=True)
class CallbackGuard:
    """Decides whether a callback's source address may have any effect."""
    networks: tuple = ()
    trust_proxy: bool = False

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "CallbackGuard":
        return cls(networks=read_networks(env, "MPESA_ALLOWED_IPS"), trust_proxy=read_bool(env, "TRUST_PROXY"))

    @property
    def enabled(self) -> bool:
        return bool(self.networks)

    def client_address(self, remote_addr: str | None, forwarded_for: str | None) -> str | None:
        """Our proxy's view of the caller: the LAST X-Forwarded-For hop, and only when we run behind
        a proxy we trust; earlier hops are whatever the caller chose to write."""
        if self.trust_proxy and forwarded_for:
            hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
            if hops:
                return hops[-1]
        return remote_addr

    def allows(self, address: str | None) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


@dataclass(frozen=True)
class ConfirmPolicy:
    """Which payments in (STK successes, paybill confirmations) are held until M-Pesa confirms them."""
    mode: str = "never"          # never, always, above
    threshold: int = 0

    @classmethod
    def for_mode(cls, value: str | None, *, live: bool) -> "ConfirmPolicy":
        """Against live Daraja every payment is confirmed: anything but 'always' (or unset) is refused."""
        if not live:
            return cls.from_setting(value)
        if (value or "always").strip().lower() != "always":
            raise ConfigError(f"MPESA_CONFIRM_WITH_QUERY={value!r} is refused with live Daraja (MPESA_BASE_URL): "
                              "money in is confirmed with M-Pesa before it funds an order or is returned; "
                              "unset it or set it to 'always' (only the simulator may skip confirmation)")
        return cls("always")

    @classmethod
    def from_setting(cls, value: str | None) -> "ConfirmPolicy":
        text = (value or "never").strip().lower()
        if text in ("never", ""):
            return cls("never")
        if text == "always":
            return cls("always")
        if text.isascii() and text.isdigit():
            return cls("above", int(text))
        raise ConfigError("MPESA_CONFIRM_WITH_QUERY must be 'never', 'always' or a whole-shilling amount")

    def requires(self, amount: int | None) -> bool:
        if self.mode == "always":
            return True
        if self.mode == "above":
            return amount is None or amount > self.threshold
        return False


def daraja_is_simulated(env: Mapping[str, str]) -> bool:
    """The local simulator: MPESA_BASE_URL on this machine and the simulator's public test key. Real
    credentials, or any other host, are live Daraja (sandbox included): money there is confirmed."""
    host = urlsplit(env.get("MPESA_BASE_URL") or "").hostname or ""
    return host in LOOPBACK_HOSTS and env.get("MPESA_CONSUMER_KEY") == SIMULATOR_CONSUMER_KEY

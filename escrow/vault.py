"""Personal data and secrets at rest: sealed phone numbers, keyed look-up hashes, delivery codes."""
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from escrow.errors import ConfigError
from escrow.phone import normalize_msisdn

CODE_DIGITS = 6


class Vault:
    """Seals and hashes with keys that live only in the environment (or instance/ in development).

    DATA_KEY is one Fernet key or a comma list of them, newest first: values are sealed with the
    newest and opened with any, so a key is changed by putting the new one in front, running
    `flask keys reseal` (escrow/rekey.py), then dropping the old one. SECRET_KEY (the look-up
    hashes, delivery codes, tokens) cannot be changed this way."""

    def __init__(self, secret_key: str, data_key: str):
        if not secret_key:
            raise ConfigError("SECRET_KEY is required")
        keys = _data_keys(data_key)
        self._newest = keys[0]
        self._fernet = MultiFernet(keys)
        self._lookup_key = _derive(secret_key, "phone-lookup")
        self._code_key = _derive(secret_key, "delivery-code")
        self._token_key = _derive(secret_key, "session-token")

    def phone_key(self, msisdn: str) -> str:
        """A stable keyed hash of a number, for finding its orders without storing it in clear."""
        number = normalize_msisdn(msisdn)
        return hmac.new(self._lookup_key, number.encode(), hashlib.sha256).hexdigest()

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def unseal(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ConfigError("sealed data does not open with any DATA_KEY (was a key dropped too soon?)") from None

    def reseal(self, token: str) -> str | None:
        """`token` sealed again under the newest key, or None when it already is (so a rerun is
        harmless); ConfigError when no key opens it."""
        try:
            self._newest.decrypt(token.encode())
            return None
        except InvalidToken:
            pass
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise ConfigError("sealed data does not open with any DATA_KEY") from None

    def code_hash(self, order_id: int, code: str) -> str:
        """The only form in which a delivery code is stored: bound to its order, keyed."""
        message = f"{order_id}:{code}".encode()
        return hmac.new(self._code_key, message, hashlib.sha256).hexdigest()

    def sign(self, message: str) -> str:
        """A keyed signature for short-lived tokens (never a stored secret by itself)."""
        return hmac.new(self._token_key, message.encode(), hashlib.sha256).hexdigest()

    def code_matches(self, order_id: int, code: str, stored_hash: str | None) -> bool:
        if not stored_hash:
            return False
        return hmac.compare_digest(self.code_hash(order_id, code), stored_hash)


def new_delivery_code() -> str:
    """Six digits from the operating system's CSPRNG."""
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def new_data_key() -> str:
    return Fernet.generate_key().decode()


def _data_keys(data_key) -> list[Fernet]:
    text = data_key.decode() if isinstance(data_key, bytes) else str(data_key or "")
    try:
        keys = [Fernet(part.strip().encode()) for part in text.split(",") if part.strip()]
    except (ValueError, TypeError):
        keys = []
    if not keys or len(keys) != len([part for part in text.split(",") if part.strip()]):
        raise ConfigError("DATA_KEY must be a Fernet key (32 url-safe base64 bytes), or a comma list of them "
                          "with the newest first")
    return keys


def _derive(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()

"""What every use case needs besides its session: settings and the vault."""
from dataclasses import dataclass

from escrow.return_limits import ReturnLimits
from escrow.settings import EscrowSettings
from escrow.vault import Vault


@dataclass(frozen=True)
class Core:
    settings: EscrowSettings
    vault: Vault
    paybill: str = ""
    support_phone: str = ""
    ussd_code: str = "*384*1234#"
    returns: ReturnLimits = ReturnLimits()   # caps on automatic returns (escrow/return_limits.py)
    public_base_url: str = ""   # PUBLIC_BASE_URL: payment links are <it>/p/<token> (escrow/payment_links.py)

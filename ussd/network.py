"""M-Pesa is Safaricom's: which callers can get an M-Pesa prompt, and which numbers are Safaricom's.

A caller's network is AT's `networkCode` for the session (63902 Safaricom; 63903 Airtel, 63907 Telkom,
63999 Equitel; the sandbox sends 99999). A number's range says where it was first issued; numbers can
be ported, so a number outside Safaricom's ranges is questioned, never refused.
"""
from escrow.errors import InvalidPhoneNumber
from escrow.phone import normalize_msisdn

SAFARICOM = "63902"
SANDBOX = "99999"
# Safaricom's ranges as allocated by the Communications Authority (07xx and the 2020 011x series).
SAFARICOM_PREFIXES = (tuple(f"25470{d}" for d in range(10)) + tuple(f"25471{d}" for d in range(10))
                      + tuple(f"25472{d}" for d in range(10)) + tuple(f"25479{d}" for d in range(10))
                      + ("254740", "254741", "254742", "254743", "254745", "254746", "254748",
                         "254757", "254758", "254759", "254768", "254769")
                      + tuple(f"25411{d}" for d in range(6)))


def on_mpesa_line(network: str) -> bool:
    """Whether an M-Pesa prompt can reach the caller's line: Safaricom, the sandbox, or not said."""
    return (network or "").strip() in ("", SAFARICOM, SANDBOX)


def is_safaricom_number(number: str) -> bool:
    try:
        return normalize_msisdn(number).startswith(SAFARICOM_PREFIXES)
    except InvalidPhoneNumber:
        return False

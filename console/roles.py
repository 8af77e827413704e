"""Who may do what. Viewers read (numbers masked); agents act on disputes, findings and reveal numbers
with a reason; admins do everything and manage operators."""
from console.errors import Forbidden

ROLES = ("viewer", "agent", "admin")
READ = "read"
EXPORT = "export"
REVEAL = "reveal"
RESOLVE_DISPUTE = "resolve_dispute"
NOTE_DISPUTE = "note_dispute"
RESOLVE_FINDING = "resolve_finding"
MANAGE_OPERATORS = "manage_operators"
RESEND_SMS = "resend_sms"
UNLOCK_CODES = "unlock_codes"          # callers and orders locked out for wrong delivery codes
CANCEL_ORDER = "cancel_order"

_AGENT = {READ, EXPORT, REVEAL, RESOLVE_DISPUTE, NOTE_DISPUTE, RESOLVE_FINDING, RESEND_SMS, UNLOCK_CODES}
ALLOWED = {"viewer": {READ, EXPORT}, "agent": _AGENT, "admin": _AGENT | {MANAGE_OPERATORS, CANCEL_ORDER}}
ACTIONS = tuple(sorted(ALLOWED["admin"]))
NEEDS_TOTP = ("agent", "admin")     # a second factor at sign-in and before money moves


def may(role: str, action: str) -> bool:
    return action in ALLOWED.get(role, ())


def require(role: str, action: str) -> None:
    if not may(role, action):
        raise Forbidden(f"a {role} cannot {action.replace('_', ' ')}")

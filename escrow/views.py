"""Read models the core hands to adapters: plain values. The parties to an order see each other's
number in full (they must reach each other); masking is for everyone else."""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Quote:
    price: int        # what buyer and seller agreed
    fee: int
    fee_payer: str    # "seller" or "buyer"
    charge: int       # what the buyer pays (price + fee if the buyer pays the fee)
    payout: int       # what the seller receives (price - fee if the seller pays it)


@dataclass(frozen=True)
class OrderView:
    reference: str
    state: str
    item: str
    price: int
    fee: int
    charge: int
    payout: int
    role: str                  # the viewer's role: "buyer" or "seller"
    counterpart_masked: str    # the other party's number, masked (0712***678): for logs and operators
    actions: tuple[str, ...] = field(default=())  # what the viewer may do now (see ACTIONS)
    counterpart: str = ""      # the other party's number in full (0712345678), for the viewer only
    seller_accepted: bool = False  # the seller acted on it from their line: money may be released
    fee_payer: str = "seller"
    pay_url: str = ""         # a payment request's link (PUBLIC_BASE_URL/p/<token>), as its seller gets it


# Actions an OrderView may offer its viewer; the USSD menu shows only these.
ACTIONS = ("pay_now", "paybill", "confirm_delivery", "report_problem", "mark_dispatched",
           "cancel", "accept", "decline", "new_code", "accept_order", "code_on_screen")

DISPUTE_REASONS = ("not_received", "damaged", "wrong_item", "other")


@dataclass(frozen=True)
class CodeMatch:
    """A delivery code matched an order. `token` stands in for the code in the USSD session
    (the code itself is never stored); confirm_delivery accepts it."""
    order: OrderView
    token: str


@dataclass(frozen=True)
class HelpInfo:
    paybill: str
    fee_bps: int
    fee_min: int
    fee_max: int
    fee_payer: str
    support_phone: str


@dataclass(frozen=True)
class ScreenCode:
    """A new delivery code for the buyer's own USSD screen (its SMS could not arrive). The adapter
    shows `code` once and must neither store nor log it."""
    order: OrderView
    code: str

"""The platform fee, in integers: basis points of the price, clamped to a minimum and maximum."""
from escrow.errors import InvalidAmount, LimitExceeded
from escrow.settings import MPESA_MAX_PER_TRANSACTION, EscrowSettings
from escrow.views import Quote


def fee_for(price: int, settings: EscrowSettings) -> int:
    """Floor of price x bps / 10,000, clamped to [fee_min, fee_max], and never the whole price."""
    fee = price * settings.fee_bps // 10_000
    fee = max(settings.fee_min, min(settings.fee_max, fee))
    return min(fee, price - 1) if settings.fee_payer == "seller" else fee


def quote(price: int, settings: EscrowSettings) -> Quote:
    """What the buyer pays and the seller receives for `price`; payout + fee == charge always."""
    if not isinstance(price, int) or isinstance(price, bool) or price < 1:
        raise InvalidAmount(f"not a positive whole amount: {price!r}")
    if price < settings.order_min:
        raise LimitExceeded("order_min", settings.order_min)
    if price > settings.order_max:
        raise LimitExceeded("order_max", settings.order_max)
    fee = fee_for(price, settings)
    if settings.fee_payer == "buyer":
        if price + fee > MPESA_MAX_PER_TRANSACTION:   # the fee on top: the charge is what M-Pesa must carry
            raise LimitExceeded("order_max", MPESA_MAX_PER_TRANSACTION - fee)
        return Quote(price=price, fee=fee, fee_payer="buyer", charge=price + fee, payout=price)
    return Quote(price=price, fee=fee, fee_payer="seller", charge=price, payout=price - fee)

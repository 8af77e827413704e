"""Action hooks: the screens' calls into the core that change something, each ending the
session with what happens next. Nothing here talks to M-Pesa or SMS; the core records the
intent and the worker acts after the session has ended."""
from decimal import Decimal

from escrow.money import format_kes

from ussd.network import on_mpesa_line
from ussd.screens import Context, Data, Finish, Goto


def create_order(data: Data, ctx: Context) -> Finish:
    """Created: the M-Pesa prompt is coming, or, on a line no prompt can reach, how to pay by Paybill."""
    order = ctx.service.create_order(buyer=ctx.caller, seller=data["party"], price=data["price"],
                                     item=data["item"], prompt=on_mpesa_line(ctx.network))
    if not on_mpesa_line(ctx.network):
        return Finish("ussd.pay.done_paybill", {**_ref_and_charge(order), "paybill": ctx.service.help_info().paybill})
    return Finish("ussd.pay.done", {"ref": order.reference, "charge": format_kes(order.charge)})


def keep_number(data: Data, ctx: Context) -> Goto:
    return Goto("pay.amount", dict(data))


def change_number(data: Data, ctx: Context) -> Goto:
    return Goto("pay.party", {})


def request_payment(data: Data, ctx: Context) -> Finish:
    order = ctx.service.request_payment(seller=ctx.caller, buyer=data["party"],
                                        price=data["price"], item=data["item"], share_link=True)  # link by SMS
    return Finish("ussd.req.done", {"ref": order.reference, "charge": format_kes(order.charge)})


def nothing_charged(data: Data, ctx: Context) -> Finish:
    return Finish("ussd.cancelled")


def confirm_delivery(data: Data, ctx: Context) -> Finish:
    """Released: a seller hears about their own money, a buyer about the seller's."""
    order = ctx.service.confirm_delivery(caller=ctx.caller, reference=data["ref"], token=data["token"])
    key = "ussd.code.done_seller" if order.role == "seller" else "ussd.code.done"
    return Finish(key, {"ref": order.reference, "payout": format_kes(order.payout),
                        "party": order.counterpart or order.counterpart_masked})


def keep_held(data: Data, ctx: Context) -> Finish:
    return Finish("ussd.code.kept")


def pay_now(data: Data, ctx: Context) -> Finish:
    order = ctx.service.pay_again(ctx.caller, data["ref"])
    return Finish("ussd.done.pay_now", _ref_and_charge(order))


def pay_by_paybill(data: Data, ctx: Context) -> Finish:
    order = ctx.service.order_for(ctx.caller, data["ref"])
    paybill = ctx.service.help_info().paybill
    return Finish("ussd.done.paybill", {**_ref_and_charge(order), "paybill": paybill})


def accept_request(data: Data, ctx: Context) -> Finish:
    order = ctx.service.accept_request(ctx.caller, data["ref"], prompt=on_mpesa_line(ctx.network))
    if not on_mpesa_line(ctx.network):
        return Finish("ussd.done.accept_paybill", {**_ref_and_charge(order), "paybill": ctx.service.help_info().paybill})
    return Finish("ussd.done.accept", _ref_and_charge(order))


def decline_request(data: Data, ctx: Context) -> Finish:
    return Finish("ussd.done.decline", {"ref": ctx.service.decline_request(ctx.caller, data["ref"]).reference})


def mark_dispatched(data: Data, ctx: Context) -> Finish:
    return Finish("ussd.done.dispatched", {"ref": ctx.service.mark_dispatched(ctx.caller, data["ref"]).reference})


def cancel_order(data: Data, ctx: Context) -> Finish:
    """An unpaid order: nothing was charged. A paid one (the seller cancels): the buyer is refunded."""
    order = ctx.service.cancel_order(ctx.caller, data["ref"])
    key = "ussd.done.cancel" if order.state == "cancelled" else "ussd.done.cancel_paid"
    return Finish(key, _ref_and_charge(order))


def accept_order(data: Data, ctx: Context) -> Finish:
    """The seller accepts a paid order from their own line: the buyer's code can now release to them."""
    order = ctx.service.accept_order(ctx.caller, data["ref"])
    return Finish("ussd.done.accept_order", {"ref": order.reference, "item": order.item,
                                             "party": order.counterpart or order.counterpart_masked,
                                             "payout": format_kes(order.payout)})


def keep_order(data: Data, ctx: Context) -> Goto:
    return Goto("order", {"ref": data["ref"]})


def show_code_on_screen(data: Data, ctx: Context) -> Finish:
    """A code whose SMS cannot arrive, shown once on the buyer's own screen; never kept (private)."""
    shown = ctx.service.show_code_on_screen(ctx.caller, data["ref"])
    return Finish("ussd.done.code_on_screen", {"ref": shown.order.reference, "code": shown.code}, private=True)


def reissue_code(data: Data, ctx: Context) -> Finish:
    return Finish("ussd.done.new_code", {"ref": ctx.service.reissue_code(ctx.caller, data["ref"]).reference})


def report_problem(reason: str):
    """The hook for one dispute reason."""
    def open_dispute(data: Data, ctx: Context) -> Finish:
        order = ctx.service.open_dispute(ctx.caller, data["ref"], reason)
        return Finish("ussd.done.dispute", {"ref": order.reference})
    open_dispute.__name__ = "open_dispute"
    return open_dispute


def choose_language(language: str):
    """The hook for one language: remember it for this number and show Home in it."""
    def set_language(data: Data, ctx: Context) -> Goto:
        ctx.service.set_language(ctx.caller, language)
        return Goto("main", reset=True, language=language, notice="ussd.language.saved")
    set_language.__name__ = "set_language"
    return set_language


def show_help(data: Data, ctx: Context) -> Finish:
    info = ctx.service.help_info()
    return Finish("ussd.help", {
        "paybill": info.paybill, "fee_pct": format(Decimal(info.fee_bps) / 100, "f"),
        "fee_min": format_kes(info.fee_min), "fee_max": format_kes(info.fee_max),
        "payer": ctx.text(f"ussd.party.{info.fee_payer}"),
        "support": info.support_phone or ctx.support_phone})


def show_shortcuts(data: Data, ctx: Context) -> Finish:
    return Finish("ussd.help.shortcuts")


def resume_saved(data: Data, ctx: Context) -> Goto:
    saved = data["saved"]
    return Goto(saved["screen"], saved["data"], history=saved["history"])


def start_again(data: Data, ctx: Context) -> Goto:
    return Goto("main", reset=True)


def _ref_and_charge(order) -> Data:
    return {"ref": order.reference, "charge": format_kes(order.charge)}

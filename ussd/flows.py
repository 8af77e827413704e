"""Every screen of the Zemi USSD service, declared as data, and the hooks that fill them in."""
from escrow.catalog import CATALOGS, DEFAULT_LANGUAGE
from escrow.money import format_kes
from escrow.phone import to_local
from escrow.reference import is_valid_reference
from escrow.views import DISPUTE_REASONS

from ussd import actions
from ussd.answers import accept_amount, accept_code, accept_item, accept_party, amount_range
from ussd.gsm7 import transliterate
from ussd.network import is_safaricom_number, on_mpesa_line
from ussd.render import budget
from ussd.screens import Confirm, Context, Data, Goto, Input, Menu, Option, PagedList, Screen

ACTION_OPTIONS = {
    "pay_now": Option("ussd.action.pay_now", do=actions.pay_now),
    "paybill": Option("ussd.action.paybill", do=actions.pay_by_paybill),
    "confirm_delivery": Option("ussd.action.confirm_delivery", goto="code.enter"),
    "report_problem": Option("ussd.action.report_problem", goto="dispute.reason"),
    "mark_dispatched": Option("ussd.action.mark_dispatched", do=actions.mark_dispatched),
    "cancel": Option("ussd.action.cancel", goto="cancel.confirm"),
    "accept": Option("ussd.action.accept", do=actions.accept_request),
    "decline": Option("ussd.action.decline", do=actions.decline_request),
    "new_code": Option("ussd.action.new_code", do=actions.reissue_code),
    "accept_order": Option("ussd.action.accept_order", do=actions.accept_order),
    "code_on_screen": Option("ussd.action.code_on_screen", do=actions.show_code_on_screen),
}


def summary(data: Data, ctx: Context) -> Data:
    """The deal as typed, the other party's number in full so it can be checked, and why an amount
    differs from the price typed (the fee)."""
    return {"party": to_local(data["party"]), "item": data["item"], "price": format_kes(data["price"]),
            "fee": format_kes(data["fee"]), "fee_note": ctx.text(f"ussd.fee_by.{data['fee_payer']}"),
            "charge": format_kes(data["charge"]), "payout": format_kes(data["payout"]),
            "charge_note": ctx.text("ussd.with_fee") if data["charge"] != data["price"] else "",
            "payout_note": ctx.text("ussd.after_fee") if data["payout"] != data["price"] else ""}


def order_details(data: Data, ctx: Context) -> Data:
    """The order as its reader sees it: state, the other party in full, what happens next, and
    the actions the reader may take (the next-step line gives way if the options need the room)."""
    order = ctx.service.order_for(ctx.caller, data["ref"])
    line = ctx.text(f"ussd.order.as_{order.role}", party=order.counterpart or order.counterpart_masked)
    params = {"ref": order.reference, "item": transliterate(order.item), "price": format_kes(order.price),
              "state": state_word(order.state, ctx), "party_line": line, "actions": order.actions}
    next_line = "\n" + ctx.text(next_step_key(order))
    options = [f"{n} {ctx.text(option.label)}" for n, option in enumerate(order_options(data, ctx, params), 1)]
    whole = "\n".join([ctx.text("ussd.order.detail", **params, next=next_line), *options, ctx.text("ussd.nav")])
    return {**params, "next": next_line if len(whole) <= budget(ctx) else ""}


def next_step_key(order) -> str:
    """What happens next for this reader: per state, per role where the roles differ."""
    key = f"ussd.next.{order.state}.{order.role}"
    if order.state == "funded" and not order.seller_accepted:
        key += ".waiting"
    if key in CATALOGS[DEFAULT_LANGUAGE]:
        return key
    return f"ussd.next.{order.state}" if f"ussd.next.{order.state}" in CATALOGS[DEFAULT_LANGUAGE] else "ussd.nav"


def order_options(data: Data, ctx: Context, params: Data) -> list[Option]:
    """The reader's actions; no M-Pesa prompt is offered to a line it cannot reach (Paybill stays)."""
    prompt_reaches = on_mpesa_line(ctx.network)
    return [ACTION_OPTIONS[name] for name in params["actions"]
            if name in ACTION_OPTIONS and (prompt_reaches or name != "pay_now")]


def state_word(state: str, ctx: Context) -> str:
    key = f"ussd.state.{state}"
    return ctx.text(key) if key in CATALOGS[DEFAULT_LANGUAGE] else state.replace("_", " ")


def code_match(data: Data, ctx: Context) -> Data:
    """The release question, put to its reader: a seller is asked about their own money."""
    price, payout = format_kes(data["price"]), format_kes(data["payout"])
    fee = format_kes(data["price"] - data["payout"])
    return {"ref": data["ref"], "item": transliterate(data["item"]), "price": price, "payout": payout,
            "party": data.get("party", ""),
            "payout_note": ctx.text("ussd.less_fee", price=price, fee=fee) if data["payout"] != data["price"] else ""}


def code_question(data: Data) -> str:
    return f"ussd.code.confirm.{data.get('role', 'seller')}"


def resume_task(data: Data, ctx: Context) -> Data:
    return {"task": ctx.text(data["task"])}


def orders_page(data: Data, ctx: Context, offset: int, limit: int) -> list:
    return ctx.service.orders_of(ctx.caller, offset=offset, limit=limit)


def order_row(order, ctx: Context) -> Data:
    return {"ref": order.reference, "item": transliterate(order.item), "state": state_word(order.state, ctx)}


def open_order(order, data: Data, ctx: Context) -> Goto:
    return Goto("order", {"ref": order.reference})


def order_by_reference(answer: str, data: Data, ctx: Context) -> Goto | None:
    """An order number typed on the list (or dialled straight in: *384*1234*3*<order>#) opens it."""
    return Goto("order", {"ref": answer}) if is_valid_reference(answer) else None


def limits_first(paying: bool):
    """The caller's limits, checked on the first screen of a journey (not after four answers); a payer
    whose line no M-Pesa prompt can reach is told there how they will pay."""
    def check(data: Data, ctx: Context) -> Data:
        ctx.service.check_limits(ctx.caller, paying=paying)
        off_mpesa = paying and not on_mpesa_line(ctx.network) and not ctx.reprompt
        return {"network_note": ctx.text("ussd.pay.not_mpesa_line") if off_mpesa else ""}
    return check


def after_seller_number(data: Data) -> str:
    """A seller number outside Safaricom's ranges is questioned (it may have been ported), not refused."""
    return "pay.amount" if is_safaricom_number(data["party"]) else "pay.check"


def seller_check(data: Data, ctx: Context) -> Data:
    return {"party": to_local(data["party"])}


def _pay_or_request(prefix: str, ask_party: str, ask_item: str, task: str, yes) -> list[Screen]:
    return [
        Input(f"{prefix}.party", ask_party, accept_party,
              after_seller_number if prefix == "pay" else f"{prefix}.amount", task=task,
              params=limits_first(paying=prefix == "pay")),
        Input(f"{prefix}.amount", "ussd.ask.amount", accept_amount, f"{prefix}.item",
              params=amount_range, task=task),
        Input(f"{prefix}.item", ask_item, accept_item, f"{prefix}.summary", task=task),
        Confirm(f"{prefix}.summary", f"ussd.{prefix}.summary", yes=yes, no=actions.nothing_charged,
                params=summary, task=task),
    ]


SCREEN_LIST: list[Screen] = [
    Menu("main", "ussd.main", resumable=False, nav_hint=False, choices=(
        Option("ussd.menu.pay", goto="pay.party"), Option("ussd.menu.request", goto="req.party"),
        Option("ussd.menu.orders", goto="orders"), Option("ussd.menu.code", goto="code.enter"),
        Option("ussd.menu.language", goto="language"), Option("ussd.menu.help", goto="help"))),
    Menu("help", "ussd.help.title", resumable=False, choices=(
        Option("ussd.help.menu.fees", do=actions.show_help),
        Option("ussd.help.menu.shortcuts", do=actions.show_shortcuts))),
    Confirm("resume", "ussd.resume.ask", yes=actions.resume_saved, no=actions.start_again,
            params=resume_task, resumable=False),
    *_pay_or_request("pay", "ussd.pay.seller", "ussd.pay.item", "ussd.task.pay", actions.create_order),
    Confirm("pay.check", "ussd.pay.check_seller", yes=actions.keep_number, no=actions.change_number,
            params=seller_check, task="ussd.task.pay"),
    *_pay_or_request("req", "ussd.req.buyer", "ussd.req.item", "ussd.task.request",
                     actions.request_payment),
    PagedList("orders", "ussd.orders.row", load=orders_page, row_params=order_row, pick=open_order,
              empty="ussd.orders.none", resumable=False, page_size=4, typed=order_by_reference),
    Menu("order", "ussd.order.detail", params=order_details, options=order_options, resumable=False),
    Menu("dispute.reason", "ussd.dispute.ask", params=lambda data, ctx: {"ref": data["ref"]},
         resumable=False, choices=tuple(Option(f"ussd.reason.{reason}", do=actions.report_problem(reason))
                       for reason in DISPUTE_REASONS)),
    Confirm("cancel.confirm", "ussd.cancel.ask", yes=actions.cancel_order, no=actions.keep_order,
            params=lambda data, ctx: {"ref": data["ref"], "item": order_details(data, ctx)["item"]},
            resumable=False),
    Input("code.enter", "ussd.code.ask", accept_code, "code.confirm", task="ussd.task.code"),
    Confirm("code.confirm", code_question, yes=actions.confirm_delivery, no=actions.keep_held,
            params=code_match, task="ussd.task.code", resumable=False),
    Menu("language", "ussd.language.ask", resumable=False, choices=(
        Option("ussd.language.en", do=actions.choose_language("en")),
        Option("ussd.language.sw", do=actions.choose_language("sw")))),
]

SCREENS: dict[str, Screen] = {screen.id: screen for screen in SCREEN_LIST}
HOME_SCREEN = "main"

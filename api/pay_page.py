"""The pay page at /p/<token>: small, server-rendered, readable without JavaScript, English and
Kiswahili. It shows the order's terms and sends the M-Pesa prompt through the core (the outbox);
then it shows the payment's progress. It never shows the delivery code. Its form is guarded against
cross-site posts by a cookie-bound token (api/pay_csrf.py), which needs no JavaScript."""
from flask import Blueprint, make_response, redirect, render_template, request

from api import pay_csrf, records
from api.pay_text import TEXT
from api.problems import ApiError, from_core
from escrow.errors import EscrowError, InvalidPhoneNumber
from escrow.phone import mask, normalize_msisdn
from escrow.states import HOLDING, State

REFUSALS = {"stk_pushes_per_hour": "too many prompts to this number; try again later",
            "prompts_per_link_per_hour": "too many prompts from this link; try again later",
            "link_busy": "a prompt from this link is being sent just now; try again in a moment"}


def make_pay_blueprint(ctx, prompts_per_hour: int) -> Blueprint:
    bp = Blueprint("pay", __name__, template_folder="templates")

    @bp.get("/p/<token>")
    def show(token):
        return _page(ctx, token)

    @bp.post("/p/<token>")
    def act(token):
        if not pay_csrf.post_is_genuine(ctx.core.vault, token):
            return _page(ctx, token, message=TEXT[_language()]["stale"], status=403)   # nothing sent
        link = records.link_for(ctx.db, token)
        if link is None or (link.order_id is None and not records.link_is_live(ctx.db, link)):
            return _page(ctx, token)   # an order's own link follows the order's state and pay-by instead
        if records.sellers_copy(ctx.db, link):
            return _page(ctx, token)   # only the buyer answers their request: nothing is sent
        try:
            new_token = _act(ctx, link, prompts_per_hour)
        except (EscrowError, ApiError) as error:
            return _page(ctx, token, message=_reason(error))
        lang = _language()
        return redirect(f"/p/{new_token or token}?lang={lang}", code=303)
    return bp


def _act(ctx, link, prompts_per_hour: int) -> str | None:
    """Send the prompt (or decline); for an open link, the payer's own order and link come first."""
    with records.link_prompt_turn(ctx.db, link, prompts_per_hour):
        return _send(ctx, link)


def _send(ctx, link) -> str | None:
    action = request.form.get("action", "pay")
    if link.order_id is None:
        seller = ctx.core.vault.unseal(link.seller_sealed)
        view = ctx.service.create_order(buyer=normalize_msisdn(request.form.get("phone", "")), seller=seller,
                                        price=link.price, item=link.item)
        token, _ = records.new_link(ctx.db, ctx.core, seller=seller, item=view.item, price=view.price,
                                    order_reference=view.reference, api_key_id=link.api_key_id, parent_id=link.id)
        return token
    order, buyer, _ = records.order_of_link(ctx.db, ctx.core, link)
    if action == "decline":   # only ever a decline: on a page out of date it does nothing, never a prompt
        if order.state == State.REQUESTED.value:
            ctx.service.decline_request(buyer, order.reference)
    elif order.state == State.REQUESTED.value:
        ctx.service.accept_request(buyer, order.reference)
    else:
        ctx.service.pay_again(buyer, order.reference)
    return None


def _reason(error) -> str:
    if isinstance(error, InvalidPhoneNumber):
        return TEXT[_language()]["bad_phone"]
    problem = error if isinstance(error, ApiError) else from_core(error)
    limit = problem.extra.get("limit")
    return TEXT[_language()]["refused"].format(reason=REFUSALS.get(limit, problem.detail or problem.title))


def _language() -> str:
    chosen = request.values.get("lang")
    if chosen in TEXT:
        return chosen
    return "sw" if (request.accept_languages.best_match(["en", "sw"]) == "sw") else "en"


def _page(ctx, token: str, message: str | None = None, status: int = 200):
    """The page, with the form's token for this browser (its cookie set on a first visit)."""
    browser, new = pay_csrf.browser_id()
    html, found = _render(ctx, token, message, pay_csrf.form_token(ctx.core.vault, browser, token))
    response = make_response(html, status if found else 404)
    if new:
        pay_csrf.set_cookie(response, browser, secure=ctx.public_base_url.startswith("https://"))
    return response


def _render(ctx, token: str, message: str | None, csrf: str) -> tuple[str, bool]:
    lang = _language()
    t = TEXT[lang]
    link = records.link_for(ctx.db, token)
    base = dict(lang=lang, other_lang="en" if lang == "sw" else "sw", t=t, message=message, refresh=False,
                csrf=csrf)
    if link is None:
        return render_template("pay.html", gone=True, **base), False
    seller = mask(ctx.core.vault.unseal(link.seller_sealed))
    live = records.link_is_live(ctx.db, link)
    if link.order_id is None:
        terms = ctx.service.quote(link.price)
        return render_template(
            "pay.html", gone=False, open=True, seller=seller, item=link.item, price=terms.price, fee=terms.fee,
            charge=terms.charge, reference=None, can_pay=live, can_decline=False, pay_label=t["pay"],
            status_text="" if live else t["expired"], status_class="warn", **base), True
    order, buyer, _ = records.order_of_link(ctx.db, ctx.core, link)
    status_text, status_class, can_pay, refresh = _progress(t, order, mask(buyer))
    if records.sellers_copy(ctx.db, link):   # shows the request; the buyer answers from their own line
        can_pay = False
        if order.state == State.REQUESTED.value:
            status_text = t["buyer_answers"].format(phone=mask(buyer), dial=_dial(ctx.core, order.reference))
    base["refresh"] = refresh
    return render_template(
        "pay.html", gone=False, open=False, seller=seller, item=order.item, price=order.price, fee=order.fee,
        charge=order.charge, reference=order.reference, can_pay=can_pay,
        can_decline=can_pay and order.state == State.REQUESTED.value,
        pay_label=t["pay"] if order.state == State.REQUESTED.value else t["pay_again"],
        status_text=status_text, status_class=status_class, **base), True


def _dial(core, reference: str) -> str:
    code = core.ussd_code
    return f"{code[:-1]}*3*{reference}#" if code.endswith("#") else code


def _progress(t: dict, order, buyer_masked: str) -> tuple[str, str, bool, bool]:
    """(what to say, its style, whether a prompt may be sent, whether the page refreshes itself)."""
    state = State(order.state)
    if state is State.REQUESTED:
        return t["prompt_to"].format(phone=buyer_masked), "", True, False
    if state is State.AWAITING_PAYMENT:
        return t["sent"].format(phone=buyer_masked), "", True, True
    if state is State.CHECKING_PAYMENT:
        return t["checking"], "", False, True
    if state in HOLDING or state in (State.RELEASED, State.PAID_OUT):
        return t["funded"].format(charge=f"{order.charge:,}", phone=buyer_masked), "ok", False, False
    if state is State.EXPIRED:
        return t["expired"], "warn", False, False
    if state is State.DECLINED:
        return t["declined"], "warn", False, False
    return t["done"].format(state=state.value.replace("_", " ")), "warn", False, False

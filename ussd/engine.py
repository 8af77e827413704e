"""The pure USSD flow: step(state, input, ctx) -> Outcome(state, reply, actions).

State is a JSON-ready dict: the current screen, its data, the Back history (a stack of
[screen, data] frames), the language and whether the session has ended. The engine does no
I/O of its own; it calls the escrow service injected in `ctx` (a fake in tests).
"""
from dataclasses import dataclass, replace

from escrow.errors import EscrowError
from escrow.numerals import read_count

from ussd.errors import InvalidInput
from ussd.failures import explain
from ussd.flows import HOME_SCREEN, SCREENS
from ussd.render import Reply, budget, compose, menu_options, page_of, show
from ussd.screens import (BACK, HOME, MORE, Confirm, Context, Finish, Goto, Input, Menu,
                          PagedList)

HISTORY_DEPTH = 12
CHOICE_MAX_DIGITS = 2   # menus and pages offer at most 9 choices (98 is "more", matched as text)


@dataclass(frozen=True)
class Outcome:
    state: dict
    reply: Reply
    actions: tuple[str, ...] = ()
    private: str | None = None   # the catalog key to keep in place of a reply that must not be stored


def new_state(language: str) -> dict:
    return {"screen": HOME_SCREEN, "data": {}, "history": [], "lang": language, "ended": False}


def start(ctx: Context, saved: dict | None = None, *, first_dial: bool = False) -> Outcome:
    """The first screen of a session: Home, or the offer to resume an unfinished task. A number's
    first dial shows Home with the other language offered on it (no extra hop for anyone)."""
    state = new_state(ctx.language)
    if saved:
        state.update(screen="resume", data={"saved": saved, "task": saved["task"]})
    if first_dial:
        state["privacy"] = True   # said once, in a line, on the next screen it fits (see _privacy)
    return _show(state, ctx, notice="ussd.welcome" if first_dial and not saved else None)


def start_typed(ctx: Context, typed: str) -> Outcome:
    """A first hop that already carries answers: AT passes what a caller appends to the service code
    (*384*1234*4*123456# arrives as text "4*123456"). Each answer is taken as typed from Home, as
    far as screens that only lead on or ask for something; a confirmation or an action is shown,
    never taken, so no dialled-in string can move money. A refused answer stops there and says why."""
    outcome = start(ctx)
    for answer in typed.split("*"):
        state = outcome.state
        if state.get("ended") or not _leads_on(state, answer, ctx):
            break
        outcome = step(state, answer, ctx)
        if not outcome.reply.end and outcome.state["screen"] == state["screen"] and answer != MORE:
            break   # re-prompted with the reason: the rest of the typed answers are not for this screen
    return outcome


def _leads_on(state: dict, answer: str, ctx: Context) -> bool:
    screen = SCREENS[state["screen"]]
    if isinstance(screen, Confirm):
        return False
    if isinstance(screen, Menu) and answer not in (BACK, HOME):
        options = menu_options(screen, state["data"], replace(ctx, language=state["lang"]))
        number = read_count(answer, max_length=CHOICE_MAX_DIGITS)
        return number is None or not 1 <= number <= len(options) or options[number - 1].do is None
    return True


def step(state: dict, user_input: str, ctx: Context) -> Outcome:
    """Handle the caller's answer to the current screen and show what comes next."""
    ctx = replace(ctx, language=state.get("lang") or ctx.language)
    if state.get("ended"):
        return Outcome(state, _reply(ctx.text("ussd.err.expired"), True, ctx))
    if user_input in (BACK, HOME):
        return _show(_navigate(state, user_input), ctx)
    screen = SCREENS[state["screen"]]
    try:
        result, action = _HANDLE[type(screen)](screen, state["data"], user_input.strip(), ctx)
    except (InvalidInput, EscrowError) as exc:
        return _refuse(state, screen, exc, ctx)
    return _follow(state, result, action, ctx)


def resume_point(state: dict) -> dict | None:
    """What to offer on the next dial if this session drops now: the latest resumable frame."""
    if state.get("ended"):
        return None
    frames = state["history"] + [[state["screen"], state["data"]]]
    for depth in range(len(frames) - 1, -1, -1):
        screen = SCREENS[frames[depth][0]]
        if screen.resumable and screen.task:
            return {"screen": screen.id, "data": frames[depth][1], "history": frames[:depth],
                    "task": screen.task}
    return None


# ---- navigation --------------------------------------------------------------------------

def _navigate(state: dict, key: str) -> dict:
    history = list(state["history"])
    if key == HOME or not history:
        return {**state, "screen": HOME_SCREEN, "data": {}, "history": []}
    screen, data = history.pop()
    return {**state, "screen": screen, "data": data, "history": history}


def _advance(state: dict, goto: Goto) -> dict:
    if goto.reset:
        history = []
    elif goto.history is not None:
        history = goto.history
    elif state["screen"] == "resume":
        history = state["history"]
    else:
        history = (state["history"] + [[state["screen"], state["data"]]])[-HISTORY_DEPTH:]
    return {**state, "screen": goto.screen, "data": goto.data, "history": history,
            "lang": goto.language or state["lang"]}


# ---- per-kind answer handling ------------------------------------------------------------

def _handle_menu(screen: Menu, data: dict, answer: str, ctx: Context):
    options = menu_options(screen, data, ctx)
    option = options[_choice(answer, len(options))]
    if option.do is not None:
        return option.do(data, ctx), option.do.__name__
    return Goto(option.goto, dict(data)), None


def _handle_input(screen: Input, data: dict, answer: str, ctx: Context):
    data = {**data, **screen.accept(answer, data, ctx)}
    return Goto(screen.next(data) if callable(screen.next) else screen.next, data), None


def _handle_confirm(screen: Confirm, data: dict, answer: str, ctx: Context):
    hook = (screen.yes, screen.no)[_choice(answer, 2)]
    return hook(data, ctx), hook.__name__


def _handle_list(screen: PagedList, data: dict, answer: str, ctx: Context):
    typed = screen.typed(answer, data, ctx) if screen.typed else None
    if typed is not None:
        return typed, None
    rows, more = page_of(screen, data, ctx)
    offset = data.get("offset", 0)
    if answer == MORE and more:
        return Goto(screen.id, {**data, "offset": offset + screen.page_size}), None
    number = read_count(answer, max_length=CHOICE_MAX_DIGITS)
    if number is None or not offset < number <= offset + len(rows):
        raise InvalidInput("ussd.err.choice")
    return screen.pick(rows[number - offset - 1], data, ctx), None


def _choice(answer: str, count: int) -> int:
    number = read_count(answer, max_length=CHOICE_MAX_DIGITS)
    if number is not None and 1 <= number <= count:
        return number - 1
    raise InvalidInput("ussd.err.choice")


_HANDLE = {Menu: _handle_menu, Input: _handle_input, Confirm: _handle_confirm, PagedList: _handle_list}


# ---- results -----------------------------------------------------------------------------

def _follow(state: dict, result, action: str | None, ctx: Context) -> Outcome:
    actions = (action,) if action else ()
    if isinstance(result, Finish):
        ended = {**state, "ended": True}
        text = ctx.text(result.key, **result.params)
        if not result.private:
            ended, text = _privacy(ended, ctx, text, below=True)
        return Outcome(ended, _reply(text, True, ctx), actions,
                       private=f"{result.key}.replay" if result.private else None)
    shown = _show(_advance(state, result), ctx, notice=result.notice)
    return replace(shown, actions=actions)


def _show(state: dict, ctx: Context, notice: str | None = None) -> Outcome:
    ctx = replace(ctx, language=state["lang"])
    try:
        reply = show(SCREENS[state["screen"]], state["data"], ctx)
    except EscrowError as exc:
        found = explain(exc, ctx)
        return Outcome({**state, "ended": True}, _reply(ctx.text(found.key, **found.params), True, ctx))
    if state.get("privacy") and not ctx.reprompt and notice in (None, "ussd.language.saved") \
            and state["screen"] != "language" \
            and (notice or state["screen"] != HOME_SCREEN):
        state, text = _privacy(state, ctx, reply.text, below=reply.end)   # in place of "Language saved": Home shows it
        if not state["privacy"]:
            return Outcome({**state, "ended": reply.end}, _reply(text, reply.end, ctx))
    text = compose(ctx.text(notice), reply.text, ctx) if notice else reply.text
    return Outcome({**state, "ended": reply.end}, _reply(text, reply.end, ctx))


def _privacy(state: dict, ctx: Context, text: str, *, below: bool) -> tuple[dict, str]:
    """A first-time caller's line on what Zemi keeps and how to have it erased, in the session's
    language, above the first screen after Home (or below an END) it fits on; then never again.
    Not on Home itself (the language offer is there) nor on the language screen (the language may change)."""
    if not state.get("privacy"):
        return state, text
    line = ctx.text("ussd.privacy", shortcode=ctx.sms_shortcode) if ctx.sms_shortcode else ctx.text("ussd.privacy.reply")
    joined = f"{text}\n{line}" if below else f"{line}\n{text}"
    if len(joined) > budget(ctx):
        return state, text
    return {**state, "privacy": False}, joined


def _refuse(state: dict, screen, exc: Exception, ctx: Context) -> Outcome:
    """A refused answer: re-prompt on the same screen, or end after a failed action."""
    found = explain(exc, ctx)
    message = ctx.text(found.key, **found.params)
    prompting = isinstance(exc, InvalidInput) or isinstance(screen, Input)
    if found.ends or not prompting:
        return Outcome({**state, "ended": True}, _reply(message, True, ctx))
    again = _show(state, replace(ctx, reprompt=True))
    if again.reply.end:
        return again
    return Outcome(again.state, _reply(compose(message, again.reply.text, ctx), False, ctx))


def _reply(text: str, end: bool, ctx: Context) -> Reply:
    return Reply(text[: budget(ctx)], end)

"""Showing a screen: each kind's text, with its options and the navigation hint, in budget."""
from dataclasses import dataclass

from ussd.gsm7 import clip
from ussd.screens import Confirm, Context, Data, Input, Menu, Option, PagedList, Screen

PREFIX_CHARS = 4   # "CON " / "END "


@dataclass(frozen=True)
class Reply:
    """What the caller sees; `end` closes the session."""
    text: str
    end: bool

    @property
    def body(self) -> str:
        return ("END " if self.end else "CON ") + self.text


def budget(ctx: Context) -> int:
    return ctx.screen_limit - PREFIX_CHARS


def compose(notice: str, text: str, ctx: Context) -> str:
    """A notice (an error, "Language saved") above a screen, or the screen alone if both do
    not fit: a repeated screen still says "try again", a cut one would lose its options."""
    joined = f"{notice}\n{text}"
    return joined if len(joined) <= budget(ctx) else text


def show(screen: Screen, data: Data, ctx: Context) -> Reply:
    """The screen's reply for `data` (a paged list with nothing in it ends the session)."""
    return _SHOW[type(screen)](screen, data, ctx)


def menu_options(screen: Menu, data: Data, ctx: Context, params: Data | None = None) -> list[Option]:
    if screen.options is None:
        return list(screen.choices)
    return screen.options(data, ctx, params if params is not None else screen.params(data, ctx))


def _show_menu(screen: Menu, data: Data, ctx: Context) -> Reply:
    params = screen.params(data, ctx)
    options = menu_options(screen, data, ctx, params)
    lines = [ctx.text(screen.text, **params)]
    lines += [f"{number} {ctx.text(option.label)}" for number, option in enumerate(options, 1)]
    if screen.nav_hint:
        lines.append(ctx.text("ussd.nav"))
    return Reply("\n".join(lines), end=False)


def _show_input(screen: Input, data: Data, ctx: Context) -> Reply:
    return Reply(ctx.text(screen.text, **screen.params(data, ctx)) + "\n" + ctx.text("ussd.nav"), end=False)


def _show_confirm(screen: Confirm, data: Data, ctx: Context) -> Reply:
    key = screen.text(data) if callable(screen.text) else screen.text
    return Reply(ctx.text(key, **screen.params(data, ctx)), end=False)


def page_of(screen: PagedList, data: Data, ctx: Context) -> tuple[list, bool]:
    """This page's rows and whether another page follows."""
    rows = screen.load(data, ctx, data.get("offset", 0), screen.page_size + 1)
    return rows[: screen.page_size], len(rows) > screen.page_size


def _show_list(screen: PagedList, data: Data, ctx: Context) -> Reply:
    rows, more = page_of(screen, data, ctx)
    if not rows:
        return Reply(ctx.text(screen.empty), end=True)
    footer = ctx.text("ussd.nav.more" if more else "ussd.nav")
    room = budget(ctx) - len(footer) - len(rows)   # one newline per row
    lines = []
    for number, row in enumerate(rows, data.get("offset", 0) + 1):
        lines.append(_row(screen, number, row, room // (len(rows) - len(lines)), ctx))
        room -= len(lines[-1])
    return Reply("\n".join(lines + [footer]), end=False)


def _row(screen: PagedList, number: int, row, width: int, ctx: Context) -> str:
    """One row, its squeezable field (the item) trimmed so that the row fits `width`."""
    params = {**screen.row_params(row, ctx), "n": number}
    fixed = len(ctx.text(screen.row, **{**params, screen.squeeze: ""}))
    params[screen.squeeze] = clip(str(params[screen.squeeze]), width - fixed)
    return " ".join(ctx.text(screen.row, **params).split())


_SHOW = {Menu: _show_menu, Input: _show_input, Confirm: _show_confirm, PagedList: _show_list}

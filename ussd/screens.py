"""Screen kinds, declared as data, and the results a screen's hooks hand back to the engine.

A screen names its catalog text and its hooks; the engine (`ussd.engine`) knows how to show
each kind and how to handle the caller's answer to it. The screens themselves are listed in
`ussd.flows`.
"""
from dataclasses import dataclass, field
from typing import Any, Callable

from escrow.catalog import render

Data = dict[str, Any]
NO_PARAMS: Callable = lambda data, ctx: {}  # noqa: E731


@dataclass
class Context:
    """What a hop knows besides the session state: the caller, the language, the core."""
    service: Any
    caller: str
    language: str = "en"
    screen_limit: int = 160
    support_phone: str = ""
    network: str = ""           # AT's networkCode for this hop (63902 Safaricom)
    sms_shortcode: str = ""     # where ERASE/FUTA and HELP/MSAADA are texted (the privacy line)
    reprompt: bool = False      # the screen is shown again under a refusal: room goes to the reason

    def text(self, key: str, **params) -> str:
        return render(self.language, key, **params)


# ---- what hooks return -------------------------------------------------------------------

@dataclass(frozen=True)
class Goto:
    """Show `screen` next with `data`. `reset` empties the Back history (Home, language);
    `history` replaces it (resume); `language` switches the session's language; `notice`
    is a catalog key shown above the next screen."""
    screen: str
    data: Data = field(default_factory=dict)
    reset: bool = False
    history: list | None = None
    language: str | None = None
    notice: str | None = None


@dataclass(frozen=True)
class Finish:
    """End the session with the catalog message `key`. A `private` message (a delivery code shown on
    the screen) is never kept: a replay of its hop gets the catalog's `<key>.replay` instead."""
    key: str
    params: Data = field(default_factory=dict)
    private: bool = False


# ---- screen kinds ------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One numbered line of a menu: its label and where it leads (a screen id or a hook)."""
    label: str
    goto: str | None = None
    do: Callable[[Data, Context], Goto | Finish] | None = None
    label_params: Data = field(default_factory=dict)


@dataclass(frozen=True)
class Menu:
    """Numbered options; `options` hook builds them from the data when they vary."""
    id: str
    text: str
    choices: tuple[Option, ...] = ()
    options: Callable[[Data, Context], list[Option]] | None = None
    params: Callable[[Data, Context], Data] = NO_PARAMS
    nav_hint: bool = True       # show "0 Back 00 Home" under the options
    task: str | None = None
    resumable: bool = True


@dataclass(frozen=True)
class Input:
    """A free answer; `accept` turns it into data (or raises InvalidInput / EscrowError). `next` may
    be a hook choosing the next screen from the data (a number to question first)."""
    id: str
    text: str
    accept: Callable[[str, Data, Context], Data]
    next: str | Callable[[Data], str]
    params: Callable[[Data, Context], Data] = NO_PARAMS
    task: str | None = None
    resumable: bool = True


@dataclass(frozen=True)
class Confirm:
    """A summary whose template carries its own options: 1 does `yes`, 2 does `no`. `text` may be
    a hook choosing the template from the data (a question put differently to buyer and seller)."""
    id: str
    text: str | Callable[[Data], str]
    yes: Callable[[Data, Context], Goto | Finish]
    no: Callable[[Data, Context], Goto | Finish]
    params: Callable[[Data, Context], Data] = NO_PARAMS
    task: str | None = None
    resumable: bool = True


@dataclass(frozen=True)
class PagedList:
    """Rows loaded a page at a time; `98` shows the next page, a row number picks a row (numbers
    continue across pages: page 2 starts at 6). `typed` may open something named by the answer
    itself (an order number) before it is read as a row number."""
    id: str
    row: str
    load: Callable[[Data, Context, int, int], list]
    row_params: Callable[[Any, Context], Data]
    pick: Callable[[Any, Data, Context], Goto | Finish]
    empty: str
    squeeze: str = "item"       # the row field trimmed so that a full page fits the screen
    page_size: int = 5
    task: str | None = None
    resumable: bool = True
    typed: Callable[[str, Data, Context], Goto | None] | None = None


Screen = Menu | Input | Confirm | PagedList

MORE = "98"
BACK = "0"
HOME = "00"

"""What a handset and Africa's Talking make of a USSD hop: the dialled string, the screen's size, its time.

Pure functions (no I/O). Limits from shared/reference/protocols.md: Safaricom shows at most 160
characters of a menu; AT's gateway waits 10 s for an answer (aim for well under 5 s); text outside
GSM-7 makes the handset fall back to UCS-2 (about 80 characters) or shows it garbled."""
from dataclasses import dataclass

SCREEN_LIMIT = 160          # characters, Safaricom Kenya
AT_DEADLINE_SECONDS = 10.0  # AT's gateway gives up on the hop
AIM_SECONDS = 5.0           # what the app should stay well under
# GSM 03.38 default alphabet, and its extension table (each of those takes two septets).
GSM7_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
              "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = "^{}\\[~]|€\f"


class PhoneSimError(Exception):
    """The root of the phone simulator's errors: a dialled string or a form the page sent is unusable."""


@dataclass(frozen=True)
class Dialled:
    service_code: str   # what AT sends as serviceCode, e.g. *384*1234#
    text: str           # the first hop's text: the digits dialled after the service code, '*'-joined


def parse_dialled(dialled: str, service_code: str) -> Dialled:
    """'*384*1234#' -> ('*384*1234#', ''); the dial-through '*384*1234*4#' -> ('*384*1234#', '4'),
    as Africa's Talking passes a shortcut: the extra digits arrive as the first hop's text."""
    typed = "".join(str(dialled or "").split())
    base = service_code.rstrip("#")
    if typed == service_code:
        return Dialled(service_code, "")
    if typed.startswith(base + "*") and typed.endswith("#") and len(typed) > len(base) + 2:
        return Dialled(service_code, typed[len(base) + 1:-1])
    raise PhoneSimError(f"Connection problem or invalid MMI code: this service answers {service_code}")


def not_gsm7(text: str) -> list[str]:
    """The characters of `text` outside the GSM-7 alphabet (each once, in order)."""
    found: list[str] = []
    for char in text:
        if char not in GSM7_BASIC and char not in GSM7_EXTENSION and char not in found:
            found.append(char)
    return found


def assess(body: str, seconds: float) -> dict:
    """The page's notes on one answer: CON/END, the screen, its length, odd characters, the hop's time."""
    kind, _, screen = body.partition(" ") if body[:4] in ("CON ", "END ") else ("", "", body)
    odd = not_gsm7(screen)
    return {"kind": kind or "?", "screen": screen, "length": len(screen), "limit": SCREEN_LIMIT,
            "too_long": len(screen) > SCREEN_LIMIT, "not_gsm7": odd, "malformed": not kind,
            "ms": round(seconds * 1000), "deadline_ms": int(AT_DEADLINE_SECONDS * 1000),
            "aim_ms": int(AIM_SECONDS * 1000),
            "timing": "late" if seconds >= AT_DEADLINE_SECONDS else "slow" if seconds >= AIM_SECONDS else "ok"}

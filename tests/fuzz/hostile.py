"""Seeded generators of hostile input: USSD hops and provider callback bodies.

Everything is drawn from one `random.Random`, so a failing input is reproduced by its seed and
index (the tests print both)."""
import json
import random

# The same ten digits in other scripts: Arabic-Indic, Extended (Persian), Devanagari, Bengali,
# fullwidth, mathematical bold, Thai, Myanmar, NKo. `\d` and int() accept all of them.
OTHER_DIGITS = ("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "০১২৩৪৫৬৭৮৯", "０１２３４５６７８９",
                "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗", "๐๑๒๓๔๕๖๗๘๙", "၀၁၂၃၄၅၆၇၈၉", "߀߁߂߃߄߅߆߇߈߉")
NUMBERS = ("1e1000000", "1E+1000000", "-1e1000000", "1e-1000000", "0e1000000", "NaN", "Infinity",
           "-Infinity", "sNaN", "1_500", "1,500", "1.500,00", " 1500 ", "+1500", "-1500", "0", "00000000001500",
           "1500.0", "1500.5", "0x5dc", "1500\x00", "9" * 400, "2" * 19, str(2**63), str(2**64), "1.5e3", ".5",
           "١٥٠٠", "１５００", "1٥00", "¹⁵⁰⁰", "Ⅻ", "½", "1500" + "\u200b", "\u0661\u0665\u0660\u0660")
WEIRD = ("\x00", "\x00" * 64, "\r\n", "\t", "\u202e", "\u200b", "\ufeff", "😀" * 30, "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ǅ", "ß" * 50,
         "%s%n%x", "{ref}", "{0}", "${jndi:ldap://x}", "<script>", "' OR 1=1 --", "..//..//", "\\", "#", "*#",
         "ＣＯＮ", "END", "CON ", "\u0301" * 100, "ﷺ", "𒐫", "A" * 500)
PHONES_OK = ("0711000001", "0722000111", "+254733000222", "254144000333", "0110000444")


def translate_digits(text: str, script: str) -> str:
    return text.translate(str.maketrans("0123456789", script))


def random_unicode(rng: random.Random, n: int) -> str:
    pools = (range(0x20, 0x7f), range(0xa0, 0x2000), range(0x2000, 0x3000), range(0x4e00, 0x4f00),
             range(0x1f300, 0x1f700), range(0x600, 0x700), range(0xff00, 0xff70), range(0, 0x20))
    return "".join(chr(rng.choice(rng.choice(pools))) for _ in range(n))


# --- USSD --------------------------------------------------------------------------------------------
def plausible_path(rng: random.Random) -> list[str]:
    """The first parts of a real journey, to get the hostile part deep into the menus."""
    return rng.choice((
        ["1", rng.choice(PHONES_OK), str(rng.choice((50, 1500, 250_000))), "Radio", "1"],
        ["2", rng.choice(PHONES_OK), "2500", "Shoes", "1"],
        ["3", "1", "1", "1"], ["4", f"{rng.randrange(10**6):06d}", "1"], ["5", "2"], ["6"], ["0", "00", "98"],
    ))


def hostile_part(rng: random.Random) -> str:
    kind = rng.randrange(9)
    if kind == 0:
        return rng.choice(NUMBERS)
    if kind == 1:
        return translate_digits(rng.choice(("0722000111", "1500", "480913", "1", "2", "4")), rng.choice(OTHER_DIGITS))
    if kind == 2:
        return rng.choice(WEIRD)
    if kind == 3:
        return random_unicode(rng, rng.randint(1, 60))
    if kind == 4:
        return "".join(rng.choice("0123456789*#") for _ in range(rng.randint(1, 80)))
    if kind == 5:
        return rng.choice(("0", "00", "98", "99", "#", "*", ""))
    if kind == 6:
        return str(rng.randint(-10**30, 10**30))
    if kind == 7:
        return rng.choice(PHONES_OK)
    return rng.choice(("1", "2", "3", "4", "5", "6", "7", "9", "11"))


def hostile_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.04:
        return "*" * rng.choice((1, 2, 50, 1000, 5000))                       # star storms
    if roll < 0.06:
        return "*".join(["1"] * rng.choice((100, 1000, 3000)))
    if roll < 0.075:
        return random_unicode(rng, rng.choice((5000, 50_000)))                # huge text
    if roll < 0.085:
        return "1*" + "9" * rng.choice((4300, 20_000))                        # int() of a huge number
    path = plausible_path(rng)
    cut = rng.randint(0, len(path))
    parts = path[:cut] + [hostile_part(rng) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    if rng.random() < 0.3:
        parts += path[cut:]
    return "*".join(parts)


def hostile_phone(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.85:
        return "+254711" + f"{rng.randrange(10**6):06d}"
    if roll < 0.9:
        return translate_digits("+254711000999", rng.choice(OTHER_DIGITS))
    if roll < 0.95:
        return rng.choice(("", " ", "+", "0", "+2547", "+25471100099999999", "null", "\x00", "+254711000999\x00",
                           "٠٧١١٠٠٠٩٩٩", "+254 711 000 999", "tel:+254711000999", "A" * 300))
    return None


def hostile_form(rng: random.Random, session_id: str, phone: str | None, text: str | None) -> dict:
    form = {"sessionId": session_id, "serviceCode": "*384*1234#", "phoneNumber": phone, "networkCode": "63902",
            "text": text}
    for name in list(form):
        if rng.random() < 0.03:
            del form[name]                                                     # missing fields
    return {k: v for k, v in form.items() if v is not None}


# --- callbacks --------------------------------------------------------------------------------------------
def deep(n: int, kind: str = "list") -> bytes:
    if kind == "list":
        return b"[" * n + b"]" * n
    return b'{"a":' * n + b"1" + b"}" * n


HUGE_AMOUNTS = (2**63, 2**63 - 1, 2**64, -2**63, 10**30, 1e308, -1e308, float("1e300"), 0.5, -1, 0, "1e1000000",
                "1E+1000000", "１００", "١٠٠", "1,000", "NaN", "Infinity", None, [], {}, True, "",
                " 100 ", "100.00", "100.001", "0x64")
LONG_STRINGS = ("R" * 33, "R" * 100, "0" * 17, "9" * 1000, "\x00", "a\x00b", "\u0000" * 10, "😀" * 40, "١٢٣")


def mutate(rng: random.Random, value, depth: int = 0):
    """Replace, drop or retype one part of a JSON value, somewhere inside it."""
    if isinstance(value, dict) and value and depth < 6 and rng.random() < 0.8:
        key = rng.choice(list(value))
        copy = dict(value)
        roll = rng.random()
        if roll < 0.15:
            del copy[key]
        elif roll < 0.25:
            copy[rng.choice(LONG_STRINGS)] = copy[key]
        else:
            copy[key] = mutate(rng, value[key], depth + 1)
        return copy
    if isinstance(value, list) and value and depth < 6 and rng.random() < 0.8:
        copy = list(value)
        index = rng.randrange(len(copy))
        if rng.random() < 0.15:
            del copy[index]
        else:
            copy[index] = mutate(rng, copy[index], depth + 1)
        return copy
    return rng.choice((rng.choice(HUGE_AMOUNTS), rng.choice(LONG_STRINGS), None, [], {}, [value], {"Value": value},
                       str(value), random_unicode(rng, 20)))


def dump(value) -> bytes:
    try:
        return json.dumps(value).encode()
    except (ValueError, TypeError):
        return json.dumps(str(value)).encode()


def raw_body(rng: random.Random) -> bytes:
    """Bodies that are not JSON at all, or JSON that breaks parsers."""
    return rng.choice((
        lambda: bytes(rng.randrange(256) for _ in range(rng.randint(0, 2000))),
        lambda: b"\x00",
        lambda: b"\x00" * rng.randint(1, 500),
        lambda: b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1\x00"}}}',
        lambda: b'{"Result": "\xff\xfe\xfd"}',
        lambda: "\ufeff{}".encode(),
        lambda: deep(rng.choice((100, 1000, 50_000)), rng.choice(("list", "dict"))),
        lambda: b'{"a": ' + b"9" * rng.choice((400, 5000, 50_000)) + b"}",
        lambda: b'{"TransAmount": 1e1000000}',
        lambda: b'{"TransAmount": 1' + b"0" * 400 + b'}',
        lambda: b"",
        lambda: b"null", lambda: b"[]", lambda: b"true", lambda: b"0", lambda: b'"x"',
        lambda: b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws", "ResultCode": 0, "CallbackMetadata": '
                b'{"Item": [{"Name": "Amount", "Value": NaN}]}}}}',
        lambda: b'{"Body":' * 10,
        lambda: random_unicode(rng, rng.randint(1, 500)).encode("utf-8", "surrogatepass"),
        lambda: b"sessionId=1&text=" + b"%00" * 20,
    ))()

"""What a callback may hold, read with bounds before anything trusts it (issue 11 findings 5, 6, 10, 11)."""
import pytest

from mpesa.callback_values import MAX_AMOUNT, MAX_JSON_DEPTH, amount, read_json
from mpesa.errors import MalformedCallback


@pytest.mark.parametrize("given, whole", [(1500, 1500), (1500.0, 1500), ("1500", 1500), ("1500.00", 1500),
                                          (" 10.0 ", 10), (MAX_AMOUNT, MAX_AMOUNT), (None, None), ("", None)])
def test_daraja_amounts_read_as_whole_shillings(given, whole):
    assert amount(given) == whole


@pytest.mark.parametrize("given", ["1,000", "１００", "١٠٠", 1e308, 2 ** 63, 2 ** 63 - 1, "1e5", "1e1000000", "NaN",
                                   "Infinity", True, -5, 0, "10.5", "1500.", "0x10", MAX_AMOUNT + 1, [], {}, "9" * 30])
def test_anything_else_is_malformed(given):
    with pytest.raises(MalformedCallback):
        amount(given)


def test_json_deeper_than_the_bound_is_refused_before_the_parser_recurses():
    assert read_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    with pytest.raises(MalformedCallback, match="deep"):
        read_json("[" * 30_000 + "]" * 30_000)
    assert read_json('{"a": "[[[[[[[[[[[[[[[[[[[[[[[["}') == {"a": "[" * 24}   # brackets inside strings don't count


@pytest.mark.parametrize("raw", ['{"a": NaN}', '{"a": Infinity}', '{"a": "x\\u0000y"}', '{"\\u0000": 1}', "{",
                                 "x" * (70 * 1024), "[" + "1" * 5000 + "]"])
def test_json_that_cannot_be_stored_or_trusted_is_malformed(raw):
    with pytest.raises(MalformedCallback):
        read_json(raw)

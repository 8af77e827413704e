"""Issue 11 finding 13: the item a person confirms on the summary screen is exactly the item the
core stores (and so what every SMS and screen shows later): one GSM-7 module, one sanitiser."""
import itertools

import pytest
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st
from sqlalchemy import select

from escrow.context import Core
from escrow.models import Order
from escrow.service import EscrowService
from escrow.settings import EscrowSettings
from escrow.vault import Vault
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from ussd.engine import start, step
from ussd.screens import Context

_buyers = itertools.count(100_000)


def service_with(database, item_max_chars: int) -> EscrowService:
    core_settings = EscrowSettings(stk_delay_seconds=0, item_max_chars=item_max_chars, orders_per_hour=10 ** 6,
                                   stk_pushes_per_hour=10 ** 6, daily_total_per_buyer=10 ** 12)
    core = Core(settings=core_settings, vault=Vault(TEST_SECRET_KEY, TEST_DATA_KEY), paybill="174379",
                support_phone="0700000000")
    return EscrowService(database, core)


def summary_item_then_confirm(service: EscrowService, typed: str) -> tuple[str | None, str | None]:
    """Pay a seller with `typed` as the item: (item on the summary, item stored), or Nones if refused."""
    buyer = f"+254711{next(_buyers):06d}"
    ctx = Context(service, buyer, "en")
    state = start(ctx).state
    for answer in ("1", "0722000222", "1500"):
        state = step(state, answer, ctx).state
    summary = step(state, typed, ctx)
    lines = [line for line in summary.reply.text.splitlines() if line.startswith("Item: ")]
    if not lines:
        return None, None          # refused (no letter or digit left): nothing shown, nothing stored
    done = step(summary.state, "1", ctx)
    assert done.reply.end
    with service.db.transaction() as session:
        stored = session.scalars(select(Order.item).where(Order.buyer_key == service.core.vault.phone_key(buyer))).one()
    return lines[0][len("Item: "):], stored


@pytest.mark.parametrize("item_max_chars", [20, 12])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))
@example(typed="((7*7))")
@example(typed="Caf\u00e9 [box] ~50 \u201cnew\u201d")
@example(typed="Radio 123456789012345678")
def test_the_item_on_the_summary_is_the_item_stored(database, item_max_chars, typed):
    shown, stored = summary_item_then_confirm(service_with(database, item_max_chars), typed)
    assume(shown is not None)
    assert shown == stored
    assert len(stored) <= item_max_chars

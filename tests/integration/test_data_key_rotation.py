"""Issue 11 finding 14: the data key can be changed. DATA_KEY takes several keys, newest first;
`flask keys reseal` re-seals every sealed column under the newest, batch by batch, and a rerun
changes nothing. Data sealed under A, service on "B,A", reseal, then "B" alone opens everything."""
import pytest
from sqlalchemy import select, update

from escrow.context import Core
from escrow.errors import ConfigError
from escrow.inbox import store_callback
from escrow.models import Base, Order, Payout
from escrow.payouts import queue_transfer
from escrow.rekey import reseal_everything, sealed_columns
from escrow.service import EscrowService
from escrow.settings import EscrowSettings
from escrow.vault import Vault, new_data_key
from tests.conftest import TEST_SECRET_KEY

KEY_A, KEY_B = new_data_key(), new_data_key()


def service_on(database, data_key: str) -> EscrowService:
    core = Core(settings=EscrowSettings(stk_delay_seconds=0, orders_per_hour=1000), vault=Vault(TEST_SECRET_KEY, data_key),
                paybill="174379", support_phone="0700000000")
    return EscrowService(database, core)


def seed_under_a(database) -> None:
    """Orders (buyer, seller), their SMS (recipient, body), a payout (recipient), a callback (body)."""
    service = service_on(database, KEY_A)
    for n in range(7):
        service.request_payment(seller=f"07220002{n:02d}", buyer=f"07110001{n:02d}", price=500 + n, item=f"Radio {n}")
    store_callback(database, service.core.vault, source="stk", body=b'{"PhoneNumber": 254711000111}',
                   remote_addr="127.0.0.1")
    with database.transaction() as session:
        order = session.scalars(select(Order).order_by(Order.id)).first()
        queue_transfer(session, service.core, order, purpose="payout", amount=490, phone="0722000200")


def every_sealed_value(database) -> list[tuple[str, str]]:
    values = []
    with database.transaction() as session:
        for column in sealed_columns():
            for (value,) in session.execute(select(column).where(column.is_not(None))):
                values.append((f"{column.table.name}.{column.name}", value))
    return values


def test_a_list_of_keys_seals_with_the_newest_and_opens_with_any():
    old = Vault(TEST_SECRET_KEY, KEY_A).seal("254711000111")
    both = Vault(TEST_SECRET_KEY, f"{KEY_B}, {KEY_A}")
    assert both.unseal(old) == "254711000111"
    assert Vault(TEST_SECRET_KEY, KEY_B).unseal(both.seal("254722000222")) == "254722000222"
    with pytest.raises(ConfigError, match="DATA_KEY"):
        Vault(TEST_SECRET_KEY, KEY_B).unseal(old)
    with pytest.raises(ConfigError, match="DATA_KEY"):
        Vault(TEST_SECRET_KEY, f"{KEY_B},not-a-key")


def test_every_sealed_column_is_covered_by_the_reseal():
    names = {f"{column.table.name}.{column.name}" for column in sealed_columns()}
    assert {"orders.buyer_sealed", "orders.seller_sealed", "payouts.recipient_sealed", "sms_messages.body_sealed",
            "sms_messages.recipient_sealed", "inbound_callbacks.body_sealed"} <= names
    every = {f"{table.name}.{column.name}" for table in Base.metadata.sorted_tables for column in table.columns
             if column.name.endswith("_sealed")}
    assert names == every


def test_reseal_moves_everything_to_the_newest_key_then_the_old_key_can_go(database):
    seed_under_a(database)
    before = every_sealed_value(database)
    seen = {name for name, _ in before}
    assert {"orders.buyer_sealed", "payouts.recipient_sealed", "sms_messages.body_sealed",
            "inbound_callbacks.body_sealed"} <= seen
    rotating = service_on(database, f"{KEY_B},{KEY_A}").core.vault
    report = reseal_everything(database, rotating.reseal, batch=3)
    assert report.total("resealed") == len(before) and report.total("unreadable") == 0
    only_b = Vault(TEST_SECRET_KEY, KEY_B)
    opened = {name: only_b.unseal(value) for name, value in every_sealed_value(database)}
    assert len(opened) == len(seen)
    assert sorted(only_b.unseal(v) for _, v in every_sealed_value(database)) == \
        sorted(Vault(TEST_SECRET_KEY, KEY_A).unseal(v) for _, v in before)
    again = reseal_everything(database, rotating.reseal, batch=3)     # resumable: a rerun is harmless
    assert again.total("resealed") == 0 and again.total("current") == len(before)


def test_a_value_written_meanwhile_is_not_overwritten(database):
    seed_under_a(database)
    rotating = service_on(database, f"{KEY_B},{KEY_A}").core.vault
    fresh = rotating.seal("254733000333")

    def reseal_while_the_service_writes(token: str):
        with database.transaction() as session:      # the running service changes a payout's number
            session.execute(update(Payout).values(recipient_sealed=fresh))
        return rotating.reseal(token)

    report = reseal_everything(database, reseal_while_the_service_writes, batch=50, columns=[Payout.recipient_sealed])
    assert report.total("changed meanwhile") == 1
    with database.transaction() as session:
        assert session.scalar(select(Payout.recipient_sealed)) == fresh


def test_flask_keys_reseal_is_a_thin_wrapper(database, database_url, tmp_path, redis_url):
    seed_under_a(database)
    from app import create_app
    app = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                      "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": f"{KEY_B},{KEY_A}", "CALLBACK_TOKEN": "k3ys-t0ken"})
    result = app.test_cli_runner().invoke(args=["keys", "reseal", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "resealed" in result.output
    only_b = Vault(TEST_SECRET_KEY, KEY_B)
    assert all(only_b.unseal(value) for _, value in every_sealed_value(database))

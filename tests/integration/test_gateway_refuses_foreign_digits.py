"""Issue 11 finding 9, last line: the Daraja client builds no request naming a customer whose
number is not a Kenyan MSISDN in ASCII digits, so nothing is sent to such a number."""
import pytest

from mpesa.daraja import DarajaClient, DarajaConfig
from mpesa.fields import customer_msisdn
from mpesa.simulator import SimulatorServer
from mpesa.token_store import RedisTokenStore

ARABIC_INDIC = "2547\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"   # 2547١٢٣٤٥٦٧٨
FULLWIDTH = "\uff10\uff17\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"
STK = "/mpesa/stkpush/v1/processrequest"
B2C = "/mpesa/b2c/v3/paymentrequest"
CALLBACK = "https://example.org/hooks/stk/t0k3n"


@pytest.fixture
def client(redis_client):
    with SimulatorServer({"callback_delay": 30}) as sim:
        config = DarajaConfig(base_url=sim.base_url, consumer_key="sim-key", consumer_secret="sim-secret",
                              shortcode="174379", passkey="bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
                              b2c_shortcode="600992", initiator_name="testapi", security_credential="c2VjcmV0",
                              connect_timeout=1.0, read_timeout=5.0)
        yield DarajaClient(config, RedisTokenStore(redis_client)), sim


@pytest.mark.parametrize("number", [ARABIC_INDIC, FULLWIDTH, "25471234567\u0668", "0812345678"])
def test_the_customer_number_check_accepts_only_ascii_kenyan_mobiles(number):
    with pytest.raises(ValueError):
        customer_msisdn(number)
    assert customer_msisdn("0712345678") == "254712345678"


@pytest.mark.parametrize("number", [ARABIC_INDIC, FULLWIDTH])
def test_no_stk_push_is_sent_to_a_number_in_other_digits(client, number):
    daraja, sim = client
    with pytest.raises(Exception):
        daraja.stk_push(phone=number, amount=100, account_reference="40000001", description="Escrow",
                        callback_url=CALLBACK)
    assert sim.requests_received(STK) == []


@pytest.mark.parametrize("number", [ARABIC_INDIC, FULLWIDTH])
def test_no_b2c_is_sent_to_a_number_in_other_digits(client, number):
    daraja, sim = client
    with pytest.raises(Exception):
        daraja.b2c_payment(originator_conversation_id="Z40000001R1", phone=number, amount=100,
                           remarks="Escrow release", occasion="", result_url=CALLBACK, timeout_url=CALLBACK)
    assert sim.requests_received(B2C) == []
    daraja.b2c_payment(originator_conversation_id="Z40000001R2", phone="0712345678", amount=100,
                       remarks="Escrow release", occasion="", result_url=CALLBACK, timeout_url=CALLBACK)
    assert [r["json"]["PartyB"] for r in sim.requests_received(B2C)] == ["254712345678"]

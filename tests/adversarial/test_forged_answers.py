"""Every answer to a question we sent must be one only we could have asked for. Transfers, paybill
checks and reversals answer at URLs tagged with SECRET_KEY (holding the callback token is not enough);
Account Balance answers did not, yet they decide whether payouts refused for float wait or retry and
whether an operator hears of a float too low to pay what is owed: a well-formed one forged with the
callback token alone was recorded."""
from sqlalchemy import select

from escrow.models import AccountBalance, InboundCallback
from tests.integration.test_callback_intake import TOKEN, app, client  # noqa: F401 -- fixtures reused here


def test_a_well_formed_balance_answer_forged_with_the_callback_token_alone_records_nothing(app, client):  # noqa: F811
    forged = {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok", "ConversationID": "AG_forged",
                         "ResultParameters": {"ResultParameter": [
                             {"Key": "AccountBalance", "Value": "Utility Account|KES|99999999.00|99999999.00|0.00|0.00"},
                             {"Key": "BOCompletedTime", "Value": 20261202101010}]}}}
    assert client.post(f"/hooks/balance/result/{TOKEN}/s600000", json=forged).status_code == 200
    with app.extensions["zemi"].db.transaction() as session:
        assert session.scalars(select(AccountBalance)).all() == []
        assert session.scalar(select(InboundCallback.status).where(InboundCallback.source == "balance")) == "rejected"

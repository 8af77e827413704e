"""Every answer to a question we sent must be one only we could have asked for. Transfers, paybill
checks and reversals answer at URLs tagged with SECRET_KEY (holding the callback token is not enough);
Account Balance answers do not, yet they decide whether payouts refused for float wait or retry and
whether an operator hears of a float too low to pay what is owed."""
import pytest
from sqlalchemy import select

from escrow.models import AccountBalance
from tests.integration.test_callback_intake import TOKEN, app, client  # noqa: F401 -- fixtures reused here


@pytest.mark.xfail(strict=True, reason="Account Balance result URLs carry no reply tag: the callback token alone "
                                        "records a balance (see the review report; fix: tag them like reversals)")
def test_a_well_formed_balance_answer_forged_with_the_callback_token_alone_records_nothing(app, client):  # noqa: F811
    forged = {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok", "ConversationID": "AG_forged",
                         "ResultParameters": {"ResultParameter": [
                             {"Key": "AccountBalance", "Value": "Utility Account|KES|99999999.00|99999999.00|0.00|0.00"},
                             {"Key": "BOCompletedTime", "Value": 20261202101010}]}}}
    assert client.post(f"/hooks/balance/result/{TOKEN}/s600000", json=forged).status_code == 200
    with app.extensions["zemi"].db.transaction() as session:
        assert session.scalars(select(AccountBalance)).all() == []

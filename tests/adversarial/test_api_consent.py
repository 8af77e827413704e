"""The API's one-time codes: a number gets at most `per_number_per_hour` of them, however they are
asked for. Each is an SMS we pay for and five more guesses at a phone token that acts as that number."""
from sqlalchemy import func, select

from api.verifications import VerificationSettings, start
from escrow.models import ApiVerification
from tests.adversarial.conftest import needs_postgres, race
from tests.api.conftest import app, new_key  # noqa: F401 -- fixtures reused here


def test_simultaneous_code_requests_for_one_number_stay_within_its_hourly_limit(app, database):  # noqa: F811
    needs_postgres(database)
    zemi = app.extensions["zemi"]
    new_key(app)
    settings = VerificationSettings()
    race([lambda: start(zemi.db, zemi.core, settings, 1, "0712345678") for _ in range(12)])
    with zemi.db.transaction() as session:
        sent = session.scalar(select(func.count()).select_from(ApiVerification))
    assert sent <= settings.per_number_per_hour

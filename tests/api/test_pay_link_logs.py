"""A pay link's token is a bearer secret: access logs show /p/*** instead."""
import logging


def test_a_pay_link_token_never_reaches_the_logs(app, caplog):
    token = "fSs2itoSxfahTUQCl14bSKngBLggAYELKlm4AWi7N1c"
    with caplog.at_level(logging.INFO):
        logging.getLogger("werkzeug").info('127.0.0.1 - - "POST /p/%s?lang=en HTTP/1.1" 303 -', token)
    assert token not in caplog.text and "/p/***?lang=en" in caplog.text

"""The ordinary USSD hop is answered before Flask (ussd/lane.py), exactly as the blueprint answers it; anything
out of the ordinary (a refusal, another route, a body Flask must judge) still goes through Flask, and so does
every hop once the app has a request hook the lane does not stand in for."""
import pytest
from flask import g, request_started

from app import create_app
from bench import ussd as bench
from tests.conftest import TEST_DATA_KEY


@pytest.fixture
def app(database_url, redis_url, redis_client, tmp_path):
    app = create_app(bench.app_settings(database_url, redis_url, str(tmp_path / "instance"), TEST_DATA_KEY))
    yield app
    app.extensions["zemi"].db.dispose()


@pytest.fixture
def through_flask(app):
    """The requests Flask itself handled (its request_started signal), by path."""
    seen = []

    def started(sender, **_extra):
        from flask import request
        seen.append(request.path)

    request_started.connect(started, app)
    yield seen
    request_started.disconnect(started, app)


def form(number: int, text: str = "", **more) -> dict:
    return {"sessionId": f"ATUid_lane{number}", "serviceCode": "*384*1234#", "phoneNumber": f"+2547110005{number:02d}",
            "networkCode": "63902", "text": text, **more}


def test_an_ordinary_hop_is_answered_before_flask_with_the_blueprints_reply(app, through_flask):
    client = app.test_client()
    dialled = client.post("/ussd", data=form(1))
    paying = client.post("/ussd", data=form(1, "1"))
    assert through_flask == []
    assert dialled.status_code == 200 and dialled.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert dialled.headers["at-ussd-hop-metadata"] == "main" and dialled.get_data(as_text=True).startswith("CON ")
    assert paying.headers["at-ussd-hop-metadata"] == "pay.party" and "seller" in paying.get_data(as_text=True)


def answered(app, lane: bool, data, **kwargs):
    """One request through the app with the lane, or straight to Flask (the lane's fallback)."""
    client = app.test_client()
    if not lane:
        wsgi, app.wsgi_app = app.wsgi_app, app.wsgi_app.flask
    try:
        response = client.post(kwargs.pop("path", "/ussd"), data=data, **kwargs)
    finally:
        if not lane:
            app.wsgi_app = wsgi
    return response.status_code, sorted(response.headers.to_wsgi_list()), response.get_data()


@pytest.mark.parametrize("case", ["dial", "typed ahead", "encoded", "repeated fields", "no phone", "no session",
                                  "not utf-8", "multipart", "too long", "events", "other path"])
def test_the_lane_answers_every_request_as_flask_does(app, case):
    """The same request (its own session and number each time) with the lane and without it."""
    def request(number):
        data = {"dial": form(number), "typed ahead": form(number, "4*123456"),
                "encoded": form(number, "1*0722 000+302%21"),
                "repeated fields": [*form(number).items(), ("sessionId", "ATUid_other"), ("phoneNumber", "+254700000000")],
                "no phone": {k: v for k, v in form(number).items() if k != "phoneNumber"},
                "no session": {k: v for k, v in form(number).items() if k != "sessionId"},
                "too long": form(number, "1*" + "9" * 9000)}.get(case, form(number))
        if case == "not utf-8":
            return {"data": b"sessionId=ATUid_lane%d&phoneNumber=%%2B2547110005%02d&text=\xff\xfe" % (number, number),
                    "content_type": "application/x-www-form-urlencoded"}
        if case == "multipart":
            return {"data": data, "content_type": "multipart/form-data"}
        if case == "events":
            return {"data": {**data, "status": "Success"}, "path": "/ussd/events"}
        if case == "other path":
            return {"data": data, "path": "/ussd/nothing-here"}
        if isinstance(data, list):
            from urllib.parse import urlencode
            return {"data": urlencode(data), "content_type": "application/x-www-form-urlencoded"}
        return {"data": data}

    with_lane = answered(app, True, **request(10))
    without = answered(app, False, **request(11))
    assert with_lane == without


def test_refusals_by_path_token_and_address_go_through_flask(database_url, redis_url, redis_client, tmp_path):
    app = create_app({**bench.app_settings(database_url, redis_url, str(tmp_path / "instance"), TEST_DATA_KEY),
                      "USSD_PATH_TOKEN": "s3cret-path", "USSD_ALLOWED_IPS": "10.0.0.0/8"})
    try:
        client = app.test_client()
        inside = {"REMOTE_ADDR": "10.1.2.3"}
        assert client.post("/ussd", data=form(20), environ_base=inside).status_code == 404
        assert client.post("/ussd/wrong", data=form(20), environ_base=inside).status_code == 404
        assert client.post("/ussd/s3cret-path", data=form(20), environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 403
        ok = client.post("/ussd/s3cret-path", data=form(20), environ_base=inside)
        assert ok.status_code == 200 and ok.get_data(as_text=True).startswith("CON ")
    finally:
        app.extensions["zemi"].db.dispose()


def test_a_request_hook_the_lane_does_not_know_sends_every_hop_through_flask(app, through_flask, caplog):
    @app.before_request
    def stamp():
        g.stamped = True

    reply = app.test_client().post("/ussd", data=form(30))
    assert reply.status_code == 200 and through_flask == ["/ussd"]
    assert "the lane does not know the hook(s)" in caplog.text and "stamp" in caplog.text

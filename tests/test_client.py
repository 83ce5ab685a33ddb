"""The HTTP client against the local fake: request shape, retries, and typed errors."""

import dataclasses
import datetime as dt
import email.utils
import json
import time

import pytest

from core.errors import (
    AuthError,
    BadRequestError,
    QuotaError,
    ServiceDownError,
    ServiceTimeout,
    UnreadableResponse,
)
from core.provider.client import GeminiClient
from tests.conftest import API_KEY
from tests.fake_gemini import google_error, html_response, json_response

MODEL = "gemini-3.1-flash-image-preview"
BODY = {
    "contents": [{"role": "user", "parts": [{"text": "a red bicycle"}]}],
    "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "1:1"}},
}


@pytest.fixture
def client(settings, fake):
    return GeminiClient(settings, backoff_factor=0.01)


def test_posts_to_the_route_with_the_key_in_a_header_only(client, fake):
    payload = client.generate(MODEL, BODY)
    assert payload["candidates"][0]["content"]["role"] == "model"
    assert fake.paths == [f"/v1beta/models/{MODEL}:generateContent?"]
    assert fake.headers[0]["X-Goog-Api-Key"] == API_KEY
    assert API_KEY not in fake.paths[0]
    assert fake.requests[0] == BODY


def test_retries_gateway_errors_then_succeeds(client, fake):
    fake.then(html_response(502), google_error(503, "UNAVAILABLE", "overloaded"), html_response(500))
    assert client.generate(MODEL, BODY)["candidates"]
    assert len(fake.requests) == 4


@pytest.mark.parametrize("status", [504, 524])
def test_a_gateway_timeout_is_never_resent_the_model_may_have_billed_it(client, fake, status):
    fake.then(html_response(status))
    with pytest.raises(ServiceTimeout) as raised:
        client.generate(MODEL, BODY)
    assert len(fake.requests) == 1
    assert "may be billed" in raised.value.message and "Retry" in raised.value.message


def test_an_http_date_retry_after_is_honoured_not_a_crash(settings, fake):
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    fake.then(json_response({"error": {"message": "slow down"}}, 429, {"Retry-After": when}))
    with pytest.raises(QuotaError) as raised:
        GeminiClient(dataclasses.replace(settings, max_retries=0)).generate(MODEL, BODY)
    assert "Wait about 29 s" in raised.value.message or "Wait about 30 s" in raised.value.message


def test_429_waits_for_google_retry_delay_in_the_body(client, fake):
    fake.then(
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "quota",
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}],
        )
    )
    start = time.monotonic()
    client.generate(MODEL, BODY)
    assert time.monotonic() - start >= 0.95
    assert len(fake.requests) == 2


def test_429_honours_retry_after_header(client, fake):
    fake.then(json_response({"error": {"message": "slow down"}}, 429, {"Retry-After": "1"}))
    start = time.monotonic()
    client.generate(MODEL, BODY)
    assert time.monotonic() - start >= 0.95 and len(fake.requests) == 2


@pytest.mark.parametrize(
    "response, error, fragment",
    [
        (
            json_response({"error": {"message": "Invalid token", "type": "comet_api_error", "code": ""}}, 401),
            AuthError,
            "Invalid token",
        ),
        (
            google_error(
                400,
                "INVALID_ARGUMENT",
                "Image part is missing a thought_signature in content position 2, part position 1.",
            ),
            BadRequestError,
            "Image part is missing a thought_signature in content position 2, part position 1.",
        ),
        (
            json_response({"error": {"message": "model not found", "type": "invalid_request_error"}}, 404),
            BadRequestError,
            "model not found",
        ),
    ],
)
def test_client_errors_are_typed_and_never_retried(client, fake, response, error, fragment):
    fake.then(response)
    with pytest.raises(error) as caught:
        client.generate(MODEL, BODY)
    assert fragment in caught.value.message
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "status, error",
    [(429, QuotaError), (500, ServiceDownError), (502, ServiceDownError), (503, ServiceDownError)],
)
def test_persistent_failures_give_up_after_the_retries(client, fake, status, error):
    fake.then(*[html_response(status) for _ in range(4)])
    with pytest.raises(error):
        client.generate(MODEL, BODY)
    assert len(fake.requests) == 4  # the first try and three retries


def test_broken_json_and_html_with_200_are_unreadable(client, fake):
    from werkzeug import Response

    fake.then(
        Response("{not json", content_type="application/json"), Response("<html>hi</html>", content_type="text/html")
    )
    for _ in range(2):
        with pytest.raises(UnreadableResponse):
            client.generate(MODEL, BODY)


def test_read_timeout_is_a_timeout_and_not_resent(settings, fake):
    import dataclasses

    def slow(request):
        time.sleep(1.5)
        return json_response({})

    fake.then(slow)
    client = GeminiClient(dataclasses.replace(settings, read_timeout_s=0.5), backoff_factor=0.01)
    with pytest.raises(ServiceTimeout):
        client.generate(MODEL, BODY)
    assert len(fake.requests) == 1


def test_connection_refused_is_service_down(settings):
    import dataclasses

    client = GeminiClient(dataclasses.replace(settings, base_url="http://127.0.0.1:9", max_retries=0))
    with pytest.raises(ServiceDownError, match="Could not reach"):
        client.generate(MODEL, BODY)


def test_body_may_be_pre_encoded_bytes(client, fake):
    client.generate(MODEL, json.dumps(BODY).encode())
    assert fake.requests[0] == BODY

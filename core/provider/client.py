"""HTTP client for `POST {base}/v1beta/models/{model}:generateContent`.

One pooled session; urllib3's Retry does the backoff (429 and gateway errors only), extended
to honour the wait Google puts in the body (`RetryInfo.retryDelay`) when there is no
Retry-After header. Every failure leaves as a typed StudioError.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from core.config import Settings
from core.errors import (
    ConnectionLost,
    ServiceDownError,
    ServiceTimeout,
    StudioError,
    UnreadableResponse,
)
from core.provider import stream
from core.provider.refusals import error_for_status, retry_delay_from_body

log = logging.getLogger(__name__)
# Not 504 or 524: the gateway gave up waiting, but the model may have finished (and billed).
RETRY_STATUSES = (429, 500, 502, 503)
MAX_RETRY_WAIT_S = 60.0
# A base without the streaming route (a proxy's 404) is asked again only after this long.
STREAM_ROUTE_RETRY_S = 600.0


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One HTTP attempt of a call, for the ledger: what came back and whether it may be billed."""

    outcome: str  # "ok", "retried", or the StudioError kind it ended with
    http_status: int | None
    duration_ms: int
    may_be_billed: bool


class _Attempts(threading.local):
    # The call in progress on this thread: Retry objects are copied per attempt, so they cannot
    # carry it themselves.
    log: list[Attempt] | None = None
    started: float = 0.0
    # The whole request (headers and body) went out on this attempt: a failure from here on may
    # come after the model took the request, so it may be billed.
    sent: bool = False


_attempts = _Attempts()


def _note(outcome: str, status: int | None, may_be_billed: bool) -> None:
    if _attempts.log is not None:
        elapsed = int((time.monotonic() - _attempts.started) * 1000)
        _attempts.log.append(
            Attempt(outcome=outcome, http_status=status, duration_ms=elapsed, may_be_billed=may_be_billed)
        )


class GeminiRetry(Retry):
    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # type: ignore[no-untyped-def]
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        # A retry is certain from here: this attempt is over. 429 and 5xx answers are not billed;
        # a connection that failed never delivered the request.
        _note("retried", response.status if response is not None else None, False)
        # Only once a retry is certain: the body is read here so `get_retry_after` can see it;
        # urllib3 drains it right after, so the final response is never touched.
        if response is not None and response.status == 429 and not response.headers.get("Retry-After"):
            with contextlib.suppress(Exception):  # a broken body just means no hint
                response.read(cache_content=True)
        return new

    def sleep(self, response=None) -> None:  # type: ignore[no-untyped-def]
        super().sleep(response)
        _attempts.started = time.monotonic()  # the next attempt starts after the backoff
        _attempts.sent = False

    def get_retry_after(self, response) -> float | None:  # type: ignore[no-untyped-def]
        delay = super().get_retry_after(response)
        if delay is None:
            delay = retry_delay_from_body(getattr(response, "_body", None))
        return None if delay is None else min(delay, MAX_RETRY_WAIT_S)


def make_retry(max_retries: int, backoff_factor: float = 1.0) -> Retry:
    return GeminiRetry(
        total=max_retries,
        connect=max_retries,
        read=0,  # a read error may mean the request was processed (and billed): no blind resend
        status=max_retries,
        other=0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"POST"}),
        backoff_factor=backoff_factor,
        backoff_max=MAX_RETRY_WAIT_S,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class _MarkingHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        _attempts.sent = True  # returned: every byte of the request was handed to the network


class _MarkingHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        _attempts.sent = True


class _MarkingHTTPPool(HTTPConnectionPool):
    ConnectionCls = _MarkingHTTPConnection


class _MarkingHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _MarkingHTTPSConnection


class _Adapter(HTTPAdapter):
    """Knows whether the request was sent in full when a connection fails: before, nothing can
    be billed; after, the model may have done the work."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _MarkingHTTPPool, "https": _MarkingHTTPSPool}


class GeminiClient:
    def __init__(self, settings: Settings, *, backoff_factor: float = 1.0) -> None:
        self.settings = settings
        self.session = requests.Session()
        adapter = _Adapter(max_retries=make_retry(settings.max_retries, backoff_factor), pool_maxsize=16)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # The streaming route is tried once, with no retries of its own: a failure before its
        # first byte falls back to generateContent, which retries as above.
        self.stream_session = requests.Session()
        for scheme in ("https://", "http://"):
            self.stream_session.mount(scheme, _Adapter(max_retries=Retry(total=0, read=False, raise_on_status=False)))
        self._no_stream_until, self._fell_back = 0.0, set[str]()
        if settings.offline:
            from core.provider.offline import OFFLINE_BASE_URL, OfflineDemoAdapter

            self.base_url = OFFLINE_BASE_URL
            self.session.mount(OFFLINE_BASE_URL, OfflineDemoAdapter())
        else:
            self.base_url = settings.base_url

    @property
    def offline(self) -> bool:
        return self.settings.offline

    def endpoint(self, model: str) -> str:
        return f"{self.base_url}/v1beta/models/{model}:generateContent"

    def generate(
        self,
        model: str,
        body: dict[str, Any] | bytes,
        attempts: list[Attempt] | None = None,
        on_progress: stream.OnProgress | None = None,
    ) -> dict[str, Any]:
        """POST one request. With `attempts`, every HTTP attempt (retries included) is appended
        to it as it ends, whatever the outcome. With STUDIO_STREAM=1 the answer is streamed
        (core/provider/stream.py) and `on_progress` hears the thoughts and drafts as they come."""
        _attempts.log, _attempts.started, _attempts.sent = attempts, time.monotonic(), False
        try:
            streams = self.settings.stream and not self.offline and time.monotonic() >= self._no_stream_until
            payload = self._stream(model, body, on_progress) if streams else None
            if payload is None:
                payload = self._generate(model, body)
        except StudioError as error:
            _note(error.kind, error.http_status, error.may_be_billed)
            raise
        else:
            _note("ok", 200, True)
            return payload
        finally:
            _attempts.log = None

    def _stream(
        self, model: str, body: dict[str, Any] | bytes, on_progress: stream.OnProgress | None
    ) -> dict[str, Any] | None:
        """The streamed answer, or None when the stream failed before its first byte (nothing was
        billed): the caller then asks generateContent."""
        try:
            response = self.stream_session.post(
                f"{self.base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse",
                data=_encoded(body),
                headers=self._headers(),
                timeout=(self.settings.connect_timeout_s, self.settings.read_timeout_s),
                stream=True,
            )
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
            if isinstance(exc, requests.exceptions.ReadTimeout) or _timed_out(exc):
                raise self._timeout() from None
            if _attempts.sent:  # the request went out whole: the model may be working on it
                raise _lost() from None
            return self._fall_back(f"no connection ({exc.__class__.__name__})")
        except requests.exceptions.RequestException as exc:
            return self._fall_back(exc.__class__.__name__)
        with response:
            if response.status_code != 200:
                refused = error_for_status(response, model)
                if refused.may_be_billed:  # a gateway that gave up waiting: the model may have finished
                    refused.http_status = response.status_code
                    raise refused
                if response.status_code in (404, 405, 501):  # no such route here (a proxy): not asked again soon
                    self._no_stream_until = time.monotonic() + STREAM_ROUTE_RETRY_S
                return self._fall_back(f"HTTP {response.status_code}", response.status_code)
            sse = "json" not in response.headers.get("Content-Type", "")
            return stream.read(stream.blocks(response.raw, self._timeout), on_progress, sse=sse)

    def _fall_back(self, why: str, status: int | None = None) -> dict[str, Any] | None:
        said = log.warning if why not in self._fell_back else log.info  # each kind of failure warned once
        self._fell_back.add(why)
        said("the streaming route failed before its first byte (%s): asking generateContent", why)
        _note("retried", status, False)  # its own ledger row: nothing was billed
        _attempts.started, _attempts.sent = time.monotonic(), False
        return None

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "x-goog-api-key": self.settings.api_key.reveal()}

    def _generate(self, model: str, body: dict[str, Any] | bytes) -> dict[str, Any]:
        try:
            response = self.session.post(
                self.endpoint(model),
                data=_encoded(body),
                headers=self._headers(),
                timeout=(self.settings.connect_timeout_s, self.settings.read_timeout_s),
            )
        except requests.exceptions.RetryError:
            raise ServiceDownError("The image service kept failing after several retries. Try again later.") from None
        except requests.exceptions.ConnectTimeout:
            raise ServiceDownError(
                "Could not reach the image service in time (nothing was sent). Check the network and "
                "COMETAPI_BASE_URL, then try again."
            ) from None
        except requests.exceptions.ReadTimeout:
            raise self._timeout() from None
        except requests.exceptions.ConnectionError as exc:
            if _timed_out(exc):
                raise self._timeout() from None
            if _attempts.sent:
                raise _lost() from None
            if _connected(exc):
                raise ServiceDownError(
                    "The connection to the image service dropped while the request was being sent, so it never "
                    "arrived whole and nothing was billed. Try again; if it keeps happening, check the network "
                    "or proxy."
                ) from None
            raise ServiceDownError(
                "Could not reach the image service (the connection failed; nothing was sent). Check the network "
                "and COMETAPI_BASE_URL, then try again."
            ) from None
        except requests.exceptions.RequestException as exc:
            if _attempts.sent:  # the answer broke off while it was being read
                raise _lost() from None
            raise ServiceDownError(f"The request to the image service failed ({exc.__class__.__name__}).") from None
        return self._decode(response, model)

    def _timeout(self) -> ServiceTimeout:
        error = ServiceTimeout(
            "The image service did not answer in time "
            f"(waited {self.settings.read_timeout_s:.0f} s). Large images can be slow; try again. "
            "The request was sent, so the call may be billed."
        )
        error.may_be_billed = True  # the request went out; the model may have finished it
        return error

    def _decode(self, response: requests.Response, model: str = "") -> dict[str, Any]:
        if response.status_code == 200:
            try:
                payload = response.json()
            except ValueError:
                error = UnreadableResponse(
                    "The image service answered with something that is not JSON "
                    f"({_describe_body(response)}). Try again."
                )
            else:
                if isinstance(payload, dict):
                    return payload
                error = UnreadableResponse("The image service answered with unexpected JSON.")
            error.http_status, error.may_be_billed = 200, True  # an answer came: it may be charged
            raise error
        refused = error_for_status(response, model)
        refused.http_status = response.status_code
        raise refused


def _encoded(body: dict[str, Any] | bytes) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()


def _lost() -> ConnectionLost:
    return ConnectionLost(
        "The connection to the image service was dropped after the request was sent (a proxy or load "
        "balancer may have given up during a long render). The model may still have made the image, and the "
        "call may be billed, so the studio did not send it again by itself. Your words are kept; Retry sends "
        "them once more."
    )


def _connected(exc: Exception) -> bool:
    """Whether the failure came after the connection was made (not a refused or unreachable host)."""
    reason = getattr(exc.args[0], "reason", exc.args[0]) if exc.args else None
    return not isinstance(reason, NewConnectionError)


def _timed_out(exc: Exception) -> bool:
    """requests reports a read timeout that Retry declined to resend as a ConnectionError."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (ReadTimeoutError, TimeoutError))


def _describe_body(response: requests.Response) -> str:
    kind = response.headers.get("Content-Type", "unknown type").split(";")[0]
    return f"{kind}, {len(response.content)} bytes"

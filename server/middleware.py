"""Request ids, security headers, metrics and the access log, for every response."""

from __future__ import annotations

import logging
import re
import time
import uuid

import falcon

from digits.pipeline import BatchReading, DigitReading, NumberReading
from server import logs, metrics

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestId:
    """Take a sane X-Request-ID from the client or make one; echo it back."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        incoming = req.get_header("X-Request-ID") or ""
        req.context.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        resp.set_header("X-Request-ID", req.context.request_id)


class SecurityHeaders:
    """Every response, errors included, carries the same security headers."""

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        resp.set_headers(SECURITY_HEADERS)


class Observe:
    """Every answered request: counted in the metrics and written as one JSON line to the access log."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        seconds = time.perf_counter() - req.context.get("started", time.perf_counter())
        route = route_label(req)
        code = req.context.get("error_code")
        metrics.observe(route, req.method, resp.status_code, seconds, code)
        reading, answer = req.context.get("reading"), None
        if isinstance(reading, DigitReading):
            metrics.observe_reading(route, [reading.digit], reading.timing)
            answer = str(reading.digit)
        elif isinstance(reading, BatchReading):  # the access line's answer: a digit per image, - for an error
            readings = [r.digit if isinstance(r, DigitReading) else None for r in reading.readings]
            metrics.observe_reading(route, [d for d in readings if d is not None], reading.timing)
            answer = "".join("-" if d is None else str(d) for d in readings)
        elif isinstance(reading, NumberReading):
            metrics.observe_reading(route, [d.digit for d in reading.digits], reading.timing)
            answer = reading.text
        if not logs.ACCESS.isEnabledFor(logging.INFO):  # ACCESS_LOG= (empty): no line to build
            return
        line = {"request_id": req.context.get("request_id"), "method": req.method, "route": route}
        line |= {"status": resp.status_code, "duration_ms": round(1000 * seconds, 2)}
        line |= {"bytes_in": req.content_length or 0, "bytes_out": _body_bytes(resp)}
        if answer is not None:
            line["answer"] = answer
        if code:
            line["error"] = code
        logs.ACCESS.info("request", extra=line)


def _body_bytes(resp: falcon.Response) -> int:
    body = resp.render_body()  # falcon keeps the rendering, so the response does not pay twice
    return len(body) if body is not None else int(resp.content_length or 0)


def route_label(req: falcon.Request) -> str:
    """The route's template, "/static" for the page's files, else "unmatched": paths would have no bound."""
    if req.uri_template:
        return req.uri_template
    return "/static" if req.path.startswith("/static/") else "unmatched"

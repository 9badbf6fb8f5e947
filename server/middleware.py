"""Request ids and security headers on every response."""

from __future__ import annotations

import re
import uuid

import falcon

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

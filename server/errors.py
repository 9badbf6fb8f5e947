"""One JSON error shape for every failure: {"code": machine-readable, "message": for people}."""

from __future__ import annotations

import logging

import falcon

from digits.preprocess import PreprocessError

log = logging.getLogger("server")

PREPROCESS_STATUS = {
    "invalid_image": falcon.HTTP_400,
    "too_large": falcon.HTTP_413,
    "no_digit": falcon.HTTP_422,
    "too_complex": falcon.HTTP_422,
}
# Falcon's own errors (routing, media parsing) get a code derived from their status.
STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    411: "length_required",
    413: "too_large",
    415: "unsupported_media_type",
}


class ApiError(falcon.HTTPError):
    """An HTTP error with the API's machine-readable code."""

    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(status, title=code, description=message)
        self.api_code = code


def serialize(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """Error serializer: always JSON, always code + message (+ the request id)."""
    code = getattr(exc, "api_code", None) or STATUS_CODES.get(exc.status_code, "error")
    body = {"code": code, "message": exc.description or exc.title or code}
    request_id = getattr(req.context, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    resp.media = body
    resp.content_type = falcon.MEDIA_JSON


def handle_preprocess_error(req: falcon.Request, resp: falcon.Response, exc: PreprocessError, params: dict) -> None:
    """Input that cannot become a digit is the client's problem: a 4xx with the error's code."""
    raise ApiError(PREPROCESS_STATUS.get(exc.code, falcon.HTTP_400), exc.code, str(exc))


def handle_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict) -> None:
    """Log the traceback with the request id; tell the client nothing about internals."""
    request_id = getattr(req.context, "request_id", "-")
    log.exception("request %s failed: %s %s", request_id, req.method, req.path)
    raise ApiError(
        falcon.HTTP_500, "internal_error", f"Something went wrong on our side; quote request id {request_id}."
    )

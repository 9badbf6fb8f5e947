"""Every error code the server answers, and one JSON shape for them: {"code", "message", "request_id", ...}."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import falcon

if TYPE_CHECKING:  # only for an annotation: the registry needs nothing from digits/
    from digits.preprocess import PreprocessError

log = logging.getLogger("server")


@dataclass(frozen=True)
class Code:
    """An error code's HTTP status and what it means."""

    status: str  # falcon's status line, e.g. falcon.HTTP_413
    description: str

    @property
    def status_code(self) -> int:
        """The status as a number, e.g. 413."""
        return falcon.http_status_to_code(self.status)


# The one list: the page's messages (web/js/messages.js) and openapi.json are tested against it.
CODES: dict[str, Code] = {
    "bad_request": Code(falcon.HTTP_400, "a request falcon cannot parse (a malformed header), or a bad correction"),
    "invalid_image": Code(falcon.HTTP_400, "not a PNG, JPEG, WebP, GIF, BMP or TIFF image, or truncated"),
    "invalid_multipart": Code(falcon.HTTP_400, "a malformed multipart form"),
    "missing_image": Code(falcon.HTTP_400, "a multipart form without an `image` field"),
    "not_found": Code(falcon.HTTP_404, "no such route"),
    "method_not_allowed": Code(falcon.HTTP_405, "the route does not take this method"),
    "request_timeout": Code(falcon.HTTP_408, "the request head took over HEAD_SECONDS (server.worker answers it)"),
    "upload_timeout": Code(falcon.HTTP_408, "the body took over UPLOAD_SECONDS to arrive"),
    "length_required": Code(falcon.HTTP_411, "a chunked upload: its size is unknown until it is all read"),
    "too_large": Code(falcon.HTTP_413, "over MAX_UPLOAD_BYTES or MAX_IMAGE_PIXELS; a batch: over 256 images or 32 MiB"),
    "unsupported_media_type": Code(falcon.HTTP_415, "a Content-Type other than an image or a multipart form"),
    "no_digit": Code(falcon.HTTP_422, "the image is blank"),
    "too_complex": Code(falcon.HTTP_422, "/read: too many separate marks; /read or a batch: over READ_SECONDS"),
    "rate_limited": Code(falcon.HTTP_429, "corrections: too many from one client; retry after retry_after_seconds"),
    "internal_error": Code(falcon.HTTP_500, "a bug: logged with the request id, nothing internal revealed"),
}
# Falcon's own errors (routing, header parsing) get the code of their status. Any other status it
# raises (a 416 for a Range past a static file's end) answers bad_request, or internal_error if 5xx.
FALCON_OWN = (
    "bad_request",
    "not_found",
    "method_not_allowed",
    "length_required",
    "too_large",
    "unsupported_media_type",
)
FALCON_CODES = {CODES[code].status_code: code for code in FALCON_OWN}


def _known(code: str) -> str:
    if code not in CODES:
        raise ValueError(f"error code {code!r} is not in server.errors.CODES")
    return code


def error_body(code: str, message: str, request_id: str | None = None, **fields: object) -> dict:
    """An error's JSON: code, message, the request id when there is one, then extra fields (e.g. limit_bytes)."""
    body: dict = {"code": _known(code), "message": message}
    if request_id:
        body["request_id"] = request_id
    return {**body, **fields}


class ApiError(falcon.HTTPError):
    """An HTTP error with a code from CODES (which sets its status) and extra fields for its JSON body."""

    def __init__(self, code: str, message: str, **fields: object) -> None:
        super().__init__(CODES[_known(code)].status, title=code, description=message)
        self.api_code = code
        self.fields = fields


def serialize(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """Error serializer: always JSON, always a registered code + message (+ the request id, extra fields)."""
    if isinstance(exc, ApiError):
        code, fields = exc.api_code, exc.fields
    else:
        fallback = "internal_error" if exc.status_code >= 500 else "bad_request"
        code, fields = FALCON_CODES.get(exc.status_code, fallback), {}
    message = exc.description or exc.title or code
    req.context.error_code = code  # for the metrics and the access log
    resp.media = error_body(code, message, getattr(req.context, "request_id", None), **fields)
    resp.content_type = falcon.MEDIA_JSON


def preprocess_error_body(exc: PreprocessError) -> dict:
    """The JSON a preprocessing error answers with (the batch endpoint's per-image error)."""
    return error_body(exc.code, str(exc), **exc.fields)


def handle_preprocess_error(req: falcon.Request, resp: falcon.Response, exc: PreprocessError, params: dict) -> None:
    """Input that cannot become a digit is the client's problem: a 4xx with the error's code and details."""
    raise ApiError(exc.code, str(exc), **exc.fields)


def handle_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict) -> None:
    """Log the traceback with the request id; tell the client nothing about internals."""
    request_id = getattr(req.context, "request_id", "-")
    log.exception("request %s failed: %s %s", request_id, req.method, req.path)
    raise ApiError("internal_error", f"Something went wrong on our side; quote request id {request_id}.")

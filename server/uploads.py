"""Read the uploaded images' bytes from a raw body or a multipart form, in memory, within the byte limits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import falcon
from falcon.media.multipart import MultipartParseOptions

from digits.preprocess import Limits
from server import deadline
from server.errors import ApiError

RAW_TYPES = frozenset({
    "image/png", "image/x-png", "image/jpeg", "image/jpg", "image/pjpeg", "image/webp", "image/gif",
    "image/bmp", "image/x-bmp", "image/x-ms-bmp", "image/tiff", "application/octet-stream",
})  # fmt: skip
MULTIPART = "multipart/form-data"
FIELD = "image"
MAX_PARTS = 16  # a form with the image and a few other fields; more is abuse
MAX_BATCH_IMAGES = 256  # images in one batch request: a few seconds of work at most
MAX_BATCH_BYTES = 32 * 1024 * 1024  # a whole batch request's body, all held in memory at once
T = TypeVar("T")
DEFAULT_UPLOAD_SECONDS = 20.0  # under gunicorn's 30 s worker timeout: a trickling client gets a 408, not a kill


def multipart_options() -> MultipartParseOptions:
    """Falcon's multipart parser, bounded."""
    options = MultipartParseOptions()
    options.max_body_part_count = MAX_BATCH_IMAGES + MAX_PARTS
    return options


def _too_large(limits: Limits) -> ApiError:
    return ApiError(
        "too_large", f"The upload is over the limit of {limits.max_bytes:,} bytes.", limit_bytes=limits.max_bytes
    )


def _read_bounded(stream, limits: Limits) -> bytes:
    data = stream.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise _too_large(limits)
    return data


def read_image(req: falcon.Request, limits: Limits, seconds: float = DEFAULT_UPLOAD_SECONDS) -> bytes:
    """The image bytes of a request, read within `seconds`, or an ApiError saying what is wrong with it."""
    return _in_time(seconds, _read_image, req, limits)


def read_images(req: falcon.Request, limits: Limits, seconds: float = DEFAULT_UPLOAD_SECONDS) -> list[bytes]:
    """Every `image` part of a multipart request, in order, read within `seconds`; or an ApiError."""
    return _in_time(seconds, _read_images, req, limits)


def read_json(req: falcon.Request, max_bytes: int, seconds: float = DEFAULT_UPLOAD_SECONDS) -> Any:
    """A JSON body of at most max_bytes, read within `seconds`, parsed; or an ApiError."""
    return _in_time(seconds, _read_json, req, Limits(max_bytes=max_bytes, max_pixels=0))


def _read_json(req: falcon.Request, limits: Limits) -> Any:
    media_type = (req.content_type or "").split(";")[0].strip().lower()
    if media_type != falcon.MEDIA_JSON:
        got = media_type or "no Content-Type"
        raise ApiError("unsupported_media_type", f"Send JSON (application/json); got {got}.")
    _check_length(req, limits)
    try:
        return json.loads(_read_bounded(req.bounded_stream, limits))
    except ValueError as exc:  # not UTF-8, or not JSON
        raise ApiError("bad_request", f"The body is not valid JSON: {exc}.") from None


def _in_time(seconds: float, read: Callable[[falcon.Request, Limits], T], req: falcon.Request, limits: Limits) -> T:
    """read(req, limits), or upload_timeout if the body takes longer than `seconds` to arrive."""
    try:
        with deadline.time_limit(seconds):
            return read(req, limits)
    except deadline.Expired:
        raise ApiError(
            "upload_timeout", f"The upload took longer than {seconds:g} s; send it in one go.", limit_seconds=seconds
        ) from None


def _read_images(req: falcon.Request, limits: Limits) -> list[bytes]:
    if (req.content_type or "").split(";")[0].strip().lower() != MULTIPART:
        raise ApiError(
            "unsupported_media_type",
            f"Send a batch as multipart/form-data with one field named '{FIELD}' per image.",
        )
    batch_limits = Limits(max_bytes=MAX_BATCH_BYTES, max_pixels=limits.max_pixels)
    _check_length(req, batch_limits)
    images = []
    for name, part in _parts(req):
        if name != FIELD:
            continue
        if len(images) == MAX_BATCH_IMAGES:
            raise ApiError(
                "too_large", f"A batch holds at most {MAX_BATCH_IMAGES} images.", limit_images=MAX_BATCH_IMAGES
            )
        images.append(_read_bounded(part.stream, limits))
    if not images:
        raise ApiError("missing_image", f"The multipart form has no file field named '{FIELD}'.")
    return images


def _check_length(req: falcon.Request, limits: Limits) -> None:
    """Refuse early on the declared length (the reads still bound what is sent), and chunked uploads."""
    if req.content_length is not None and req.content_length > limits.max_bytes + 64 * 1024:
        raise _too_large(limits)
    if req.content_length is None and req.get_header("Transfer-Encoding"):  # chunked: size unknown until read
        raise ApiError("length_required", "Send the upload with a Content-Length header.")


def _parts(req: falcon.Request) -> Iterator[tuple[str, Any]]:
    """The multipart body's (name, part) pairs, with malformed bodies answered as invalid_multipart."""
    if not req.content_length:
        raise ApiError("invalid_multipart", "The multipart body is empty.")
    try:
        for part in req.get_media():
            yield part.name, part  # the name is parsed here, so a malformed header is caught below
    except ApiError:  # a part is over the byte limit: 413, not a malformed body
        raise
    except UnicodeDecodeError as exc:  # falcon decodes part headers as UTF-8
        raise ApiError("invalid_multipart", "A part's headers are not UTF-8.") from exc
    except falcon.MediaMalformedError as exc:
        raise ApiError("invalid_multipart", f"The multipart body is malformed: {exc.description}") from exc
    except falcon.HTTPError as exc:  # e.g. too many parts
        raise ApiError("invalid_multipart", f"The multipart body is refused: {exc.description}") from exc


def _read_image(req: falcon.Request, limits: Limits) -> bytes:
    media_type = (req.content_type or "").split(";")[0].strip().lower()
    if media_type not in RAW_TYPES and media_type != MULTIPART:
        raise ApiError(
            "unsupported_media_type",
            f"Send the image as raw bytes (image/png, image/jpeg, ...) or as multipart/form-data with a field "
            f"named '{FIELD}'; got {media_type or 'no Content-Type'}.",
        )
    _check_length(req, limits)
    if media_type != MULTIPART:
        return _read_bounded(req.bounded_stream, limits)
    for name, part in _parts(req):
        if name == FIELD:
            return _read_bounded(part.stream, limits)
    raise ApiError("missing_image", f"The multipart form has no file field named '{FIELD}'.")

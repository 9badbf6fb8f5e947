"""POST /api/v1/corrections: "that's wrong, it's a 7", kept with the sender's consent when CORRECTIONS_DB is set."""

from __future__ import annotations

import base64
import ipaddress
import math
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

import falcon

from digits import corrections
from server import uploads
from server.errors import ApiError
from server.resources import DATA_URL  # how /predict and /read give the model's input

if TYPE_CHECKING:  # only for an annotation: SQLAlchemy is loaded when corrections are kept
    from digits import correction_store

MAX_BODY_BYTES = 4096  # the JSON: a data URL of at most corrections.MAX_PNG_BYTES, a label, an answer, a version
FIELDS = {"image", "label", "predicted", "model"}
PER_MINUTE = 10  # corrections one client may send per minute and worker; a person corrects far fewer
MAX_CLIENTS = 10_000  # addresses the limiter remembers; the least recently seen are forgotten first


class RateLimiter:
    """A token bucket per client address, in this worker's memory only: `burst` at once, `per_minute` after."""

    def __init__(self, per_minute: float = PER_MINUTE, burst: int = PER_MINUTE, max_clients: int = MAX_CLIENTS) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_clients = max_clients
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tokens, when)
        self.lock = threading.Lock()

    def wait(self, client: str, now: float | None = None) -> float:
        """Take a token for client: 0 if it may go on, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        with self.lock:
            tokens, then = self.buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self.buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self.buckets) > self.max_clients:
                self.buckets.popitem(last=False)
        return wait


class Corrections:
    """POST /api/v1/corrections: one correction, as JSON {image, label, predicted, model}; 201 when kept."""

    def __init__(self, store: correction_store.Store | None, limiter: RateLimiter, upload_seconds: float) -> None:
        self.store = store
        self.limiter = limiter
        self.upload_seconds = upload_seconds

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.store is None:
            raise ApiError("not_found", "Corrections are off on this server (CORRECTIONS_DB is not set).")
        wait = self.limiter.wait(client_address(req))  # the address lives in memory only, never stored
        if wait:
            seconds = math.ceil(wait)
            resp.set_header("Retry-After", str(seconds))
            raise ApiError(
                "rate_limited", f"Too many corrections: try again in {seconds} s.", retry_after_seconds=seconds
            )
        body = uploads.read_json(req, MAX_BODY_BYTES, self.upload_seconds)
        try:
            correction = parse(body)
        except corrections.InvalidCorrection as exc:
            raise ApiError("bad_request", str(exc)) from None
        self.store.add(correction)
        resp.status = falcon.HTTP_201
        resp.media = {"kept": ["image", "label", "predicted", "model", "created_at"]}


def client_address(req: falcon.Request) -> str:
    """Who to count a request against: the peer, or X-Real-IP when the peer is a proxy on this machine (nginx)."""
    peer = req.remote_addr or "-"
    forwarded = (req.get_header("X-Real-IP") or "").strip()
    if forwarded and _loopback(peer) and _ip(forwarded) is not None:
        return forwarded  # deploy/nginx.conf sets it; a remote peer cannot, so it cannot dodge the limit
    return peer


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _loopback(text: str) -> bool:
    address = _ip(text)
    return address is not None and address.is_loopback


def parse(body: object) -> corrections.Correction:
    """The correction a JSON body describes, or InvalidCorrection saying what is wrong with it."""
    if not isinstance(body, dict) or set(body) != FIELDS:
        raise corrections.InvalidCorrection(f"Send a JSON object with exactly the fields {sorted(FIELDS)}.")
    image = body["image"]
    if not isinstance(image, str) or not image.startswith(DATA_URL):
        raise corrections.InvalidCorrection(f"'image' must be a data URL starting {DATA_URL}, as the API gave it.")
    try:
        png = base64.b64decode(image.removeprefix(DATA_URL), validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text b64decode refuses before decoding
        raise corrections.InvalidCorrection("'image' is not valid base64.") from None
    return corrections.Correction(png, body["label"], body["predicted"], body["model"])

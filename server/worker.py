"""Gunicorn's sync worker, with a time limit on reading each request's head (headers).

Without it a client that trickles its headers holds the worker until gunicorn's timeout kills it.
The app bounds the body read itself (server.uploads), so the limit ends once the head is in.
"""

from __future__ import annotations

import contextlib
import json

from gunicorn.workers.sync import SyncWorker

from server import deadline
from server.config import Config
from server.errors import error_body
from server.middleware import SECURITY_HEADERS


def timeout_response(seconds: float) -> bytes:
    """A 408 in the API's error shape, written by the worker since no request reached the app."""
    message = f"The request head took over {seconds:g} s."
    body = json.dumps(error_body("request_timeout", message, limit_seconds=seconds))
    headers = {
        "Connection": "close",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **SECURITY_HEADERS,
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"HTTP/1.1 408 Request Timeout\r\n{head}\r\n{body}".encode("latin-1")


class Worker(SyncWorker):
    """A sync worker that answers 408 to a client whose headers take longer than Config.head_seconds."""

    def init_process(self) -> None:
        self.head_seconds = Config.from_env().head_seconds
        super().init_process()

    def handle(self, listener, client, addr) -> None:
        deadline.start(self.head_seconds)
        try:
            super().handle(listener, client, addr)
        finally:
            deadline.cancel()

    def handle_request(self, listener, req, client, addr) -> None:
        deadline.cancel()  # the head is in
        super().handle_request(listener, req, client, addr)

    def handle_error(self, req, client, addr, exc) -> None:
        if not isinstance(exc, deadline.Expired):
            super().handle_error(req, client, addr, exc)
            return
        self.log.info("408: %s sent no complete request head within %g s", addr, self.head_seconds)
        with contextlib.suppress(OSError):  # the client may be gone
            client.sendall(timeout_response(self.head_seconds))

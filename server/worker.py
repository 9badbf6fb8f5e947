"""Gunicorn's sync worker, with a time limit on reading each request's head, and one send per response.

Without the time limit a client that trickles its headers holds the worker until gunicorn's timeout
kills it. The app bounds the body read itself (server.uploads), so the limit ends once the head is in.

Gunicorn sends a response's head and body in two sends. A worker killed between them (a replica's
machine dies) leaves a proxy holding a head with no body, a request it can no longer retry elsewhere;
measured with nginx and SIGKILL under load, about one kill in seven lost a request that way. Sent as
one, a response either leaves whole or not at all, and the proxy retries what did not leave.
"""

from __future__ import annotations

import contextlib
import json
import socket

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
        one_send = OneSend(client)
        try:
            super().handle_request(listener, req, one_send, addr)
        finally:
            one_send.flush()  # a response with no body (HEAD) is a head alone

    def handle_error(self, req, client, addr, exc) -> None:
        if not isinstance(exc, deadline.Expired):
            super().handle_error(req, client, addr, exc)
            return
        self.log.info("408: %s sent no complete request head within %g s", addr, self.head_seconds)
        with contextlib.suppress(OSError):  # the client may be gone
            client.sendall(timeout_response(self.head_seconds))


class OneSend:
    """A client socket that holds back a response's head and sends it with the body, in one sendall()."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock, self._head = sock, b""

    def sendall(self, data: bytes) -> None:
        if not self._head and data.startswith(b"HTTP/") and data.endswith(b"\r\n\r\n"):
            self._head = data  # the head alone: wait for the body
            return
        data, self._head = self._head + data, b""
        self._sock.sendall(data)

    def flush(self) -> None:
        """Send a head still held."""
        if self._head:
            head, self._head = self._head, b""
            self._sock.sendall(head)

    def __getattr__(self, name: str):
        self.flush()  # anything else the worker does with the socket comes after the head
        return getattr(self._sock, name)

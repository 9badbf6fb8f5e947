"""One list of error codes (server/errors.py CODES): the page, openapi.json and the server's code agree with it,
and errors about a limit name it in a field of their JSON."""

from __future__ import annotations

import ast
import io
import json
import re
import time
from pathlib import Path

import falcon.testing
import pytest

from digits import preprocess
from server import errors
from server.app import create_app
from server.config import Config
from tests.conftest import ROOT, png_claiming
from tests.test_api import assert_error, multipart

MESSAGES_JS = ROOT / "web" / "js" / "messages.js"
OPENAPI = ROOT / "server" / "openapi.json"
ROUTING = {404, 405}  # answers to a wrong path or method, not to a POST on the API's routes
CORRECTIONS_ONLY = {"rate_limited"}  # answered by POST /api/v1/corrections alone


def page_codes(name: str) -> set[str]:
    """The codes of one message list in messages.js: its keys, each starting a line two spaces in."""
    block = re.search(rf"^const {name} = \{{\n(.*?)^\}};", MESSAGES_JS.read_text(), re.M | re.S)
    assert block, f"no const {name} in {MESSAGES_JS}"
    return set(re.findall(r"^  (\w+):", block.group(1), re.M))


def test_the_page_has_a_message_for_every_code_and_for_no_other() -> None:
    assert page_codes("SERVER_MESSAGES") == set(errors.CODES)
    own = page_codes("PAGE_MESSAGES")  # failures the page finds itself (network, not_a_file, ...)
    assert own and not own & set(errors.CODES), "a page-only message shadows a server code"


def test_openapi_lists_every_code_and_status() -> None:
    spec = json.loads(OPENAPI.read_text())
    enum = spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    assert sorted(enum) == sorted(errors.CODES)
    reading = {"no_digit", "too_complex", "invalid_image", "invalid_multipart", "missing_image"}  # images only

    def statuses(codes: set[str]) -> set[str]:
        return {str(errors.CODES[c].status_code) for c in codes if errors.CODES[c].status_code not in ROUTING}

    def documented(path: str) -> set[str]:
        return {status for status in spec["paths"][path]["post"]["responses"] if status[0] in "45"}

    for path in ("/api/v1/predict", "/api/v1/read"):
        assert documented(path) == statuses(set(errors.CODES) - CORRECTIONS_ONLY), path
    off = {"404"}  # corrections are off unless CORRECTIONS_DB is set
    assert documented("/api/v1/corrections") == statuses(set(errors.CODES) - reading) | off


def test_preprocess_errors_have_registered_codes() -> None:
    """handle_preprocess_error answers the exception's own code, so every class's code must be registered."""
    classes, pending = [], [preprocess.PreprocessError]
    while pending:
        cls = pending.pop()
        classes.append(cls)
        pending += cls.__subclasses__()
    assert len(classes) >= 5
    assert {cls.code for cls in classes} <= set(errors.CODES)


def error_codes_in(path: Path) -> list[tuple[int, str]]:
    """(line, first argument as source) of each ApiError(...) and error_body(...) call in a module."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("ApiError", "error_body"):
                arg = node.args[0]
                code = arg.value if isinstance(arg, ast.Constant) else ast.unparse(arg)
                calls.append((node.lineno, code))
    return calls


def test_every_error_the_server_raises_uses_a_registered_code() -> None:
    """ApiError refuses an unregistered code when raised; this finds one on a path no test takes.

    errors.py itself passes codes on (a preprocess error's, checked above); every other module names its codes.
    """
    modules = [path for path in sorted((ROOT / "server").glob("*.py")) if path.name != "errors.py"]
    calls = {f"{path.name}:{line}": code for path in modules for line, code in error_codes_in(path)}
    assert len(calls) >= 8, calls  # the scan sees uploads.py's errors: it is not looking at nothing
    assert {where: code for where, code in calls.items() if code not in errors.CODES} == {}


def test_api_error_refuses_an_unregistered_code() -> None:
    unregistered = re.escape("'teapot' is not in server.errors.CODES")
    with pytest.raises(ValueError, match=unregistered):
        errors.ApiError("teapot", "I am one")
    with pytest.raises(ValueError, match=unregistered):
        errors.error_body("teapot", "I am one")


def test_falcons_own_errors_answer_registered_codes(client) -> None:
    """Routing and static files fail with falcon's errors; even a 416 answers a code from the list."""
    for result in (
        client.simulate_get("/nope"),
        client.simulate_put("/api/v1/predict"),
        client.simulate_get("/static/style.css", headers={"Range": "bytes=99999999-"}),
    ):
        assert result.status_code >= 400 and result.json["code"] in errors.CODES, result.text


# --- Limits as fields ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> falcon.testing.TestClient:
    """The app with small limits: 1,000 bytes, 10,000 pixels and half a second to upload."""
    config = Config(max_upload_bytes=1000, max_image_pixels=10_000, upload_seconds=0.5)
    return falcon.testing.TestClient(create_app(config))


@pytest.mark.parametrize(
    ("size", "form"),
    [(5_000, False), (200_000, False), (5_000, True)],
    ids=["read past the limit", "declared over the limit", "multipart part over the limit"],
)
def test_over_the_byte_limit_carries_limit_bytes(small, size: int, form: bool) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(size)
    body, ctype = multipart({"image": ("big.png", data, "image/png")}) if form else (data, "image/png")
    result = small.simulate_post("/api/v1/predict", body=body, headers={"Content-Type": ctype})
    assert_error(result, 413, "too_large")
    assert result.json["limit_bytes"] == 1000
    assert set(result.json) == {"code", "message", "request_id", "limit_bytes"}


@pytest.mark.parametrize("path", ["/api/v1/predict", "/api/v1/read"])
def test_over_the_pixel_limit_carries_limit_pixels(small, path: str) -> None:
    result = small.simulate_post(path, body=png_claiming(200, 200), headers={"Content-Type": "image/png"})
    assert_error(result, 413, "too_large")
    assert result.json["limit_pixels"] == 10_000 and "limit_bytes" not in result.json


class Trickle(io.BytesIO):
    """A request body that arrives slower than any upload time limit."""

    def read(self, size: int | None = -1) -> bytes:
        time.sleep(5)
        return super().read(size)


def test_an_upload_over_its_time_limit_carries_limit_seconds(small) -> None:
    environ = falcon.testing.create_environ(
        "/api/v1/predict", method="POST", body=b"x" * 100, headers={"Content-Type": "image/png"}
    )
    environ["wsgi.input"] = Trickle(b"x" * 100)
    start = falcon.testing.StartResponseMock()
    started = time.monotonic()
    body = json.loads(b"".join(small.app(environ, start)))
    assert start.status.startswith("408") and body["code"] == "upload_timeout"
    assert body["limit_seconds"] == 0.5 and time.monotonic() - started < 4

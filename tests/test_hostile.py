"""Hostile input against real gunicorn: every case gets its 4xx, no worker dies, service goes on."""

from __future__ import annotations

import io
import json
import os
import select
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from PIL import Image

from bench import servers
from bench.servers import ServerProcess
from digits import preprocess
from tests.conftest import encode, png_bytes, png_claiming

pytestmark = pytest.mark.slow
PREDICT = "/api/v1/predict"
PEAK_WORKER_MB = 350  # the bound on a worker's peak memory (docs/architecture.md), a 40 MP image included
SETTLED_WORKER_MB = 220  # after any request: a big image's buffers go back (~135 MB; glibc's default kept 190-315)


def seven() -> Image.Image:
    canvas = Image.new("L", (200, 200), 255)
    canvas.paste(0, (50, 40, 150, 55))
    canvas.paste(0, (120, 55, 135, 170))
    return canvas


RNG = np.random.default_rng(0)
DIGIT = png_bytes(np.asarray(seven()))
JPEG = encode(seven().convert("RGB"), "JPEG")
LYING_BMP = b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<IiiHH", 40, 99999, -99999, 1, 24)
# (name, body, content type, expected status or statuses)
CASES = [
    ("random bytes", RNG.bytes(1024), "image/png", 400),
    ("random megabyte", RNG.bytes(1 << 20), "application/octet-stream", 400),
    ("zero bytes", b"", "image/png", 400),
    ("nul bytes", b"\0" * 4096, "image/png", 400),
    ("truncated png", DIGIT[: len(DIGIT) // 2], "image/png", 400),
    ("truncated jpeg", JPEG[: len(JPEG) // 2], "image/jpeg", 400),
    ("png signature only", DIGIT[:8], "image/png", 400),
    ("60000x60000 png bomb", png_claiming(60000, 60000), "image/png", 413),
    ("1x100000000 png bomb", png_claiming(1, 100_000_000), "image/png", 413),
    ("1x1 image", png_bytes(np.full((1, 1), 255, np.uint8)), "image/png", 422),
    ("10000x10 blank strip", png_bytes(np.full((10, 10000), 255, np.uint8)), "image/png", 422),
    ("blank transparent canvas", png_bytes(np.zeros((280, 280, 4), np.uint8)), "image/png", 422),
    ("black square", png_bytes(np.zeros((280, 280), np.uint8)), "image/png", 422),
    ("noise image", png_bytes(RNG.integers(0, 256, (64, 64), dtype=np.uint8)), "image/png", (200, 422)),
    ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>', "image/svg+xml", 415),
    ("svg as png", b'<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>', "image/png", 400),
    ("html", b"<html><body><img src=x onerror=alert(1)></body></html>", "text/html", 415),
    ("json", b'{"image": "7"}', "application/json", 415),
    ("form-urlencoded", b"image=7", "application/x-www-form-urlencoded", 415),
    ("no content type", DIGIT, "", 415),
    ("multipart without boundary", DIGIT, "multipart/form-data", 400),
    ("malformed multipart", b"--b\r\nnonsense", "multipart/form-data; boundary=b", 400),
    ("ppm image", encode(seven(), "PPM"), "image/png", 400),
    ("pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "application/octet-stream", 400),
    ("zip", b"PK\x03\x04" + RNG.bytes(200), "application/octet-stream", 400),
    ("bmp header lies", LYING_BMP, "image/bmp", (400, 413)),
    ("tiff with bad offsets", b"II*\x00" + struct.pack("<I", 999999) + RNG.bytes(100), "image/tiff", 400),
    ("gif garbage frames", b"GIF89a" + RNG.bytes(300), "image/gif", (400, 413)),
    ("webp garbage", b"RIFF" + struct.pack("<I", 300) + b"WEBPVP8 " + RNG.bytes(290), "image/webp", (400, 413)),
]  # fmt: skip


def multipart(parts: int) -> tuple[bytes, str]:
    body = (
        b"".join(b'--xx\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(parts))
        + b'--xx\r\nContent-Disposition: form-data; name="image"; filename="7.png"\r\nContent-Type: image/png\r\n\r\n'
    )
    return body + DIGIT + b"\r\n--xx--\r\n", "multipart/form-data; boundary=xx"


def raw_request(server: ServerProcess, head: bytes, body: bytes = b"", half_close: bool = True) -> int:
    """Send bytes on a raw socket; return the HTTP status of the answer (0 if none)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(head + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return status_of(read_answer(sock))


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def status_of(answer: bytes) -> int:
    """The HTTP status of a raw answer (0 if there is none)."""
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


@pytest.fixture(scope="module")
def server():
    process = servers.gunicorn()
    yield process
    process.stop()


def assert_still_serving(server: ServerProcess, workers: list[int]) -> None:
    assert server.child_pids() == workers, "a worker died"
    peaks = [servers.rss_mb(pid, "VmHWM") for pid in workers]
    assert max(peaks) <= PEAK_WORKER_MB, f"worker peak memory {peaks} MB"
    now = [servers.rss_mb(pid) for pid in workers]
    assert max(now) <= SETTLED_WORKER_MB, f"worker memory after the request {now} MB"
    response = requests.post(server.url + PREDICT, data=DIGIT, headers={"Content-Type": "image/png"}, timeout=10)
    assert response.status_code == 200 and response.json()["digit"] == 7


@pytest.mark.parametrize(("name", "body", "ctype", "status"), CASES, ids=[c[0] for c in CASES])
def test_hostile_body(server: ServerProcess, name: str, body: bytes, ctype: str, status: int | tuple) -> None:
    workers = server.child_pids()
    headers = {"Content-Type": ctype} if ctype else {}
    response = requests.post(server.url + PREDICT, data=body, headers=headers, timeout=15)
    assert response.status_code in (status if isinstance(status, tuple) else (status,)), response.text
    if response.status_code != 200:
        assert set(response.json()) >= {"code", "message"}
    assert_still_serving(server, workers)


@pytest.mark.parametrize("parts", [300, 1000])  # over a batch's 256 images and a few fields
def test_multipart_with_many_parts(server: ServerProcess, parts: int) -> None:
    workers = server.child_pids()
    body, ctype = multipart(parts)
    response = requests.post(server.url + PREDICT, data=body, headers={"Content-Type": ctype}, timeout=15)
    assert response.status_code == 400 and response.json()["code"] == "invalid_multipart"
    assert_still_serving(server, workers)


def test_body_of_100_megabytes_is_refused_from_its_length(server: ServerProcess) -> None:
    workers = server.child_pids()
    head = b"POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 104857600\r\n\r\n"
    assert raw_request(server, head, RNG.bytes(65536), half_close=False) == 413
    assert_still_serving(server, workers)


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "I;16", "F"])
def test_largest_allowed_image_stays_within_the_memory_bound(server: ServerProcess, mode: str) -> None:
    """A 40-megapixel image (the pixel limit) that compresses under the byte limit: the worst case for memory."""
    workers = server.child_pids()
    ink = Image.new("L", (6000, 6600), 255)
    ink.paste(0, (2800, 1000, 3200, 5600))  # a 1
    if mode == "F":  # 4 bytes a pixel, in a TIFF: PNG holds no floats
        data = encode(Image.fromarray(np.asarray(ink, np.float32)), "TIFF", compression="tiff_deflate")
    else:
        image = Image.fromarray(np.asarray(ink, np.uint16) * 257) if mode == "I;16" else ink.convert(mode)
        data = encode(image, "PNG")
    response = requests.post(server.url + PREDICT, data=data, headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 200 and response.json()["digit"] == 1
    assert_still_serving(server, workers)


def test_a_big_images_memory_goes_back_after_its_request() -> None:
    """A 40 MP 16-bit PNG, then a float TIFF, in one worker: glibc's default heap kept ~315 MB after them."""
    ink = np.full((6600, 6000), 255, np.uint16)
    ink[1000:5600, 2800:3200] = 0  # a 1
    one_worker = servers.gunicorn(1)
    try:
        (pid,) = one_worker.child_pids()
        for data in (encode(Image.fromarray(ink * 257), "PNG"),
                     encode(Image.fromarray(ink.astype(np.float32)), "TIFF", compression="tiff_deflate")):  # fmt: skip
            response = requests.post(
                one_worker.url + PREDICT, data=data, headers={"Content-Type": "application/octet-stream"}
            )
            assert response.status_code == 200 and response.json()["digit"] == 1
        assert servers.rss_mb(pid) <= SETTLED_WORKER_MB
    finally:
        one_worker.stop()


@pytest.mark.parametrize(("fmt", "mode", "options"), [("WEBP", "RGB", {"lossless": True, "method": 0}),
                                                     ("TIFF", "LAB", {"compression": "tiff_deflate"})])  # fmt: skip
def test_memory_hungry_decoders_get_fewer_pixels(server: ServerProcess, fmt: str, mode: str, options: dict) -> None:
    """libwebp's lossless decoder and LAB TIFFs need 9-16 bytes a pixel: the largest allowed stays in bounds."""
    workers = server.child_pids()
    limit = preprocess.pixel_limit(Image.open(io.BytesIO(encode(Image.new(mode, (8, 8)), fmt, **options))),
                                    preprocess.DEFAULT_LIMITS)  # fmt: skip
    assert limit < preprocess.DEFAULT_MAX_PIXELS
    for side, status in ((6000, 413), (int(limit**0.5), 200)):  # 36 MP: refused from its header; the largest allowed
        ink = Image.new("L", (side, side), 255)
        ink.paste(0, (side * 45 // 100, side // 10, side * 55 // 100, side * 9 // 10))  # a 1
        data = encode(ink.convert(mode), fmt, **options)
        response = requests.post(server.url + PREDICT, data=data, headers={"Content-Type": "application/octet-stream"})
        assert response.status_code == status, (side, response.text)
        body = response.json()
        assert body["limit_pixels"] == limit if status == 413 else body["digit"] == 1
    assert_still_serving(server, workers)


def test_chunked_upload_is_411(server: ServerProcess) -> None:
    """No Content-Length: a generator body makes requests send it chunked."""
    workers = server.child_pids()
    response = requests.post(
        server.url + PREDICT, data=iter([DIGIT]), headers={"Content-Type": "image/png"}, timeout=15
    )
    assert response.status_code == 411 and response.json()["code"] == "length_required"
    assert_still_serving(server, workers)


def test_content_length_longer_than_the_body(server: ServerProcess) -> None:
    workers = server.child_pids()
    head = b"POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n"
    assert raw_request(server, head, DIGIT[:100]) == 400
    assert_still_serving(server, workers)


def test_content_length_shorter_than_the_body(server: ServerProcess) -> None:
    workers = server.child_pids()
    head = b"POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 50\r\n\r\n"
    assert raw_request(server, head, DIGIT) == 400
    assert_still_serving(server, workers)


@pytest.mark.parametrize(
    "head",
    [
        b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # request line over the limit
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n",  # too many headers
        b"NOT-HTTP\r\n\r\n",
        b"POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    ],
    ids=["long request line", "200 headers", "not http", "negative length"],
)
def test_malformed_http(server: ServerProcess, head: bytes) -> None:
    workers = server.child_pids()
    assert 400 <= raw_request(server, head) < 500
    assert_still_serving(server, workers)


def test_uploads_never_reach_the_disk(server: ServerProcess) -> None:
    """No file written during the uploads, in the temp dirs or the working tree, holds their bytes."""
    started = time.time() - 1
    marker = b"UPLOAD-MARKER-" + os.urandom(8).hex().encode()
    requests.post(server.url + PREDICT, data=DIGIT + marker, headers={"Content-Type": "image/png"}, timeout=10)
    body, ctype = multipart(3)
    requests.post(server.url + PREDICT, data=body + marker, headers={"Content-Type": ctype}, timeout=10)
    for folder in ("/tmp", "/dev/shm", os.getcwd()):
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if d not in {".venv", ".git", "proc", "node_modules"}]
            for name in files:
                path = os.path.join(root, name)
                try:
                    if os.path.getmtime(path) >= started and os.path.getsize(path) < 50_000_000:
                        with open(path, "rb") as f:
                            assert marker not in f.read(), path
                except OSError:
                    continue


def trickle(server: ServerProcess, head: bytes, slow: bytes, interval: float = 0.1) -> tuple[int, dict]:
    """Send `head`, then `slow` a byte per interval until the server answers; its status and JSON body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        for byte in slow:
            if select.select([sock], [], [], interval)[0]:
                break  # the server has answered (or closed)
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
        answer = read_answer(sock)
    status = status_of(answer)
    return status, json.loads(answer.split(b"\r\n\r\n", 1)[1] or b"{}") if status else {}


@pytest.fixture(scope="module")
def impatient_server():
    """The service with one-second limits on a request's head and on its upload."""
    process = servers.gunicorn(env={"HEAD_SECONDS": "1", "UPLOAD_SECONDS": "1"})
    yield process
    process.stop()


SLOW_HEAD = b"POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n"


@pytest.mark.parametrize("clients", [1, 3])
def test_slow_loris_trickling_headers_gets_408(impatient_server: ServerProcess, clients: int) -> None:
    workers = impatient_server.child_pids()
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(lambda _: trickle(impatient_server, b"", SLOW_HEAD % len(DIGIT)), range(clients)))
    assert [(status, body.get("code")) for status, body in answers] == [(408, "request_timeout")] * clients
    assert_still_serving(impatient_server, workers)


@pytest.mark.parametrize("multipart_body", [False, True], ids=["raw", "multipart"])
def test_slow_client_trickling_its_body_gets_408(impatient_server: ServerProcess, multipart_body: bool) -> None:
    workers = impatient_server.child_pids()
    body, ctype = multipart(1) if multipart_body else (DIGIT, "image/png")
    head = SLOW_HEAD.replace(b"image/png", ctype.encode()) % len(body)
    status, answer = trickle(impatient_server, head, body)
    assert status == 408 and answer["code"] == "upload_timeout"
    assert_still_serving(impatient_server, workers)


def test_fast_uploads_are_not_cut_short(impatient_server: ServerProcess) -> None:
    """The limits bound slow clients only: a large upload sent at once is read whole."""
    big = png_bytes(RNG.integers(0, 256, (1500, 1500), dtype=np.uint8))  # ~2 MB of noise
    response = requests.post(impatient_server.url + PREDICT, data=big, headers={"Content-Type": "image/png"})
    assert response.status_code in (200, 422), response.text

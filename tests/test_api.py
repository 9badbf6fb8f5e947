"""The HTTP API in-process (falcon.testing): every status code, both upload styles, one error shape."""

from __future__ import annotations

import base64
import io
import json
import time

import falcon.testing
import numpy as np
import pytest
from PIL import Image

from server.app import create_app
from server.config import Config
from server.middleware import SECURITY_HEADERS
from tests.conftest import encode, png_bytes


@pytest.fixture(scope="module")
def seven_png(mnist_test) -> bytes:
    images, labels = mnist_test
    digit = images[np.flatnonzero(labels == 7)[0]]
    return png_bytes(255 - np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BICUBIC)))


Field = tuple[str, bytes, str]  # filename, bytes, content type


def multipart(fields: dict[str, Field] | list[tuple[str, Field]], boundary: str = "XyZzy") -> tuple[bytes, str]:
    """Encode a multipart/form-data body by hand (name -> (filename, bytes, content type)); a list may repeat names."""
    body = b""
    for name, (filename, data, ctype) in fields.items() if isinstance(fields, dict) else fields:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def assert_error(result: falcon.testing.Result, status: int, code: str) -> None:
    assert result.status_code == status, result.text
    assert result.headers["content-type"].startswith("application/json")
    body = result.json
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in result.text


def test_predict_raw_png(client, seven_png: bytes) -> None:
    result = client.simulate_post("/api/v1/predict", body=seven_png, headers={"Content-Type": "image/png"})
    assert result.status_code == 200, result.text
    body = result.json
    assert body["digit"] == 7
    assert body["confidence"] == pytest.approx(max(body["probabilities"]))
    assert len(body["probabilities"]) == 10 and sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-6)
    assert [t["digit"] for t in body["top"]] == list(np.argsort(body["probabilities"])[::-1][:3])
    assert body["top"][0]["probability"] >= body["top"][1]["probability"] >= body["top"][2]["probability"]
    assert body["model"] == client.simulate_get("/api/v1/model").json["version"]
    prefix = "data:image/png;base64,"
    assert body["input"].startswith(prefix)
    seen = Image.open(io.BytesIO(base64.b64decode(body["input"][len(prefix) :])))
    assert seen.size == (28, 28) and seen.mode == "L"
    pixels = np.asarray(seen)
    assert pixels.max() > 200 and pixels[0].max() < 30, "white digit on a black border, like MNIST"


def test_predict_multipart(client, seven_png: bytes) -> None:
    body, ctype = multipart({"note": ("n.txt", b"hello", "text/plain"), "image": ("seven.png", seven_png, "image/png")})
    result = client.simulate_post("/api/v1/predict", body=body, headers={"Content-Type": ctype})
    assert result.status_code == 200, result.text
    assert result.json["digit"] == 7


@pytest.mark.parametrize("ctype", ["application/octet-stream", "image/jpeg", "image/webp"])
def test_content_type_need_not_match_the_bytes(client, seven_png: bytes, ctype: str) -> None:
    result = client.simulate_post("/api/v1/predict", body=seven_png, headers={"Content-Type": ctype})
    assert result.status_code == 200 and result.json["digit"] == 7


def test_blank_is_422_no_digit(client) -> None:
    blank = png_bytes(np.zeros((280, 280, 4), dtype=np.uint8))
    result = client.simulate_post("/api/v1/predict", body=blank, headers={"Content-Type": "image/png"})
    assert_error(result, 422, "no_digit")


@pytest.mark.parametrize("path", ["/api/v1/predict", "/api/v1/read"])
@pytest.mark.parametrize(("mode", "dtype"), [("I;16B", ">u2"), ("I;16L", "<u2"), ("I", "<i4"), ("F", "<f4")])
def test_wide_sample_tiffs_are_read(client, mnist_test, path: str, mode: str, dtype: str) -> None:
    """16-bit of either byte order, 32-bit and float TIFFs: read, not a 500."""
    images, labels = mnist_test
    seven = np.asarray(Image.fromarray(images[np.flatnonzero(labels == 7)[0]]).resize((112, 112)), np.int32)
    digit = (seven * 100).astype(dtype)  # in the mode's byte order: numpy's arithmetic gives the machine's own
    data = encode(Image.frombytes(mode, (112, 112), digit.tobytes()), "TIFF")
    result = client.simulate_post(path, body=data, headers={"Content-Type": "image/tiff"})
    assert result.status_code == 200, result.text
    assert result.json["digit" if path.endswith("predict") else "text"] in (7, "7")


def la_tiff() -> bytes:
    """Grey with premultiplied alpha (Pillow's mode La), which Pillow reads but will not write: an LA TIFF, patched."""
    data = encode(Image.new("LA", (64, 64), (0, 255)), "TIFF")
    extra_samples_unassociated = b"\x52\x01\x03\x00\x01\x00\x00\x00\x02\x00"  # tag 338, SHORT, 1 value: 2
    return data.replace(extra_samples_unassociated, extra_samples_unassociated[:-2] + b"\x01\x00")


HUGE = np.full((1300, 1300), -3e38)  # a 1 of +3e38 on -3e38: float32 block sums overflow, inf - inf is NaN
HUGE[200:1100, 600:700] = 3e38


@pytest.mark.parametrize("path", ["/api/v1/predict", "/api/v1/read"])
@pytest.mark.parametrize(
    ("data", "status"),
    [
        (la_tiff(), 422),
        (encode(Image.new("L", (64, 64), 255), "PNG", exif=b"II*\x00"), 422),
        (encode(Image.new("L", (64, 64), 255), "PNG", exif=b"MM\x00*\x00\x00"), 422),
        (encode(Image.fromarray(HUGE.astype(np.float32)), "TIFF"), 200),
    ],
    ids=["La TIFF", "truncated EXIF II", "truncated EXIF MM", "float TIFF of +-3e38"],
)
def test_odd_but_decodable_images_are_not_a_500(client, path: str, data: bytes, status: int) -> None:
    """Each of these once answered 500: Pillow's La mode, a 4-byte EXIF block, float sums overflowing."""
    result = client.simulate_post(path, body=data, headers={"Content-Type": "application/octet-stream"})
    assert result.status_code == status, result.text


@pytest.mark.parametrize("path", ["/api/v1/predict", "/api/v1/read"])
def test_float_tiff_of_nan_and_infinity_is_422(client, path: str) -> None:
    """Non-finite samples hold no ink: a blank, not NaN arithmetic ending in a 500."""
    pixels = np.full((60, 60), np.nan, np.float32)
    pixels[10:50, 25:32] = np.inf
    result = client.simulate_post(
        path, body=encode(Image.fromarray(pixels), "TIFF"), headers={"Content-Type": "image/tiff"}
    )
    assert_error(result, 422, "no_digit")


@pytest.mark.parametrize("data", [b"", b"garbage" * 10, b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_undecodable_is_400_invalid_image(client, data: bytes) -> None:
    result = client.simulate_post("/api/v1/predict", body=data, headers={"Content-Type": "image/png"})
    assert_error(result, 400, "invalid_image")
    assert "BytesIO" not in result.json["message"] and " at 0x" not in result.json["message"]


@pytest.mark.parametrize("ctype", ["application/json", "text/plain", "image/svg+xml", "text/html", None])
def test_other_media_types_are_415(client, seven_png: bytes, ctype: str | None) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    result = client.simulate_post("/api/v1/predict", body=seven_png, headers=headers)
    assert_error(result, 415, "unsupported_media_type")


def test_over_byte_limit_is_413() -> None:
    small = falcon.testing.TestClient(create_app(Config(max_upload_bytes=1000)))
    result = small.simulate_post("/api/v1/predict", body=b"\0" * 5000, headers={"Content-Type": "image/png"})
    assert_error(result, 413, "too_large")


def test_read_of_a_grid_of_dots_is_422_too_complex(client) -> None:
    """6,400 separate marks: each would cost a mask of the whole image (gigabytes), so they are refused."""
    grid = np.full((640, 640), 255, np.uint8)
    grid[::8, ::8] = grid[1::8, ::8] = grid[::8, 1::8] = grid[1::8, 1::8] = 0
    result = client.simulate_post("/api/v1/read", body=png_bytes(grid), headers={"Content-Type": "image/png"})
    assert_error(result, 422, "too_complex")


def test_read_over_its_time_limit_is_422_too_complex() -> None:
    """A 3-pixel-high zigzag is hundreds of 'digits' wide: reading it took minutes before the limit.

    (A straight line would be erased as a printed rule, and be no digit at all.)
    """
    hasty = falcon.testing.TestClient(create_app(Config(read_seconds=0.5)))
    line = np.full((3, 640), 255, np.uint8)
    columns = np.arange(640)
    line[np.abs(columns % 4 - 2) % 3, columns] = 0
    started = time.monotonic()
    result = hasty.simulate_post("/api/v1/read", body=png_bytes(line), headers={"Content-Type": "image/png"})
    assert_error(result, 422, "too_complex")
    assert time.monotonic() - started < 10  # the limit, not the minutes the reading would take


def test_multipart_image_over_the_byte_limit_is_413(seven_png: bytes) -> None:
    small = falcon.testing.TestClient(create_app(Config(max_upload_bytes=1000)))
    body, ctype = multipart({"image": ("seven.png", seven_png, "image/png")})
    assert len(seven_png) > 1000
    assert_error(small.simulate_post("/api/v1/predict", body=body, headers={"Content-Type": ctype}), 413, "too_large")


def test_multipart_with_non_utf8_part_headers_is_400(client, seven_png: bytes) -> None:
    body = b'--XyZzy\r\nContent-Disposition: form-data; name="image"; filename="\xe9.png"\r\n\r\n' + seven_png
    body += b"\r\n--XyZzy--\r\n"
    result = client.simulate_post(
        "/api/v1/read", body=body, headers={"Content-Type": "multipart/form-data; boundary=XyZzy"}
    )
    assert_error(result, 400, "invalid_multipart")


@pytest.mark.parametrize("ctype", ["image/png", "multipart/form-data; boundary=XyZzy"])
def test_chunked_upload_is_411(client, seven_png: bytes, ctype: str) -> None:
    """A chunked upload (no Content-Length): its size is unknown until it is read, so it is refused up front."""
    environ = falcon.testing.create_environ(
        "/api/v1/predict", method="POST", body=seven_png, headers={"Content-Type": ctype}
    )
    del environ["CONTENT_LENGTH"]
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    start = falcon.testing.StartResponseMock()
    body = json.loads(b"".join(client.app(environ, start)))
    assert start.status.startswith("411") and body["code"] == "length_required"


def test_over_pixel_limit_is_413(seven_png: bytes) -> None:
    small = falcon.testing.TestClient(create_app(Config(max_image_pixels=10_000)))
    result = small.simulate_post("/api/v1/predict", body=seven_png, headers={"Content-Type": "image/png"})
    assert_error(result, 413, "too_large")


def test_multipart_without_the_field_is_400(client, seven_png: bytes) -> None:
    body, ctype = multipart({"file": ("seven.png", seven_png, "image/png")})
    result = client.simulate_post("/api/v1/predict", body=body, headers={"Content-Type": ctype})
    assert_error(result, 400, "missing_image")


@pytest.mark.parametrize("body", [b"--nope\r\ngarbage", b""])
def test_malformed_or_empty_multipart_is_400(client, body: bytes) -> None:
    result = client.simulate_post(
        "/api/v1/predict", body=body, headers={"Content-Type": "multipart/form-data; boundary=XyZzy"}
    )
    assert_error(result, 400, "invalid_multipart")


def test_multipart_with_too_many_parts_is_400(client, seven_png: bytes) -> None:
    fields = {f"f{i}": ("x.txt", b"x", "text/plain") for i in range(300)}  # a batch's 256 images and a few more
    fields["image"] = ("seven.png", seven_png, "image/png")
    body, ctype = multipart(fields)
    result = client.simulate_post("/api/v1/predict", body=body, headers={"Content-Type": ctype})
    assert_error(result, 400, "invalid_multipart")


def test_unknown_route_and_method_are_json(client) -> None:
    assert_error(client.simulate_get("/nope"), 404, "not_found")
    assert_error(client.simulate_get("/api/v1/predict"), 405, "method_not_allowed")


class Exploding:
    def on_post(self, req, resp) -> None:
        raise RuntimeError("secret internal detail")


def test_unexpected_exception_is_a_bare_500_with_request_id(caplog) -> None:
    app = create_app(Config())
    app.add_route("/explode", Exploding())
    result = falcon.testing.TestClient(app).simulate_post("/explode", headers={"X-Request-ID": "abc-123"})
    assert_error(result, 500, "internal_error")
    assert "secret" not in result.text and result.json["request_id"] == "abc-123"
    assert "abc-123" in caplog.text and "secret internal detail" in caplog.text


def test_healthz_model_card_and_openapi(client) -> None:
    health = client.simulate_get("/healthz")
    assert health.status_code == 200 and health.json["status"] == "ok"
    card = client.simulate_get("/api/v1/model").json
    assert card["sha256"].startswith(health.json["model"]) and card["version"] == health.json["model"]
    spec = client.simulate_get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    predict = spec["paths"]["/api/v1/predict"]["post"]
    assert {"image/png", "multipart/form-data"} <= set(predict["requestBody"]["content"])
    assert {"200", "400", "413", "415", "422"} <= set(predict["responses"])


def test_page_is_served(client) -> None:
    result = client.simulate_get("/")
    assert result.status_code == 200 and result.headers["content-type"].startswith("text/html")
    assert b"<html" in result.content.lower()
    assert client.simulate_head("/").status_code == 200 and client.simulate_head("/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/", "/healthz", "/nope", "/api/v1/model"])
def test_security_headers_on_every_response(client, path: str) -> None:
    result = client.simulate_get(path)
    for name, value in SECURITY_HEADERS.items():
        assert result.headers[name] == value
    assert "frame-ancestors 'none'" in result.headers["content-security-policy"]
    assert result.headers["x-request-id"]


@pytest.mark.parametrize(
    "path",
    ["/static/../server/app.py", "/static/..%2fserver%2fapp.py", "/static/%2e%2e/server/app.py", "/static//etc/passwd"],
)
def test_static_route_allows_no_traversal(client, path: str) -> None:
    result = client.simulate_get(path)
    assert result.status_code == 404
    assert b"create_app" not in result.content and b"root:" not in result.content


def test_error_bodies_are_json_documents(client) -> None:
    result = client.simulate_post("/api/v1/predict", body=b"x", headers={"Content-Type": "text/plain"})
    assert set(json.loads(result.text)) >= {"code", "message"}


# --- The batch endpoint -----------------------------------------------------------------------------


def post_batch(client, images: list[bytes], name: str = "image") -> falcon.testing.Result:
    body, ctype = multipart([(name, (f"{k}.png", data, "image/png")) for k, data in enumerate(images)])
    return client.simulate_post("/api/v1/predict/batch", body=body, headers={"Content-Type": ctype})


def test_batch_answers_each_image_in_order_as_predict_does(client, mnist_test, seven_png: bytes) -> None:
    images, labels = mnist_test
    four = png_bytes(255 - images[np.flatnonzero(labels == 4)[0]])
    blank, garbage = png_bytes(np.full((60, 60), 255, np.uint8)), b"not an image"
    result = post_batch(client, [seven_png, blank, garbage, four, seven_png])
    assert result.status_code == 200, result.text
    body = result.json
    assert body["model"] == client.simulate_get("/api/v1/model").json["version"]
    seven, no_digit, invalid, four_read, again = body["results"]
    assert (seven["digit"], four_read["digit"]) == (7, 4) and again == seven
    assert no_digit["error"]["code"] == "no_digit" and invalid["error"]["code"] == "invalid_image"
    single = client.simulate_post("/api/v1/predict", body=seven_png, headers={"Content-Type": "image/png"}).json
    assert seven["top"] == single["top"] and seven["confidence"] == pytest.approx(single["confidence"], abs=1e-6)
    assert seven["probabilities"] == pytest.approx(single["probabilities"], abs=1e-6)


def test_batch_limits_are_413_400_and_415(client, seven_png: bytes) -> None:
    from server.uploads import MAX_BATCH_BYTES, MAX_BATCH_IMAGES

    too_many = post_batch(client, [b"x"] * (MAX_BATCH_IMAGES + 1))
    assert_error(too_many, 413, "too_large")
    assert too_many.json["limit_images"] == MAX_BATCH_IMAGES
    assert_error(post_batch(client, [b"x" * (MAX_BATCH_BYTES // 4)] * 5), 413, "too_large")
    assert_error(post_batch(client, [seven_png], name="file"), 400, "missing_image")
    raw = client.simulate_post("/api/v1/predict/batch", body=seven_png, headers={"Content-Type": "image/png"})
    assert_error(raw, 415, "unsupported_media_type")
    small = falcon.testing.TestClient(create_app(Config(max_upload_bytes=1000)))
    assert_error(post_batch(small, [seven_png]), 413, "too_large")  # each image keeps the single-image limit


def test_batch_over_its_time_limit_is_422_too_complex(seven_png: bytes) -> None:
    hasty = falcon.testing.TestClient(create_app(Config(read_seconds=0.05)))
    assert_error(post_batch(hasty, [seven_png] * 200), 422, "too_complex")

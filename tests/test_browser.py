"""The web page in a real browser: Debian's Chromium, driven by Playwright, against real gunicorn.

Digits are drawn stroke by stroke with the mouse and with touch along the hand-authored paths in
web/samples.json, uploaded through the file chooser, dropped and pasted; the page must read them,
explain failures in plain words, and never log a console error or a CSP violation.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image, ImageChops, ImageDraw
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, expect, sync_playwright

from datasets import renders

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
# Screenshots go to a temporary folder, so a test run leaves the tree clean; `make screenshots`
# points SCREENSHOTS_DIR at docs/ to refresh the README's pictures.
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="screenshots-"))
SAMPLES: dict[str, list[list[list[float]]]] = json.loads((ROOT / "web" / "samples.json").read_text())["digits"]
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
# Phone screens less the browser's toolbars, upright and on their side: the answer must show on each while drawing.
HANDSETS = [(390, 664), (360, 640), (664, 390), (640, 360)]
WAIT_MS = 30_000  # two cores and a training job: be patient
MARGIN = 0.17  # drawn digits keep this fraction of the pad free on each side
PNG_SIDE = 300

# Counts predict requests and how many are in flight at once; can delay them to widen race windows;
# records CSP violations and the pointer types the pad saw.
INSTRUMENT = """
(() => {
  const stats = { calls: 0, inFlight: 0, maxInFlight: 0, starts: [], delay: 0 };
  window.__predict = stats;
  window.__csp = [];
  window.__pointers = [];
  window.__lastPointerUp = 0;
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
  });
  document.addEventListener('pointerdown', (e) => window.__pointers.push(e.pointerType), true);
  document.addEventListener('pointerup', () => { window.__lastPointerUp = performance.now(); }, true);
  const original = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    if (!String(input).includes('/api/v1/predict')) return original(input, init);
    stats.calls += 1;
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    stats.starts.push(performance.now());
    try {
      if (stats.delay) await new Promise((resolve) => setTimeout(resolve, stats.delay));
      return await original(input, init);
    } finally {
      stats.inFlight -= 1;
    }
  };
})();
"""

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# --- Fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; a missing browser is a failure, never a skip."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium). "
            "Playwright's own browser download is not used."
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


class App:
    """One page of the app in a fresh browser context, with its console watched."""

    def __init__(self, browser: Browser, base_url: str, **context_options) -> None:
        self.base_url = base_url
        self.context: BrowserContext = browser.new_context(**context_options)
        self.context.set_default_timeout(WAIT_MS)
        self.context.add_init_script(INSTRUMENT)
        self.page: Page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.console.append(f"uncaught exception: {exc}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(message.text)

    def open(self) -> Page:
        self.page.goto(self.base_url + "/")
        # The gallery is built from samples.json once the script has run.
        expect(self.page.get_by_test_id("samples").get_by_role("button")).to_have_count(10)
        expect(self.page.locator("body")).to_have_attribute("data-state", "idle")
        return self.page

    def by(self, test_id: str):
        return self.page.get_by_test_id(test_id)

    def settle(self) -> str:
        """Wait until the page has answered the latest input ("done" or "error"); return that state."""
        body = self.page.locator("body")
        expect(body).to_have_attribute("data-state", re.compile(r"^(done|error)$"), timeout=WAIT_MS)
        return body.get_attribute("data-state")

    def expect_digit(self, digit: int) -> None:
        state = self.settle()
        error = self.by("error").text_content()
        assert state == "done", f"expected a reading of {digit}, the page says: {error!r}"
        shown = self.by("prediction").text_content()
        top = self.page.locator("[data-testid=probabilities] [data-digit]").evaluate_all(
            "bars => bars.map(b => [b.dataset.digit, Number(b.dataset.probability)])"
            ".sort((a, b) => b[1] - a[1]).slice(0, 3)"
        )
        assert shown == str(digit), f"drew/sent a {digit}, the page reads {shown!r} (top three: {top})"

    def expect_answer_shown(self) -> None:
        """The answer's parts are all there: confidence, ten bars with the winner highlighted, the 28x28 input."""
        digit = self.by("prediction").text_content()
        assert re.fullmatch(r"[0-9]", digit or ""), digit
        expect(self.by("confidence")).to_have_text(re.compile(r"^\d{1,3}(\.\d)?%$"))
        bars = self.by("probabilities").locator("[data-digit]")
        expect(bars).to_have_count(10)
        values = bars.evaluate_all("bars => bars.map(b => [b.dataset.digit, Number(b.dataset.probability)])")
        assert [d for d, _ in values] == [str(i) for i in range(10)]
        probabilities = [p for _, p in values]
        assert abs(sum(probabilities) - 1) < 1e-3, probabilities
        assert max(range(10), key=probabilities.__getitem__) == int(digit)
        confidence = float(self.by("confidence").text_content().rstrip("%"))
        assert abs(confidence - 100 * max(probabilities)) <= 0.051
        expect(bars.nth(int(digit))).to_have_class(re.compile(r"\bwinner\b"))
        expect(self.by("probabilities").locator(".winner")).to_have_count(1)
        # Each bar says its value in text, not only in its length.
        expect(bars.nth(int(digit))).to_contain_text(self.by("confidence").text_content())
        model_input = self.by("model-input")
        expect(model_input).to_be_visible()
        assert model_input.get_attribute("src").startswith("data:image/png;base64,")
        assert model_input.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]") == [True, 28, 28]
        shown = model_input.bounding_box()
        assert shown["width"] >= 84 and shown["height"] >= 84, shown  # scaled up for people to see
        assert model_input.evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
        expect(self.by("error")).to_be_hidden()

    def expect_number(self, text: str) -> None:
        """The page reads `text` in number mode, one list item per digit with its 28x28 input."""
        state = self.settle()
        assert state == "done", f"expected a reading of {text}, the page says: {self.by('error').text_content()!r}"
        expect(self.by("prediction")).to_have_text(text)
        items = self.by("reading-digits").locator("li")
        expect(items).to_have_count(len(text))
        assert items.evaluate_all("items => items.map(i => i.dataset.digit)") == list(text)
        sizes = items.locator("img").evaluate_all("imgs => imgs.map(i => [i.complete, i.naturalWidth])")
        assert sizes == [[True, 28]] * len(text)
        expect(self.by("confidence")).to_have_text(re.compile(r"^\d{1,3}(\.\d)?%$"))
        expect(self.by("probabilities")).to_be_hidden()  # the single-digit chart makes way for the digits

    def assert_clean_console(self, allowed: tuple[str, ...] = ()) -> None:
        """No console errors (CSP violations are reported there too) except the expected failed requests."""
        unexpected = [m for m in self.console if not any(a in m for a in allowed)]
        assert unexpected == [], f"console errors: {unexpected}"
        assert self.page.evaluate("window.__csp") == [], "CSP violations"

    def predict_stats(self) -> dict:
        return self.page.evaluate("window.__predict")

    def close(self) -> None:
        self.context.close()


def _opened(browser: Browser, url: str, settings: dict) -> Iterator[App]:
    app = App(browser, url, **settings)
    app.open()
    yield app
    app.close()


@pytest.fixture
def app(browser: Browser, gunicorn_server) -> Iterator[App]:
    """The page on a desktop-sized screen."""
    yield from _opened(browser, gunicorn_server.url, DESKTOP)


@pytest.fixture
def phone(browser: Browser, gunicorn_server) -> Iterator[App]:
    """The page on a phone: small screen, touch, 2x pixels."""
    yield from _opened(browser, gunicorn_server.url, PHONE)


@pytest.fixture(params=HANDSETS, ids=lambda size: "{}x{}".format(*size))
def handset(request: pytest.FixtureRequest, browser: Browser, gunicorn_server) -> Iterator[App]:
    """The page on a small phone screen, upright or on its side, with touch."""
    width, height = request.param
    yield from _opened(browser, gunicorn_server.url, PHONE | {"viewport": {"width": width, "height": height}})


# --- Drawing and images -------------------------------------------------------------------------


def stroke_points(stroke: list[list[float]], box: dict, margin: float = MARGIN, step_px: float = 4.0):
    """A sample stroke (0..1 box) in page pixels inside `box`, interpolated every few pixels."""
    inner = 1 - 2 * margin
    points = [(box["x"] + box["width"] * (margin + x * inner), box["y"] + box["height"] * (margin + y * inner))
              for x, y in stroke]  # fmt: skip
    dense = [points[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step_px))
        dense += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(1, n + 1)]
    return dense


def draw_with_mouse(page: Page, digit: int, strokes: list | None = None) -> None:
    """Draw a digit (or the given strokes) on the pad with the mouse, stroke by stroke."""
    box = page.get_by_test_id("draw-canvas").bounding_box()
    for stroke in strokes if strokes is not None else SAMPLES[str(digit)]:
        mouse_stroke(page, stroke_points(stroke, box, step_px=12), steps=3)


def mouse_stroke(page: Page, points: list[tuple[float, float]], steps: int) -> None:
    """One stroke with the mouse: press at the first point, move through the rest, release."""
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()


def draw_with_touch(page: Page, digit: int) -> None:
    """Draw a digit with a finger, stroke by stroke."""
    box = page.get_by_test_id("draw-canvas").bounding_box()
    touch_strokes(page, [stroke_points(stroke, box) for stroke in SAMPLES[str(digit)]])


def touch_strokes(page: Page, strokes: list[list[tuple[float, float]]], hz: float = 0, lift_s: float = 0) -> None:
    """Strokes (page pixels) drawn with a finger: raw CDP touch events, as a touch screen sends them.

    With hz, the finger moves at a hand's pace: one touch event every 1/hz seconds, lifted for lift_s between strokes.
    """
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, points: list[tuple[float, float]]) -> None:
        touch_points = [{"x": x, "y": y, "id": 1} for x, y in points]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touch_points})

    for k, points in enumerate(strokes):
        if k and lift_s:
            time.sleep(lift_s)
        started = time.monotonic()
        touch("touchStart", points[:1])
        for i, point in enumerate(points[1:], start=1):
            if hz:  # on a schedule, so slow round trips do not slow the finger down
                time.sleep(max(0.0, started + i / hz - time.monotonic()))
            touch("touchMove", [point])
        touch("touchEnd", [])
    cdp.detach()


def digit_png(digit: int, side: int = PNG_SIDE) -> bytes:
    """A digit from the sample paths as dark ink on white paper, like a photo or scan of a written digit."""
    image = Image.new("RGB", (side, side), "white")
    pen = ImageDraw.Draw(image)
    width = round(side / 14)
    margin, inner = side * 0.15, side * 0.7
    for stroke in SAMPLES[str(digit)]:
        points = [(margin + x * inner, margin + y * inner) for x, y in stroke]
        pen.line(points, fill=(32, 32, 40), width=width, joint="curve")
        for x, y in points:  # round caps and smooth joins
            pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=(32, 32, 40))
    return png(image)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def canvas_ink(page: Page) -> int:
    """How many pad pixels carry ink."""
    return page.get_by_test_id("draw-canvas").evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1; return n; }"""
    )


def ink_in_boxes(page: Page) -> float:
    """The fraction of the pad's ink that lies inside the boxes shown over it."""
    return page.get_by_test_id("draw-canvas").evaluate(
        """c => {
             const r = c.getBoundingClientRect(), sx = c.width / r.width, sy = c.height / r.height;
             const boxes = [...document.querySelectorAll('#pad-boxes .box')].map((b) => b.getBoundingClientRect())
               .map((b) => [(b.left - r.left) * sx, (b.top - r.top) * sy,
                            (b.right - r.left) * sx, (b.bottom - r.top) * sy]);
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let all = 0, inside = 0;
             for (let y = 0; y < c.height; y += 1) for (let x = 0; x < c.width; x += 1) {
               if (d[(y * c.width + x) * 4 + 3] < 128) continue;
               all += 1;
               if (boxes.some(([l, t, rt, b]) => x >= l - 2 && x <= rt + 2 && y >= t - 2 && y <= b + 2)) inside += 1;
             }
             return inside / all;
           }"""
    )


def number_strokes(page: Page, text: str, step_px: float = 8) -> list[list[tuple[float, float]]]:
    """A number's sample strokes in page pixels: each digit in its own square slot along the pad."""
    pad = page.get_by_test_id("draw-canvas").bounding_box()
    side = min(pad["width"] / len(text), pad["height"])
    strokes = []
    for i, ch in enumerate(text):
        slot = {"x": pad["x"] + i * side, "y": pad["y"] + (pad["height"] - side) / 2, "width": side, "height": side}
        strokes += [stroke_points(stroke, slot, step_px=step_px) for stroke in SAMPLES[ch]]
    return strokes


def draw_number(page: Page, text: str) -> None:
    """Write a number with the mouse, digit by digit."""
    for points in number_strokes(page, text):
        mouse_stroke(page, points, steps=2)


def number_png(text: str, side: int = PNG_SIDE) -> bytes:
    """A written number on white paper: the digits of digit_png side by side, overlapping their margins."""
    step = round(side * 0.65)
    sheet = Image.new("RGB", (step * (len(text) - 1) + side, side), "white")
    for i, ch in enumerate(text):
        digit = Image.open(io.BytesIO(digit_png(int(ch), side)))
        sheet.paste(ImageChops.darker(sheet.crop((i * step, 0, i * step + side, side)), digit), (i * step, 0))
    return png(sheet)


def inside(box: dict, view: dict) -> bool:
    """Whether a bounding box lies wholly inside a viewport of the given size."""
    return 0 <= box["x"] <= view["width"] - box["width"] and 0 <= box["y"] <= view["height"] - box["height"]


def expect_in_view(page: Page, locator: Locator) -> None:
    """Wait until the element's bounding box lies wholly inside the viewport (a smooth scroll may be under way)."""
    view = page.viewport_size
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        box = locator.bounding_box()
        if box and box["height"] > 0 and inside(box, view):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{locator} is out of view: {box} in a {view['width']}x{view['height']} viewport")
        page.wait_for_timeout(50)


def canvas_pixels(page: Page) -> str:
    return page.get_by_test_id("draw-canvas").evaluate("c => c.toDataURL()")


def file_in_page(page: Page, data: bytes, name: str, mime: str):
    """A DataTransfer holding one file, made in the page from the given bytes."""
    return page.evaluate_handle(
        """([b64, name, type]) => {
             const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
             const transfer = new DataTransfer();
             transfer.items.add(new File([bytes], name, { type }));
             return transfer;
           }""",
        [base64.b64encode(data).decode("ascii"), name, mime],
    )


# --- Drawing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("digit", range(10))
def test_drawn_digit_is_read(app: App, digit: int) -> None:
    """A digit drawn with the mouse, stroke by stroke, is read as that digit, with the full answer shown."""
    page = app.page
    draw_with_mouse(page, digit)
    assert canvas_ink(page) > 0
    app.expect_digit(digit)
    app.expect_answer_shown()
    assert app.page.evaluate("window.__pointers").count("mouse") == len(SAMPLES[str(digit)])
    expect(app.by("source")).to_have_text("your drawing")
    if digit == 3:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "screenshot-desktop.png"))
    app.assert_clean_console()


@pytest.mark.parametrize("label", [0, 4, 7])
def test_real_handwriting_drawn_stroke_by_stroke(app: App, mnist_test, label: int) -> None:
    """Pen paths traced from the centre lines of MNIST test digits, replayed with the mouse."""
    images, labels = mnist_test
    index = int(np.flatnonzero(labels == label)[0])  # the first test example of each class
    strokes = renders.pen_strokes(images[index])
    draw_with_mouse(app.page, label, strokes=strokes)
    app.expect_digit(label)
    app.assert_clean_console()


def test_drawn_with_touch_on_a_phone(phone: App) -> None:
    """On a phone, a digit drawn with a finger is read, and the page does not scroll under the finger."""
    page = phone.page
    pad = phone.by("draw-canvas")
    pad.scroll_into_view_if_needed()
    assert pad.evaluate("c => getComputedStyle(c).touchAction") == "none"
    scroll_before = page.evaluate("window.scrollY")
    draw_with_touch(page, 2)
    phone.expect_digit(2)
    phone.expect_answer_shown()
    assert page.evaluate("window.scrollY") == scroll_before, "the page scrolled while drawing"
    assert set(page.evaluate("window.__pointers")) == {"touch"}
    # Drawn crisply for the screen's pixel density.
    width, css_width = pad.evaluate("c => [c.width, c.getBoundingClientRect().width]")
    assert width == round(css_width * 2)
    # Stacked on a phone: the pad, then the answer below it, nothing wider than the screen.
    pad_box, result_box = pad.bounding_box(), page.locator("#result").bounding_box()
    assert result_box["y"] >= pad_box["y"] + pad_box["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert pad_box["width"] >= 280, "the pad is too small for a finger"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "screenshot-phone.png"))
    phone.assert_clean_console()


@pytest.mark.parametrize("mode", ["digit", "number"])
def test_answer_in_view_while_drawing_by_touch(handset: App, mode: str) -> None:
    """On a small phone, upright or on its side, the pad and the answer both show as the page opens: what a finger
    draws is read in view, with nothing scrolled and nothing wider than the screen."""
    page = handset.page
    handset.by(f"mode-{mode}").tap()
    expect(page.locator("body")).to_have_attribute("data-mode", mode)
    answer = handset.by("answer")
    expect_in_view(page, handset.by("draw-canvas"))
    expect_in_view(page, answer)
    if mode == "digit":
        draw_with_touch(page, 7)
        handset.expect_digit(7)
    else:
        touch_strokes(page, number_strokes(page, "42"))
        handset.expect_number("42")
    assert page.evaluate("window.scrollY") == 0, "the page scrolled"
    assert set(page.evaluate("window.__pointers")) == {"touch"}
    for part in (answer, handset.by("prediction"), handset.by("confidence"), page.locator("#runner-up")):
        if part.text_content():
            expect_in_view(page, part)
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    handset.assert_clean_console()


@pytest.mark.parametrize("how", ["sample", "upload", "blank upload"])
def test_answer_comes_into_view_after_a_sample_or_an_upload(handset: App, how: str) -> None:
    """On a small phone the samples and the file chooser sit below the answer: using them brings the answer
    (or the message saying what went wrong) into view."""
    page = handset.page
    blank = how == "blank upload"
    if how == "sample":
        handset.by("samples").get_by_role("button", name="Sample digit 3").tap()  # tap scrolls to the button
        handset.expect_digit(3)
    else:
        page.locator("label[for=upload-input]").scroll_into_view_if_needed()
        image = png(Image.new("RGB", (PNG_SIDE, PNG_SIDE), "white")) if blank else digit_png(6)
        handset.by("upload-input").set_input_files({"name": "photo.png", "mimeType": "image/png", "buffer": image})
        if blank:
            assert handset.settle() == "error"
        else:
            handset.expect_digit(6)
    expect_in_view(page, handset.by("error" if blank else "answer"))
    handset.assert_clean_console(allowed=("status of 422",))


def test_a_drawn_digit_costs_few_requests(phone: App) -> None:
    """A 4 drawn by touch at a hand's pace (60 events a second, about a second for its two strokes) costs a request
    per stroke, read at its end, and at most a couple more for pauses (a busy machine can stall the finger);
    a reading every 200 ms of drawing cost 10 to 12."""
    page = phone.page
    pad = phone.by("draw-canvas")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    strokes = [stroke_points(stroke, box, step_px=8) for stroke in SAMPLES["4"]]
    touch_strokes(page, strokes, hz=60, lift_s=0.15)
    phone.expect_digit(4)
    calls = phone.predict_stats()["calls"]
    assert calls <= len(strokes) + 2, f"{calls} requests for one digit of {len(strokes)} strokes"
    phone.assert_clean_console()


def test_drawing_is_read_live_with_one_request_at_a_time(app: App) -> None:
    """Readings arrive while drawing, requests never overlap or pile up, and the last one sends the final drawing."""
    page = app.page
    page.evaluate("window.__predict.delay = 300")  # a slow server: requests would overlap if the page let them
    box = app.by("draw-canvas").bounding_box()
    points = stroke_points(SAMPLES["7"][0], box, step_px=3)
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y)
        page.wait_for_timeout(15)
    # Still holding the pen: a reading of the unfinished stroke is already shown.
    expect(app.by("prediction")).to_have_text(re.compile(r"^[0-9]$"), timeout=WAIT_MS)
    during = app.predict_stats()["calls"]
    page.mouse.up()
    app.expect_digit(7)
    stats = app.predict_stats()
    assert stats["maxInFlight"] == 1, stats
    assert during >= 1
    assert stats["calls"] <= len(points) // 4, f"{stats['calls']} requests for {len(points)} pointer moves"
    assert stats["starts"][-1] >= page.evaluate("window.__lastPointerUp"), "the final drawing was not sent last"
    app.assert_clean_console()


def test_an_answer_for_a_cleared_drawing_is_dropped(app: App) -> None:
    """An answer arriving after Clear must not bring back a result for a drawing that is gone."""
    page = app.page
    page.evaluate("window.__predict.delay = 1200")
    draw_with_mouse(page, 1)
    assert app.predict_stats()["inFlight"] == 1
    app.by("clear").click()
    page.wait_for_function("() => window.__predict.inFlight === 0 && window.__predict.calls >= 1")
    page.wait_for_timeout(300)
    expect(app.by("prediction")).to_have_text("")
    expect(page.locator("body")).to_have_attribute("data-state", "idle")
    assert canvas_ink(page) == 0
    app.assert_clean_console()


def test_undo_removes_the_last_stroke_and_clear_resets(app: App) -> None:
    page = app.page
    expect(app.by("undo")).to_be_disabled()
    first, second = SAMPLES["4"]
    draw_with_mouse(page, 4, [first])
    after_first = canvas_pixels(page)
    app.settle()
    draw_with_mouse(page, 4, [second])
    app.expect_digit(4)
    input_for_four = app.by("model-input").get_attribute("src")
    assert canvas_pixels(page) != after_first

    app.by("undo").click()
    assert canvas_pixels(page) == after_first, "undo did not leave exactly the first stroke"
    assert app.settle() == "done"
    assert app.by("model-input").get_attribute("src") != input_for_four, "the drawing was not read again after undo"

    page.keyboard.press("Control+z")  # the keyboard shortcut undoes too: nothing left
    assert canvas_ink(page) == 0
    expect(page.locator("body")).to_have_attribute("data-state", "idle")

    draw_with_mouse(page, 5)
    app.expect_digit(5)
    app.by("clear").click()
    assert canvas_ink(page) == 0
    expect(page.locator("body")).to_have_attribute("data-state", "idle")
    expect(app.by("prediction")).to_have_text("")
    expect(app.by("confidence")).to_have_text("")
    expect(app.by("model-input")).to_be_hidden()
    expect(app.by("error")).to_be_hidden()
    assert app.by("probabilities").locator("[data-probability]").count() == 0
    expect(app.by("undo")).to_be_disabled()
    app.assert_clean_console()


# --- Samples ------------------------------------------------------------------------------------


def test_samples_gallery_draws_each_digit(app: App) -> None:
    """Each sample button has a label and a thumbnail, and replays its strokes onto the pad to be read."""
    page = app.page
    for digit in range(10):
        button = app.by("samples").get_by_role("button", name=f"Sample digit {digit}")
        assert button.locator("canvas").evaluate(
            "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0)"
        ), f"sample {digit} has no thumbnail"
        button.click()
        app.expect_digit(digit)
        assert canvas_ink(page) > 0
        expect(app.by("source")).to_have_text(f"sample {digit}")
    app.expect_answer_shown()
    app.assert_clean_console()


def test_keyboard_reaches_the_controls(app: App) -> None:
    """Controls are real buttons and a labelled file input, reachable with Tab, with a visible focus ring."""
    page = app.page
    expect(page.get_by_role("button", name="Undo")).to_be_visible()
    expect(page.get_by_role("button", name="Clear")).to_be_visible()
    expect(page.get_by_label("Choose image")).to_have_attribute("type", "file")
    focused = []
    for _ in range(8):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.getAttribute('aria-label') || document.activeElement.id"))
        if focused[-1] == "upload-input":  # the hidden input shows its focus on its visible label
            label_outline = page.evaluate(
                "getComputedStyle(document.querySelector('label[for=upload-input]')).outlineStyle"
            )
            assert label_outline not in ("", "none"), "no visible focus ring on the file chooser"
        if focused[-1] == "Sample digit 0":
            break
    assert "upload-input" in focused, focused
    assert focused[-1] == "Sample digit 0", focused
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "no visible focus ring"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Sample digit 1
    app.expect_digit(1)
    app.assert_clean_console()


# --- Uploads ------------------------------------------------------------------------------------


def test_upload_with_file_chooser(app: App) -> None:
    page = app.page
    app.by("upload-input").set_input_files({"name": "six.png", "mimeType": "image/png", "buffer": digit_png(6)})
    app.expect_digit(6)
    app.expect_answer_shown()
    preview = app.by("preview")
    expect(preview).to_be_visible()
    assert preview.get_attribute("src").startswith("blob:")
    assert preview.evaluate("img => img.naturalWidth") == PNG_SIDE
    expect(app.by("source")).to_have_text("six.png")
    expect(app.by("dropzone")).to_contain_text("six.png")
    assert canvas_ink(page) == 0
    # Drawing afterwards replaces the upload.
    draw_with_mouse(page, 7)
    app.expect_digit(7)
    expect(preview).to_be_hidden()
    app.assert_clean_console()


def test_upload_by_drag_and_drop(app: App) -> None:
    page = app.page
    zone = app.by("dropzone")
    transfer = file_in_page(page, digit_png(9), "nine.png", "image/png")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(page.locator("body")).to_have_class(re.compile(r"\bdragging\b"))
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.locator("body")).not_to_have_class(re.compile(r"\bdragging\b"))
    app.expect_digit(9)
    app.expect_answer_shown()
    expect(app.by("preview")).to_be_visible()
    assert app.by("preview").evaluate("img => img.naturalWidth") == PNG_SIDE
    expect(app.by("source")).to_have_text("nine.png")
    app.assert_clean_console()


def test_upload_by_paste(app: App) -> None:
    page = app.page
    transfer = file_in_page(page, digit_png(8), "image.png", "image/png")
    page.evaluate(
        "t => document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: t, bubbles: true }))", transfer
    )
    app.expect_digit(8)
    app.expect_answer_shown()
    expect(app.by("preview")).to_be_visible()
    expect(app.by("source")).to_have_text("pasted image")
    app.assert_clean_console()


# --- Messages -----------------------------------------------------------------------------------


def test_blank_image_says_no_digit(app: App) -> None:
    white = png(Image.new("RGB", (PNG_SIDE, PNG_SIDE), "white"))
    app.by("upload-input").set_input_files({"name": "blank.png", "mimeType": "image/png", "buffer": white})
    assert app.settle() == "error"
    expect(app.by("error")).to_be_visible()
    expect(app.by("error")).to_contain_text("No digit found")
    expect(app.by("error")).to_have_attribute("data-code", "no_digit")
    expect(app.by("prediction")).to_have_text("")
    expect(app.by("model-input")).to_be_hidden()
    # The next good input clears the message.
    app.by("samples").get_by_role("button", name="Sample digit 3").click()
    app.expect_digit(3)
    expect(app.by("error")).to_be_hidden()
    app.assert_clean_console(allowed=("status of 422",))


def test_not_an_image_says_so(app: App) -> None:
    text = b"These are my notes, not a picture of a digit.\n"
    app.by("upload-input").set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": text})
    assert app.settle() == "error"
    expect(app.by("error")).to_be_visible()
    expect(app.by("error")).to_contain_text("isn’t an image")
    expect(app.by("error")).to_have_attribute("data-code", "invalid_image")
    expect(app.by("prediction")).to_have_text("")
    expect(app.by("preview")).to_be_hidden()  # the browser cannot show it either
    app.assert_clean_console(allowed=("status of 400",))


def test_too_large_file_says_so(app: App) -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(11 * 1024 * 1024)
    app.by("upload-input").set_input_files({"name": "huge.png", "mimeType": "image/png", "buffer": big})
    assert app.settle() == "error"
    expect(app.by("error")).to_contain_text("too large")
    expect(app.by("error")).to_contain_text("The limit is 10 MB")
    expect(app.by("error")).to_have_attribute("data-code", "too_large")
    app.assert_clean_console(allowed=("status of 413",))


def test_server_unreachable_says_so(app: App) -> None:
    page = app.page
    page.route("**/api/v1/predict", lambda route: route.abort())
    draw_with_mouse(page, 7)
    assert app.settle() == "error"
    expect(app.by("error")).to_contain_text("Can’t reach the server")
    expect(app.by("error")).to_have_attribute("data-code", "network")
    expect(app.by("prediction")).to_have_text("")
    # Back online: the next input is read and the message goes away.
    page.unroute("**/api/v1/predict")
    app.by("samples").get_by_role("button", name="Sample digit 7").click()
    app.expect_digit(7)
    expect(app.by("error")).to_be_hidden()
    app.assert_clean_console(allowed=("net::ERR_FAILED",))


# --- Whole numbers ------------------------------------------------------------------------------


def test_samples_spell_a_number_with_a_box_round_each_digit(app: App) -> None:
    """In number mode the pad is wide, samples are written one after another, and each digit gets a box."""
    page = app.page
    app.by("mode-number").check()
    expect(page.locator("body")).to_have_attribute("data-mode", "number")
    expect(page.get_by_role("heading", name="Draw a number")).to_be_visible()
    pad = app.by("draw-canvas").bounding_box()
    assert pad["width"] >= 1.9 * pad["height"], pad
    for digit in "2026":
        app.by("samples").get_by_role("button", name=f"Sample digit {digit}").click()
    app.expect_number("2026")
    boxes = app.by("pad-boxes").locator(".box")
    expect(boxes).to_have_count(4)
    assert boxes.locator(".box-label").all_text_contents() == list("2026")
    rects = [boxes.nth(i).bounding_box() for i in range(4)]
    for r in rects:
        assert pad["x"] <= r["x"] and r["x"] + r["width"] <= pad["x"] + pad["width"] + 1, (r, pad)
        assert pad["y"] <= r["y"] and r["y"] + r["height"] <= pad["y"] + pad["height"] + 1, (r, pad)
    for left, right in itertools.pairwise(rects):
        assert left["x"] + left["width"] <= right["x"] + 1, "boxes overlap or are out of order"
    assert ink_in_boxes(page) > 0.97, "the boxes do not cover the drawing"
    expect(app.by("reading")).to_be_visible()
    expect(page.locator("#reading-figure")).to_be_hidden()  # a drawing is boxed on the pad itself
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "screenshot-number.png"))
    # A fifth digit that does not fit starts a new number.
    for digit in "7777":
        app.by("samples").get_by_role("button", name=f"Sample digit {digit}").click()
    state = app.settle()
    assert state == "done" and len(app.by("prediction").text_content()) < 8
    app.assert_clean_console()


def test_number_written_with_the_mouse(app: App) -> None:
    """A number written digit by digit with the mouse is read left to right, boxes round its digits."""
    app.by("mode-number").check()
    draw_number(app.page, "1984")
    app.expect_number("1984")
    expect(app.by("pad-boxes").locator(".box")).to_have_count(4)
    assert ink_in_boxes(app.page) > 0.97
    app.by("undo").click()  # the 4's second stroke: what is left is read again
    assert app.settle() == "done"
    assert app.by("prediction").text_content().startswith("198")
    app.by("clear").click()
    expect(app.by("pad-boxes").locator(".box")).to_have_count(0)
    expect(app.by("reading")).to_be_hidden()
    app.assert_clean_console()


def test_uploaded_number_is_shown_with_boxes(app: App) -> None:
    """An uploaded picture of a number is shown in the answer with a box round each digit it read."""
    page = app.page
    app.by("mode-number").check()
    data = number_png("3507")
    width, height = Image.open(io.BytesIO(data)).size
    app.by("upload-input").set_input_files({"name": "number.png", "mimeType": "image/png", "buffer": data})
    app.expect_number("3507")
    figure = page.locator("#reading-figure")
    expect(figure).to_be_visible()
    shown = page.locator("#reading-image")
    assert shown.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]") == [True, width, height]
    frame = shown.bounding_box()
    assert abs(frame["width"] / frame["height"] - width / height) < 0.02, "the image is distorted"
    boxes = app.by("reading-boxes").locator(".box")
    expect(boxes).to_have_count(4)
    step = frame["width"] * round(PNG_SIDE * 0.65) / width  # where each digit's square starts, on screen
    for i in range(4):
        r = boxes.nth(i).bounding_box()
        centre = r["x"] + r["width"] / 2 - frame["x"]
        assert i * step + 0.3 * step < centre < i * step + 1.25 * step, (i, r, frame)
    expect(app.by("pad-boxes").locator(".box")).to_have_count(0)
    app.assert_clean_console()


def test_an_uploaded_amounts_separator_is_boxed_as_read_as_no_digit(app: App) -> None:
    app.by("mode-number").check()
    sheet = Image.open(io.BytesIO(number_png("1500"))).convert("L")
    gap = Image.new("L", (sheet.width + 60, sheet.height), 255)  # room between the 1 and the 5 for a comma
    step = round(PNG_SIDE * 0.65)
    gap.paste(sheet.crop((0, 0, step, sheet.height)), (0, 0))
    gap.paste(sheet.crop((step, 0, sheet.width, sheet.height)), (step + 60, 0))
    base = round(0.78 * PNG_SIDE)  # a comma on the baseline, in the digits' pen: a dot that small would be a speck
    ImageDraw.Draw(gap).line([(step + 32, base), (step + 22, base + 36)], fill=0, width=18)
    app.by("upload-input").set_input_files({"name": "amount.png", "mimeType": "image/png", "buffer": png(gap)})
    app.expect_number("1500")
    boxes, marks = app.by("reading-boxes").locator(".box"), app.by("reading-boxes").locator(".mark")
    expect(boxes).to_have_count(4)
    expect(marks).to_have_count(1)
    mark, one, five = marks.bounding_box(), boxes.nth(0).bounding_box(), boxes.nth(1).bounding_box()
    assert one["x"] + one["width"] <= mark["x"] + 2 and mark["x"] + mark["width"] <= five["x"] + 2, "between 1 and 5"
    app.assert_clean_console()


def test_digits_of_a_number_lie_in_one_row(app: App) -> None:
    """On a desktop, the digits of a six-digit number are listed side by side in one row."""
    app.by("mode-number").check()
    data = number_png("314159")
    app.by("upload-input").set_input_files({"name": "number.png", "mimeType": "image/png", "buffer": data})
    app.expect_number("314159")
    chips = [item.bounding_box() for item in app.by("reading-digits").locator("li").all()]
    assert len({round(chip["y"]) for chip in chips}) == 1, f"the digits wrap: {chips}"
    card = app.page.locator("#result").bounding_box()
    assert chips[-1]["x"] + chips[-1]["width"] <= card["x"] + card["width"]
    app.assert_clean_console()


def test_switching_mode_reads_the_upload_again(app: App) -> None:
    """The same upload is read as a digit or as a number; a drawing is cleared because the pad changes shape."""
    page = app.page
    app.by("upload-input").set_input_files({"name": "six.png", "mimeType": "image/png", "buffer": digit_png(6)})
    app.expect_digit(6)
    app.by("mode-number").check()
    app.expect_number("6")
    expect(app.by("source")).to_have_text("six.png")
    expect(app.by("preview")).to_be_visible()
    app.by("mode-digit").check()
    app.expect_digit(6)
    app.expect_answer_shown()
    expect(app.by("reading")).to_be_hidden()
    pad = app.by("draw-canvas").bounding_box()
    assert abs(pad["width"] - pad["height"]) < 2, "the pad is square for one digit"

    draw_with_mouse(page, 3)
    app.expect_digit(3)
    app.by("mode-number").check()
    assert canvas_ink(page) == 0
    expect(page.locator("body")).to_have_attribute("data-state", "idle")
    expect(app.by("prediction")).to_have_text("")

    white = png(Image.new("RGB", (PNG_SIDE * 2, PNG_SIDE), "white"))
    app.by("upload-input").set_input_files({"name": "blank.png", "mimeType": "image/png", "buffer": white})
    assert app.settle() == "error"
    expect(app.by("error")).to_have_attribute("data-code", "no_digit")
    expect(app.by("reading")).to_be_hidden()
    app.assert_clean_console(allowed=("status of 422",))


def test_number_mode_on_a_phone(phone: App) -> None:
    """On a phone the wide pad still fits the screen and takes a number written with samples."""
    page = phone.page
    phone.by("mode-number").check()
    for digit in "42":
        phone.by("samples").get_by_role("button", name=f"Sample digit {digit}").click()
    phone.expect_number("42")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(phone.by("pad-boxes").locator(".box")).to_have_count(2)
    phone.assert_clean_console()


# --- Page as a whole ----------------------------------------------------------------------------


def assert_served_under_the_csp(url: str) -> None:
    """The HTML page at url comes with the CSP and holds nothing inline for it to block, nothing from elsewhere."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert not re.search(r"\sstyle=|<style", html), "inline style"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "external resource"


def resolved(spec: dict, value: dict) -> dict:
    """What a local $ref in the OpenAPI document points at (or the value itself)."""
    if "$ref" not in value:
        return value
    for key in value["$ref"].removeprefix("#/").split("/"):
        spec = spec[key]
    return spec


def shown_text(prose: str) -> str:
    """Text from openapi.json as the docs show it: `code` in backticks becomes code, without them."""
    return prose.replace("`", "")


def test_page_layout_theme_and_model_line(app: App, gunicorn_server) -> None:
    """Side by side on a desktop, both colour schemes, the model card line, and the CSP in force."""
    page = app.page
    assert_served_under_the_csp(gunicorn_server.url + "/")
    pad_box, result_box = app.by("draw-canvas").bounding_box(), page.locator("#result").bounding_box()
    assert result_box["x"] >= pad_box["x"] + pad_box["width"], "pad and answer should sit side by side"
    assert page.locator("meta[name=viewport]").count() == 1

    card = requests.get(gunicorn_server.url + "/api/v1/model", timeout=10).json()
    expect(page.locator("footer")).to_contain_text(f"Model {card['version']}")

    page.emulate_media(color_scheme="light")
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert light != dark
    assert page.evaluate("getComputedStyle(document.querySelector('.pad')).backgroundColor") in (
        "rgb(255, 255, 255)",
        "rgb(251, 251, 253)",
    ), "the pad stays light in the dark theme"
    app.assert_clean_console()


def test_api_docs_render_openapi_json_and_are_linked_from_the_footer(app: App, gunicorn_server) -> None:
    """/docs lays out openapi.json for people: every path and method with its summary and description, its request
    body's media types and every response status with its description, every schema's fields and the error codes.
    The page's footer links to it; it runs under the CSP, from the server alone, in both colour schemes."""
    page = app.page
    assert_served_under_the_csp(gunicorn_server.url + "/docs")
    spec = requests.get(gunicorn_server.url + "/openapi.json", timeout=10).json()
    page.locator("footer").get_by_role("link", name="API documentation").click()
    expect(page).to_have_url(gunicorn_server.url + "/docs")
    expect(page.locator("body")).to_have_attribute("data-state", "done")
    expect(page.locator("h1")).to_have_text(spec["info"]["title"])

    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    expected = [[path, method] for path, item in spec["paths"].items() for method in item if method in methods]
    assert len(expected) >= 7
    shown = page.locator("[data-path]").evaluate_all("els => els.map((e) => [e.dataset.path, e.dataset.method])")
    assert shown == expected, "every path and method of openapi.json, in its order"
    expect(page.locator("#toc a")).to_have_count(len(expected))
    for path, method in expected:
        operation = spec["paths"][path][method]
        section = page.locator(f'[data-path="{path}"][data-method="{method}"]')
        expect(section.locator(".path")).to_have_text(path)
        expect(section.locator(".method")).to_have_text(method.upper())
        for prose in (operation["summary"], operation.get("description", "")):
            expect(section).to_contain_text(shown_text(prose))
        body = resolved(spec, operation.get("requestBody", {"content": {}}))
        media_types = section.locator(".media-type").all_text_contents()
        assert set(body["content"]) <= set(media_types), (path, media_types)
        statuses = section.locator("[data-status]").evaluate_all("els => els.map((e) => e.dataset.status)")
        assert statuses == list(operation["responses"]), path
        for response in operation["responses"].values():
            expect(section.locator(".responses")).to_contain_text(shown_text(resolved(spec, response)["description"]))

    for name, schema in spec["components"]["schemas"].items():
        section = page.locator(f'[data-schema="{name}"]')
        names = section.locator(":scope > .fields > .field > .field-head > .field-name").all_text_contents()
        assert names == list(schema["properties"]), name
    codes = page.locator('[data-schema="Error"] .enum .value').all_text_contents()
    assert codes == spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    page.get_by_role("link", name="Error").first.click()  # a response's schema links to it
    expect(page.locator('[data-schema="Error"]')).to_be_in_viewport()

    backgrounds = (
        "[document.body, document.querySelector('.operation')].map((e) => getComputedStyle(e).backgroundColor)"
    )
    page.emulate_media(color_scheme="light")
    light = page.evaluate(backgrounds)
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate(backgrounds)
    assert light[0] != dark[0] and light[1] != dark[1], (light, dark)
    app.assert_clean_console()

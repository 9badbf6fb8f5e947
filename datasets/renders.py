"""Render digits the way users send them: canvas exports, paint programs, phone photos, scans, fonts.

Most handwritten kinds redraw an MNIST digit's centre line with a pen of random width, so stroke width,
size, position and medium vary independently of the writer; `scanned` enlarges the scan itself instead.
Every render is randomised from a seed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
SUPERSAMPLE = 3  # strokes are drawn larger and reduced, as browsers anti-alias canvas strokes


@dataclass(frozen=True)
class Render:
    """One evaluation image: encoded bytes, the true digit (None for a blank) and its kind."""

    data: bytes
    label: int | None
    kind: str


# --- Centre lines of MNIST digits ---------------------------------------------------------


def _thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean mask to one-pixel centre lines."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = np.pad(img, 1)
            p2, p3, p4 = p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:]
            p5, p6, p7 = p[2:, 2:], p[2:, 1:-1], p[2:, :-2]
            p8, p9 = p[1:-1, :-2], p[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = sum(ring[:8])
            transitions = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(np.uint8) for i in range(8))
            first, second = (p2 * p4 * p6, p4 * p6 * p8) if step == 0 else (p2 * p4 * p8, p2 * p6 * p8)
            side = (first == 0) & (second == 0)
            remove = (img == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def centre_line(digit28: np.ndarray, upscale: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton points (y, x) of an MNIST digit scaled so the taller side is 1, and neighbour segments."""
    big = Image.fromarray(digit28).resize((28 * upscale, 28 * upscale), Image.Resampling.BICUBIC)
    skeleton = _thin(np.asarray(big) > 100)
    ys, xs = np.nonzero(skeleton)
    index = -np.ones(skeleton.shape, dtype=int)
    index[ys, xs] = np.arange(len(ys))
    segments = []
    padded = np.pad(skeleton, 1)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ny, nx = ys + dy, xs + dx
        ok = (ny < skeleton.shape[0]) & (nx >= 0) & (nx < skeleton.shape[1])
        if dy and dx:  # a diagonal step is redundant where two straight steps already join the pixels
            ok &= ~(padded[ys + 1, xs + 1 + dx] | padded[ys + 1 + dy, xs + 1])
        j = np.full(len(ys), -1)
        j[ok] = index[ny[ok], nx[ok]]
        keep = j >= 0
        segments.append(np.stack([np.flatnonzero(keep), j[keep]], axis=1))
    points = np.stack([ys, xs], axis=1).astype(np.float64)
    points -= points.min(axis=0)
    points /= max(points.max(), 1.0)
    return points, np.concatenate(segments)


def pen_strokes(digit28: np.ndarray, min_points: int = 6) -> list[list[tuple[float, float]]]:
    """The digit's centre line as pen strokes: (x, y) polylines in a unit box, as a hand would draw it."""
    points, segments = centre_line(digit28)
    neighbours: dict[int, set[int]] = {i: set() for i in range(len(points))}
    for a, b in segments:
        neighbours[int(a)].add(int(b))
        neighbours[int(b)].add(int(a))
    unvisited = {frozenset((int(a), int(b))) for a, b in segments}
    strokes = []
    while unvisited:
        # Start at a line end where there is one, as a pen does.
        ends = [
            i
            for i in neighbours
            if len(neighbours[i]) == 1 and any(frozenset((i, j)) in unvisited for j in neighbours[i])
        ]
        current = ends[0] if ends else next(iter(next(iter(unvisited))))
        path = [current]
        while True:
            options = [j for j in neighbours[current] if frozenset((current, j)) in unvisited]
            if not options:
                break
            nxt = options[0]
            unvisited.discard(frozenset((current, nxt)))
            path.append(nxt)
            current = nxt
        if len(path) >= min_points:
            strokes.append([*path[::3], path[-1]])
    ys, xs = points[:, 0], points[:, 1]
    dx, dy = (1 - xs.max()) / 2, (1 - ys.max()) / 2  # centre the digit in the box
    return [[(float(xs[i] + dx), float(ys[i] + dy)) for i in path] for path in strokes]


def draw_strokes(
    digit28: np.ndarray,
    size: tuple[int, int],
    height_px: float,
    centre: tuple[float, float],
    pen_px: float,
    angle_deg: float = 0.0,
) -> np.ndarray:
    """Coverage map float [H,W] in [0,1] of the digit's centre line drawn with a round pen."""
    points, segments = centre_line(digit28)
    ys, xs = points[:, 0], points[:, 1]
    scale = height_px * SUPERSAMPLE
    px = (xs - xs.max() / 2) * scale
    py = (ys - ys.max() / 2) * scale
    if angle_deg:
        a = math.radians(angle_deg)
        px, py = px * math.cos(a) - py * math.sin(a), px * math.sin(a) + py * math.cos(a)
    px += centre[0] * SUPERSAMPLE
    py += centre[1] * SUPERSAMPLE
    width, height = size
    canvas = Image.new("L", (width * SUPERSAMPLE, height * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(canvas)
    pen = max(1.0, pen_px * SUPERSAMPLE)
    for a, b in segments:
        draw.line([(px[a], py[a]), (px[b], py[b])], fill=255, width=round(pen))
    r = pen / 2
    for x, y in zip(px, py, strict=True):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(canvas.reduce(SUPERSAMPLE), dtype=np.float32) / 255.0


# --- Encoding -----------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    """Encode a PIL image."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _placement(rng: np.random.Generator, size: tuple[int, int], height_px: float) -> tuple[float, float]:
    """A random centre that keeps the whole digit (up to its aspect ratio) inside the image."""
    width, height = size
    half = height_px / 2 * 1.05
    return rng.uniform(half, width - half), rng.uniform(half, height - half)


# --- Kinds ----------------------------------------------------------------------------------


def canvas(rng: np.random.Generator, digit28: np.ndarray | None) -> bytes:
    """A browser canvas export: black ink on a transparent background, thin to thick pens."""
    side = int(rng.integers(200, 501))
    coverage = np.zeros((side, side), dtype=np.float32)
    if digit28 is not None:
        height_px = rng.uniform(0.35, 0.85) * side
        pen = height_px * rng.uniform(0.03, 0.16)
        coverage = draw_strokes(digit28, (side, side), height_px, _placement(rng, (side, side), height_px), pen)
    return canvas_export(coverage)


def paint(rng: np.random.Generator, digit28: np.ndarray | None) -> bytes:
    """A paint program: dark, coloured ink on white, opaque, PNG or BMP."""
    width, height = int(rng.integers(200, 801)), int(rng.integers(200, 801))
    ink_colour = np.array([[0, 0, 0], [20, 40, 160], [150, 20, 20], [10, 100, 40], [90, 20, 120]][rng.integers(5)])
    coverage = np.zeros((height, width), dtype=np.float32)
    if digit28 is not None:
        height_px = rng.uniform(0.35, 0.85) * min(width, height)
        pen = height_px * rng.uniform(0.04, 0.14)
        coverage = draw_strokes(digit28, (width, height), height_px, _placement(rng, (width, height), height_px), pen)
    return on_white(coverage, ink_colour, ["PNG", "BMP"][rng.integers(2)])


def on_white(coverage: np.ndarray, ink_colour: np.ndarray, fmt: str) -> bytes:
    """Ink coverage as an opaque picture: coloured ink on white."""
    rgb = 255 * (1 - coverage[..., None]) + ink_colour * coverage[..., None]
    return encode(Image.fromarray(rgb.round().astype(np.uint8)), fmt)


def photo(rng: np.random.Generator, digit28: np.ndarray | None) -> bytes:
    """A phone photo of pen on paper: uneven light, noise, blur, slight rotation, JPEG."""
    width, height = [(640, 480), (800, 600), (1024, 768), (1200, 1600), (1600, 1200)][rng.integers(5)]
    coverage = np.zeros((height, width), dtype=np.float32)
    if digit28 is not None:
        height_px = rng.uniform(0.3, 0.7) * min(width, height)
        pen = height_px * rng.uniform(0.04, 0.10)
        centre = _placement(rng, (width, height), height_px)
        coverage = draw_strokes(digit28, (width, height), height_px, centre, pen, rng.uniform(-8, 8))
    return photograph(rng, coverage)


def photograph(rng: np.random.Generator, coverage: np.ndarray) -> bytes:
    """Ink coverage as a phone photo of paper: ink colour, uneven light, noise, blur, JPEG."""
    height, width = coverage.shape
    paper = rng.uniform(200, 245, size=3) * np.array([1.0, 0.98, 0.94])
    ink = np.array([[25, 25, 30], [20, 30, 90], [40, 40, 40]][rng.integers(3)], dtype=np.float32)
    darkness = rng.uniform(0.75, 1.0)  # ballpoint ink is not fully opaque
    rgb = paper * (1 - darkness * coverage[..., None]) + ink * darkness * coverage[..., None]
    # Light falls off from a random point: up to 45% darker at the far side.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    lx, ly = rng.uniform(0, width), rng.uniform(0, height)
    distance = np.hypot(xx - lx, yy - ly) / np.hypot(width, height)
    light = 1.0 - rng.uniform(0.15, 0.45) * distance
    rgb = rgb * light[..., None]
    rgb += rng.normal(0, rng.uniform(2, 8), size=rgb.shape)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.6)))
    return encode(image, "JPEG", quality=int(rng.integers(55, 92)))


def canvas_export(coverage: np.ndarray) -> bytes:
    """Ink coverage as a browser canvas export: black ink, coverage in the alpha channel."""
    rgba = np.zeros((*coverage.shape, 4), dtype=np.uint8)
    rgba[..., 3] = np.round(coverage * 255).astype(np.uint8)
    return encode(Image.fromarray(rgba), "PNG")


def white_on_black(rng: np.random.Generator, digit28: np.ndarray | None) -> bytes:
    """A large white-on-black image, such as an enlarged MNIST-style picture."""
    side = int(rng.integers(400, 1201))
    if digit28 is None:
        return encode(Image.new("L", (side, side), 0), "PNG")
    margin = int(rng.integers(0, 8))  # MNIST's own 4 px border, or tighter or looser
    padded = np.pad(digit28, margin)
    return encode(Image.fromarray(padded).resize((side, side), Image.Resampling.BICUBIC), "PNG")


def small_far(rng: np.random.Generator, digit28: np.ndarray | None) -> bytes:
    """A small digit far from the centre of a big canvas (transparent or white)."""
    width, height = int(rng.integers(900, 1601)), int(rng.integers(700, 1201))
    coverage = np.zeros((height, width), dtype=np.float32)
    if digit28 is not None:
        height_px = rng.uniform(0.06, 0.15) * height
        pen = height_px * rng.uniform(0.06, 0.14)
        # In one of the four corner regions, a fifth of the image from its edges.
        cx = rng.choice([rng.uniform(0.08, 0.25), rng.uniform(0.75, 0.92)]) * width
        cy = rng.choice([rng.uniform(0.1, 0.25), rng.uniform(0.75, 0.9)]) * height
        coverage = draw_strokes(digit28, (width, height), height_px, (cx, cy), pen)
    if rng.random() < 0.5:
        return canvas_export(coverage)
    grey = np.round(255 * (1 - coverage)).astype(np.uint8)
    return encode(Image.fromarray(grey), "PNG")


def scanned(rng: np.random.Generator, digit28: np.ndarray | None) -> bytes:
    """The writing itself, not a pen redraw: the scan enlarged, thickened or thinned, as canvas, paint or photo.

    Training redraws digits with the same pen as the kinds above; this kind checks the model on strokes
    that pen never drew.
    """
    width, height = [(400, 400), (640, 480), (800, 600)][rng.integers(3)]
    coverage = np.zeros((height, width), dtype=np.float32)
    if digit28 is not None:
        coverage = enlarged_scan(rng, digit28, (width, height), rng.uniform(0.3, 0.8) * min(width, height))
    medium = rng.integers(3)
    if medium == 0:
        return canvas_export(coverage)
    if medium == 1:
        return on_white(coverage, rng.uniform(0, 120, size=3), "PNG")
    return photograph(rng, coverage)


def enlarged_scan(rng: np.random.Generator, digit28: np.ndarray, size: tuple[int, int], height_px: float) -> np.ndarray:
    """Coverage [H,W] of the MNIST scan enlarged so the digit is about height_px tall, at a random place."""
    scale = height_px / 20  # MNIST digits are about 20 px tall in their 28 px square
    big = Image.fromarray(digit28).resize((round(28 * scale),) * 2, Image.Resampling.BICUBIC)
    radius = round(rng.uniform(-0.25, 0.75) * scale)  # a finer or fatter pen: -0.5 to +1.5 px at 28 px
    if radius:
        big = big.filter((ImageFilter.MaxFilter if radius > 0 else ImageFilter.MinFilter)(2 * abs(radius) + 1))
    big = big.rotate(rng.uniform(-10, 10), Image.Resampling.BILINEAR, expand=True)
    ink = np.clip((np.asarray(big, dtype=np.float32) / 255 - 0.3) / 0.4, 0, 1)  # crisp edges, as ink on paper
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    width, height = size
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1][:height, :width]
    x = int(rng.integers(0, width - ink.shape[1] + 1))
    y = int(rng.integers(0, height - ink.shape[0] + 1))
    coverage = np.zeros((height, width), dtype=np.float32)
    coverage[y : y + ink.shape[0], x : x + ink.shape[1]] = ink
    return coverage


def mnist16(rng: np.random.Generator, digit28: np.ndarray | None) -> bytes:
    """The classic 16-bit MNIST sample PNG: values multiplied by 255."""
    values = np.zeros((28, 28), dtype=np.uint16) if digit28 is None else digit28.astype(np.uint16) * 255
    return encode(Image.fromarray(values), "PNG")


def printed(rng: np.random.Generator, digit: int | None) -> bytes:
    """A printed digit in a DejaVu font, dark on white, with slight rotation."""
    width, height = int(rng.integers(200, 601)), int(rng.integers(200, 601))
    image = Image.new("L", (width, height), int(rng.integers(230, 256)))
    if digit is not None:
        fonts = sorted(FONT_DIR.glob("DejaVu*.ttf"))
        font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), size=int(rng.uniform(0.4, 0.9) * height))
        glyph = Image.new("L", (height, height), 0)
        ImageDraw.Draw(glyph).text((height / 2, height / 2), str(digit), font=font, fill=255, anchor="mm")
        glyph = glyph.rotate(rng.uniform(-5, 5), resample=Image.Resampling.BICUBIC)
        box = glyph.getbbox()
        if box:
            glyph = glyph.crop(box)
            x = int(rng.integers(0, max(1, width - glyph.width)))
            y = int(rng.integers(0, max(1, height - glyph.height)))
            ink = Image.new("L", glyph.size, int(rng.integers(0, 60)))
            image.paste(ink, (x, y), glyph)
    return encode(image, "PNG")


HANDWRITTEN: dict[str, Callable[[np.random.Generator, np.ndarray | None], bytes]] = {
    "canvas": canvas,
    "paint": paint,
    "photo": photo,
    "white_on_black": white_on_black,
    "small_far": small_far,
    "mnist16": mnist16,
    "scanned": scanned,
}


def renders(images: np.ndarray, labels: np.ndarray, per_kind: int, seed: int) -> list[Render]:
    """per_kind renders of each handwritten kind, printed digits, and a blank of every kind."""
    rng = np.random.default_rng(seed)
    out = []
    for kind, make in HANDWRITTEN.items():
        for i in rng.choice(len(images), size=per_kind, replace=False):
            out.append(Render(make(rng, images[i]), int(labels[i]), kind))
        out += [Render(make(rng, None), None, kind) for _ in range(max(10, per_kind // 10))]
    for _ in range(per_kind):
        digit = int(rng.integers(10))
        out.append(Render(printed(rng, digit), digit, "printed"))
    out += [Render(printed(rng, None), None, "printed") for _ in range(max(10, per_kind // 10))]
    return out


def number(rng: np.random.Generator, digits28: list[np.ndarray], touching: bool, medium: str) -> bytes:
    """Several digits in a row: varied sizes and baselines, spaced wide apart or touching."""
    height = rng.uniform(60, 160)
    pen = height * rng.uniform(0.05, 0.11)
    placed, cursor = [], height * 0.5
    for digit28 in digits28:
        points, _ = centre_line(digit28)
        h = height * rng.uniform(0.8, 1.2)
        w = h * points[:, 1].max() / points[:, 0].max()
        gap = height * (rng.uniform(-0.06, 0.0) if touching else rng.uniform(0.12, 0.5))
        placed.append((digit28, h / points[:, 0].max(), cursor + w / 2, rng.uniform(-0.1, 0.1) * height))
        cursor += w + gap
    size = (int(cursor + height * 0.5), int(height * 2))
    coverage = np.zeros((size[1], size[0]), dtype=np.float32)
    for digit28, scale, cx, dy in placed:
        coverage = np.maximum(coverage, draw_strokes(digit28, size, scale, (cx, size[1] / 2 + dy), pen))
    return canvas_export(coverage) if medium == "canvas" else photograph(rng, coverage)

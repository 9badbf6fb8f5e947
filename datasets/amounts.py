"""Amounts written on forms and cheques, for evaluation only: real pen digits on printed, textured paper.

Each amount is written with real pen digits (UNIPEN samples of the sites asked for), thousands
separators (`.`, `,`, `'`) and sometimes a trailing mark (`-`, `=`, `/`, `.-`, `.`, `,`), on
security paper (a light printed texture of waves and speckle), over a printed baseline or inside a
box, then scanned grey at 40-60 px of digit height: blur, uneven ink, JPEG. The answer is the
digits alone. Training must use a different generator, so this one never mirrors what was learnt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from datasets import renders, unipen

SEPARATORS = (".", ",", "'", "")  # thousands separators, "" for none
TRAILING = ("-", "=", "/", ".-", ".", ",", "", "", "")  # a mark after the amount, often none
SCALE = 4  # drawn at 4x, scanned down: anti-aliased edges as a scanner gives


@dataclass(frozen=True)
class Amount:
    """An encoded scan of a written amount, its digits, and how it was written."""

    data: bytes
    text: str
    kind: str


def _digits_text(rng: np.random.Generator) -> str:
    """An amount of 1-7 digits, no leading zero; round amounts as often as people write them."""
    length = int(rng.choice([1, 2, 3, 3, 4, 4, 5, 5, 6, 7]))
    first = str(rng.integers(1, 10))
    rest = "".join(str(d) for d in rng.integers(0, 10, length - 1))
    return first + ("0" * (length - 1) if rng.random() < 0.25 else rest)


def _written(text: str, separator: str, trailing: str) -> list[str]:
    """The characters as written: digits grouped in threes from the right, then the trailing mark."""
    chars = []
    for k, digit in enumerate(text):
        if k and (len(text) - k) % 3 == 0 and separator:
            chars.append(separator)
        chars.append(digit)
    return chars + list(trailing)


_MARK_WIDTH = {"-": 0.45, "=": 0.45, "/": 0.45}  # of the mark's height; other marks are 0.15


def _mark(char: str, left: float, base: float, height: float, pen: float, draw: ImageDraw.ImageDraw) -> None:
    """Draw a separator or trailing mark with a pen."""
    w = _MARK_WIDTH.get(char, 0.15) * height
    r = pen * 0.8
    if char == ".":
        draw.ellipse([left, base - 2 * r, left + 2 * r, base], fill=255)
    elif char == ",":
        draw.line([(left + r, base - r), (left, base + 0.25 * height)], fill=255, width=round(pen))
    elif char == "'":
        draw.line([(left + r, base - height), (left, base - 0.7 * height)], fill=255, width=round(pen))
    elif char == "-":
        draw.line([(left, base - 0.45 * height), (left + w, base - 0.48 * height)], fill=255, width=round(pen))
    elif char == "=":
        for y in (0.35, 0.6):
            draw.line([(left, base - y * height), (left + w, base - y * height)], fill=255, width=round(pen))
    elif char == "/":
        draw.line([(left, base), (left + w, base - height)], fill=255, width=round(pen))


def _security_paper(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Grey paper [H,W] in [0,1] (1 = white) with a printed texture: fine waves and speckle."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(6, 14) * SCALE
    waves = np.sin(2 * np.pi * (yy + rng.uniform(2, 6) * SCALE * np.sin(xx / period)) / period)
    texture = rng.uniform(0.02, 0.12) * (waves > rng.uniform(0.3, 0.8))
    speckle = rng.uniform(0.0, 0.08) * (rng.random((height, width)) < 0.02)
    return np.clip(rng.uniform(0.82, 0.97) - texture - speckle, 0.0, 1.0)


def amount(rng: np.random.Generator, samples: list[unipen.Sample], by_digit: dict[str, list[int]]) -> Amount:
    """One amount: real pen digits and marks on security paper, scanned grey at 40-60 px digit height."""
    text = _digits_text(rng)
    separator, trailing = str(rng.choice(SEPARATORS)), str(rng.choice(TRAILING))
    frame = str(rng.choice(["baseline", "box", "none"]))
    digit_px = rng.uniform(40, 60) * SCALE
    pen = digit_px * rng.uniform(0.06, 0.11)
    chars = _written(text, separator, trailing)
    # Laid out first, so the paper is as wide as the writing: wide digits (round zeros) ran off its edge.
    layout, cursor, right = [], digit_px * 0.6, 0.0
    for char in chars:
        if char.isdigit():
            sample = samples[int(rng.choice(by_digit[char]))]
            h = digit_px * rng.uniform(0.85, 1.1)
            w = h * min(unipen.aspect(sample), 1.0)  # a wider digit overlaps its neighbours
            layout.append((char, cursor, sample, h, w, rng.uniform(-0.06, 0.06) * digit_px))
            right = max(right, cursor + w / 2 + h * unipen.aspect(sample) / 2)
            cursor += w + digit_px * rng.uniform(0.1, 0.35)
        else:
            layout.append((char, cursor, None, 0.0, 0.0, 0.0))
            cursor += _MARK_WIDTH.get(char, 0.15) * digit_px * 0.9 + digit_px * rng.uniform(0.1, 0.3)
    width = max(int(digit_px * (0.8 * len(chars) + 1.5)), int(max(cursor, right) + digit_px * 0.4))
    height = int(digit_px * 1.9)
    ink = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(ink)
    base = height * 0.72
    for char, left, sample, h, w, dy in layout:
        if sample is not None:
            coverage = unipen.draw(sample.strokes, (width, height), h, (left + w / 2, base - h / 2 + dy), pen)
            ink = Image.fromarray(np.maximum(np.asarray(ink), (coverage * 255).astype(np.uint8)))
            draw = ImageDraw.Draw(ink)
        else:
            _mark(char, left, base, digit_px * 0.9, pen, draw)
    printed = Image.new("L", (width, height), 0)
    lines = ImageDraw.Draw(printed)
    rule = max(1, round(rng.uniform(0.5, 1.5) * SCALE))
    if frame == "baseline":
        lines.line([(0, base + rng.uniform(0.03, 0.12) * digit_px), (width, base + 0.05 * digit_px)], 255, rule)
    elif frame == "box":
        margin = rng.uniform(0.1, 0.3) * digit_px
        lines.rectangle([margin, margin, width - margin, height - margin], outline=255, width=rule)
    paper = _security_paper(rng, (width, height))
    darkness = rng.uniform(0.55, 0.95) * (1 - 0.25 * rng.random((height, width)))  # uneven pen pressure
    grey = paper * (1 - darkness * np.asarray(ink) / 255.0) * (1 - 0.6 * np.asarray(printed) / 255.0)
    scan = Image.fromarray((grey * 255).round().astype(np.uint8)).resize((width // SCALE, height // SCALE), 1)
    scan = scan.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    noisy = np.asarray(scan, dtype=np.float32) + rng.normal(0, rng.uniform(1, 5), (scan.height, scan.width))
    scan = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    data = renders.encode(scan, "JPEG", quality=int(rng.integers(60, 90)))
    return Amount(data, text, f"{'separators' if separator and len(text) > 3 else 'plain'}, {frame}")


def amounts(samples: list[unipen.Sample], count: int, seed: int) -> list[Amount]:
    """`count` amounts written with the given pen digits."""
    rng = np.random.default_rng(seed)
    by_digit: dict[str, list[int]] = {}
    for k, sample in enumerate(samples):
        by_digit.setdefault(sample.label, []).append(k)
    return [amount(rng, samples, by_digit) for _ in range(count)]

"""The example images the README's curl commands send (docs/examples/), drawn from web/samples.json.

Those strokes are hand-authored, not from any dataset. `python -m datasets.examples` rewrites the
files; tests/test_docs.py checks they are what this makes and that the README's commands read them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from datasets import renders, unipen

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "web" / "samples.json"
FOLDER = ROOT / "docs" / "examples"


def strokes(text: str) -> list[np.ndarray]:
    """The digits of text side by side, each from samples.json (a 0..1 box per digit, y down)."""
    digits = json.loads(SAMPLES.read_text())["digits"]
    shift = np.array([0.75, 0.0], dtype=np.float32)  # digits a little narrower than their box apart
    return [np.asarray(s, dtype=np.float32) + k * shift for k, d in enumerate(text) for s in digits[d]]


def examples() -> dict[str, bytes]:
    """File name -> bytes: a canvas export of a 7, a paper photo of a 4, a canvas export of the number 2026."""
    number = unipen.draw(strokes("2026"), (640, 280), 150, (320, 140), 13)
    return {
        "seven.png": renders.canvas_export(unipen.draw(strokes("7"), (280, 280), 190, (140, 140), 16)),
        "four.jpg": renders.photograph(
            np.random.default_rng(4), unipen.draw(strokes("4"), (640, 480), 260, (320, 240), 18)
        ),
        "2026.png": renders.canvas_export(number),
    }


def main() -> int:
    """Write the examples into docs/examples/."""
    FOLDER.mkdir(exist_ok=True)
    for name, data in examples().items():
        (FOLDER / name).write_bytes(data)
        print(f"wrote {FOLDER / name} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A blind reading of the whole-number evaluation: how many of its numbers can a person read at all?

`python -m evaluate.legibility sheets DIR --kind "4 digits, touching, canvas" --count 60` draws the first
COUNT numbers of that kind, exactly those `evaluate.numbers` scores, on numbered sheets without their
text (DIR/sheets/), and writes the truth and the service's answers apart (DIR/key.json). Give a reader
only the sheets; they write one reading per number, in order, "?" where they cannot read it. Then
`python -m evaluate.legibility score DIR READING.txt` compares both with the truth.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from datasets import provenance, reports_missing_data
from digits.models import Models
from evaluate import numbers, realistic

TILE = (400, 150)  # one number, scaled to fit, with its index in the corner
PER_SHEET = 10  # two columns of five: small enough to read on one screen


def tile(data: bytes, index: int) -> Image.Image:
    """The image as a reader would see it, dark ink on light, scaled into one numbered tile."""
    image = Image.open(io.BytesIO(data))
    if image.mode in ("RGBA", "LA"):  # a canvas export: the ink is in the alpha channel
        image = ImageOps.invert(image.getchannel("A"))
    image = image.convert("L")
    image.thumbnail((TILE[0] - 24, TILE[1] - 8))
    out = Image.new("L", TILE, 255)
    out.paste(image, (22, 4))
    ImageDraw.Draw(out).text((2, 2), str(index), fill=0)
    return out


def write_sheets(items: list[numbers.Number], folder: Path) -> list[Path]:
    """Numbered sheets of the items' images, PER_SHEET to a page; no text on them but the index."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(items), PER_SHEET):
        sheet = Image.new("L", (2 * TILE[0], (PER_SHEET // 2) * TILE[1]), 255)
        for k, item in enumerate(items[start : start + PER_SHEET]):
            sheet.paste(tile(item.data, start + k), ((k % 2) * TILE[0], (k // 2) * TILE[1]))
        paths.append(folder / f"sheet_{start // PER_SHEET:02d}.png")
        sheet.save(paths[-1])
    return paths


def parse_reading(text: str, count: int) -> list[str]:
    """One reading per number, whitespace-separated, in sheet order ('?' for unreadable)."""
    readings = text.split()
    if len(readings) != count:
        raise ValueError(f"the reading has {len(readings)} entries, the sheets {count} numbers")
    return readings


def score(truth: list[str], reading: list[str], service: list[str]) -> dict[str, int]:
    """How many numbers the reader and the service each read exactly, and how their errors overlap."""
    rows = list(zip(truth, reading, service, strict=True))
    return {
        "numbers": len(rows),
        "reader_exact": sum(r == t for t, r, _ in rows),
        "service_exact": sum(s == t for t, _, s in rows),
        "both_wrong": sum(r != t and s != t for t, r, s in rows),
    }


@reports_missing_data
def main() -> int:
    """`sheets` or `score`; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sheets = commands.add_parser("sheets", help="write unlabelled sheets and their key")
    sheets.add_argument("folder", type=Path)
    sheets.add_argument("--kind", default="4 digits, touching, canvas", help="a row of evaluate.numbers' table")
    sheets.add_argument("--count", type=int, default=60)
    sheets.add_argument("--source", choices=("test", "validation"), default="test")
    scoring = commands.add_parser("score", help="compare a reading of the sheets with the truth")
    scoring.add_argument("folder", type=Path)
    scoring.add_argument("reading", type=Path)
    args = parser.parse_args()
    key_path = args.folder / "key.json"
    if args.command == "sheets":
        images, labels = realistic.load_source(args.source)
        evaluated = numbers.make_numbers(images, labels, numbers.PER_KIND, numbers.SEED)
        items = list(itertools.islice((item for item in evaluated if item.kind == args.kind), args.count))
        if not items:
            parser.error(f"no numbers of kind {args.kind!r}")
        models = Models.load()
        service = [numbers.read_text(item.data, models) for item in items]
        write_sheets(items, args.folder / "sheets")
        key = {"source": args.source, "kind": args.kind, "truth": [item.text for item in items], "service": service}
        key["measured"] = provenance.measured()  # when, and at which commit, the service read them
        key_path.write_text(json.dumps(key, indent=1))
        print(f"{len(items)} numbers on sheets in {args.folder / 'sheets'}; the key is {key_path}")
        return 0
    key = json.loads(key_path.read_text())
    reading = parse_reading(args.reading.read_text(), len(key["truth"]))
    print(json.dumps({"kind": key["kind"], **score(key["truth"], reading, key["service"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

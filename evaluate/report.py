"""`make report`: docs/results.md and README.md's headline results, rendered from artifacts/*.json.

No number in the docs is typed by hand: every measured table lives in docs/results.md, written here
from the reports the stages leave in artifacts/ (model cards, evaluations, bench, soak, the blind
reading), each with the date and commit it was measured at (its "measured" field, set by
datasets.provenance). The README's short results table, between its `<!-- results:begin -->` and
`<!-- results:end -->` lines, is rewritten from the same reports.

Rendering is a pure function of the reports (no clock, no git), so the same artifacts give the same
bytes; tests/test_docs.py renders them again and fails when either file is stale.
`python -m evaluate.report --check` says which file is stale without writing.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
RESULTS = ROOT / "docs" / "results.md"
README = ROOT / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
REPORTS = ("model", "line_model", "evaluation", "evaluation_real", "evaluation_numbers", "evaluation_real_numbers",
           "evaluation_amounts", "legibility_readings", "bench", "soak")  # fmt: skip


def load(folder: Path = ARTIFACTS) -> dict[str, dict]:
    """Every report the docs are rendered from, by name (artifacts/<name>.json)."""
    return {name: json.loads((folder / f"{name}.json").read_text()) for name in REPORTS}


# Formatting: one way for each kind of number, so a re-run changes only the digits that changed.


def pct(x: float, places: int = 2) -> str:
    return f"{100 * x:.{places}f}%"


def ms(x: float, places: int = 2) -> str:
    return f"{x:.{places}f} ms"


def mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min ({seconds:,.0f} s)"


def wrapped(line: str) -> str:
    """A paragraph wrapped at 100 columns, as the hand-written docs are; tables and headings as they are."""
    if line.startswith(("|", "#", "<!--")):
        return line
    return textwrap.fill(line, width=100, break_long_words=False, break_on_hyphens=False)


def table(header: Iterable[str], align: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    """A markdown table; align holds '---' or '---:' per column."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def measured(report: dict, name: str) -> dict[str, str]:
    """The report's provenance; a report without one cannot be published."""
    if "measured" not in report:
        raise ValueError(
            f"artifacts/{name}.json has no 'measured' field (date and commit): re-run the stage that writes it"
        )
    return report["measured"]


def stamp(report: dict, name: str, made_by: str) -> str:
    m = measured(report, name)
    return f"`artifacts/{name}.json`, from {made_by}; measured {m['date']} at commit `{m['commit']}`."


# docs/results.md, one section per report.


def quantization_rows(card: dict, how_far: Callable[[dict], str]) -> list[tuple[str, str]]:
    """The float model the served INT8 one was made from, how far their answers differ, and how it was made."""
    if not (q := card.get("quantization")):
        return []
    original = q["float_model"]
    return [
        (
            f"INT8 against its float original `{original['file']}`",
            f"{how_far(q)}; {mb(card['file_bytes'])} against {mb(original['file_bytes'])}",
        ),
        ("quantisation (`make export`)", f"{q['method']}; calibrated on {q['calibration']}"),
    ]


def digit_agreement(q: dict) -> str:
    """The float classifier's test accuracy, and how often the INT8 one reads the same digit."""
    test = q["float_model"]["test"]
    return (
        f"float {pct(test['accuracy'])} ({test['errors']} errors); "
        f"the same digit on {pct(q['argmax_agreement_with_float'])} of {q['images']:,} test images"
    )


def line_agreement(q: dict) -> str:
    """Each member's exact lines, INT8 and float, and how often they read a line the same."""
    exact = ", ".join(pct(a, 1) for a in q["validation_lines_read_exactly"])
    exact_float = ", ".join(pct(a, 1) for a in q["validation_lines_read_exactly_float"])
    return (
        f"{q['lines']:,} validation lines read exactly, each member: {exact} (float {exact_float}); "
        f"the same reading on {pct(q['reading_agreement_with_float'])} of lines × members"
    )


def training_row(card: dict) -> tuple[str, str]:
    """How the classifier was made: `make train`, or `make finetune` from an earlier classifier."""
    training, took = card["training"], f"{minutes(card['training_seconds'])} on {card['training_machine']['cpus']} CPUs"
    if tuned := card.get("fine_tuned"):
        return (
            "training (`make finetune`)",
            f"{took}: the members of `{tuned['from_version']}` fine-tuned {tuned['epochs']} epoch(s) on "
            f"MNIST, {training['redraws_used']:,} pen redraws and {training['unipen']:,} renders of real pen digits"
            + (f" of the UNIPEN sites {', '.join(tuned['sites'])}" if "sites" in tuned else "")
            + (
                f", and the digits of {tuned['pieces_of']:,} numbers written from them, cut apart as `/read` cuts them"
                if tuned.get("pieces_of")
                else ""
            ),
        )
    made = f"{took}, {training['epochs']} epochs, {training['redraws']:,} pen redraws"
    if training.get("unipen"):
        made += f" and {training['unipen']:,} renders of real pen digits of the UNIPEN training sites"
    return ("training (`make train`)", made)


def classifier_section(card: dict) -> list[str]:
    test, parity, training = card["test"], card["parity_with_keras"], card["training"]
    images = parity["images"]  # the export scores and checks parity on the same test images
    per_class = " · ".join(f"{d}: {100 * a:.1f}" for d, a in card["test"]["per_class_accuracy"].items())
    members = card["member_test_accuracy"]
    libraries = ", ".join(f"{name} {version}" for name, version in card["libraries"].items())
    rows = [
        ("test accuracy, onnxruntime", f"**{pct(test['accuracy'])}** ({test['errors']} errors of {images:,})"),
        (
            f"validation accuracy ({training['validation_size']:,} held-out training images)",
            pct(card["validation_accuracy"]),
        ),
        ("each member alone on test", ", ".join(pct(a) for a in members)),
        ("per class on test", per_class + " %"),
        (
            "parameters",
            f"{len(members)} × {card['parameters_per_member']:,} = {card['parameters']:,}; "
            f"`{card['file']}` {mb(card['file_bytes'])}",
        ),
        *quantization_rows(card, digit_agreement),
        (
            f"ONNX against Keras, {images:,} test images",
            f"{parity['argmax_disagreements']} argmax disagreements, "
            f"max \\|Δp\\| {parity['max_abs_probability_diff']:.1e}",
        ),
        training_row(card),
        ("version (sha256 prefix), opset", f"`{card['version']}`, {card['opset']}"),
        ("exported with", libraries),
    ]
    if real := card.get("real_handwriting"):  # put on the card by `make evaluate` (evaluate/real.py)
        canvas = {kind: r for kind, r in real["accuracy"].items() if kind.endswith(", canvas")}
        rows.insert(
            2,
            (
                f"real pen digits, {real['source']}, as canvas exports",
                " · ".join(f"{kind.removesuffix(', canvas')} {pct(r['accuracy'])}" for kind, r in canvas.items()),
            ),
        )
    return [
        "## The classifier on MNIST",
        "",
        stamp(card, "model", f"`make {'finetune' if 'fine_tuned' in card else 'train'}` and `make export`"),
        "",
        *table(("", ""), ("---", "---"), rows),
    ]


def _soup(rates: list[float]) -> str:
    """How several fine-tuning runs of one member became one, if they did."""
    if len(rates) < 2:
        return ""
    return f"; once from each learning rate ({', '.join(f'{r:g}' for r in rates)}), weights averaged"


def _written(numbers: int) -> str:
    """What a line-model fine-tuning's numbers written from real strokes add to its training row, if any."""
    return f", and {numbers:,} numbers written stroke by stroke from real pen digits" if numbers else ""


def _mix(share: float) -> str:
    """How much of the start a fine-tuning kept (WiSE-FT), if any."""
    return f", then mixed with the start's weights ({pct(1 - share, 0)} start)" if share < 1 else ""


def line_training_row(card: dict) -> tuple[str, str]:
    """How the line model was made: from scratch, or fine-tuned from an earlier line model."""
    training, took = card["training"], minutes(card["training_seconds"])
    if tuned := card.get("fine_tuned"):
        return (
            "training (`make finetune-line-model`)",
            f"{took}: the members of `{tuned['from_version']}` fine-tuned {tuned['epochs']} epoch(s) on "
            f"{tuned['lines']:,} lines of MNIST, pen redraws and {tuned['real_digits']:,} renders of real pen "
            "digits"
            + (f" of the UNIPEN sites {', '.join(tuned['sites'])}" if "sites" in tuned else "")
            + f", {pct(tuned['marks'], 0)} with separators and as many with a trailing mark"
            + _written(tuned.get("written", 0))
            + _soup(tuned.get("learning_rates", []))
            + _mix(tuned.get("mix", 1.0)),
        )
    return (
        "training (`make train-line-model`)",
        f"{took} for all members, {training['epochs']} epochs each on {training['lines']:,} lines of "
        f"1–{training['max_digits']} digits ({pct(training['touching_share'], 0)} touching; "
        f"{training['pen_digits']:,} pen digits)",
    )


def line_model_section(card: dict) -> list[str]:
    parity = card["parity_with_keras"]
    exact = card["validation_lines_read_exactly"]
    rows = [
        (
            "members, parameters",
            f"{len(exact)} members, {card['parameters']:,} parameters in all; "
            f"`{card['file']}` {mb(card['file_bytes'])}",
        ),
        ("validation lines read exactly, each member (training)", ", ".join(pct(a, 1) for a in exact)),
        (
            f"float ONNX against Keras, {parity['lines']:,} validation lines",
            f"{parity['reading_disagreements']} reading disagreements, "
            f"max \\|Δp\\| {parity['max_abs_probability_diff']:.1e}",
        ),
        *quantization_rows(card, line_agreement),
        line_training_row(card),
    ]
    if "version" in card:
        rows.append(("version (sha256 prefix), opset", f"`{card['version']}`, {card['opset']}"))
    return [
        "## The line model (behind `/read`)",
        "",
        stamp(
            card,
            "line_model",
            f"`make {'finetune-line-model' if 'fine_tuned' in card else 'train-line-model'}` and `make export`",
        ),
        "",
        *table(("", ""), ("---", "---"), rows),
    ]


def realistic_table(kinds: dict[str, dict]) -> list[str]:
    """Per kind of render: accuracy, digits rejected as blank, blanks answered 422."""
    rows = [
        (
            kind,
            f"{r['digits']:,}",
            pct(r["accuracy"]),
            pct(r["rejected_rate"]),
            f"{r['blanks']:,}",
            pct(r["blanks_rejected_rate"], 0),
        )
        for kind, r in kinds.items()
    ]
    return table(
        ("kind", "digits", "accuracy", "rejected as blank", "blanks", "blanks answered 422"),
        ("---", "---:", "---:", "---:", "---:", "---:"),
        rows,
    )


def realistic_section(report: dict) -> list[str]:
    kinds = report["kinds"]
    worst = min(kinds, key=lambda kind: kinds[kind]["accuracy"])
    w = kinds[worst]
    digits = sum(r["digits"] for r in kinds.values())
    blanks = sum(r["blanks"] for r in kinds.values())
    return [
        "## Realistic input, one digit (`/predict`)",
        "",
        stamp(report, "evaluation", "`make evaluate` (`evaluate/realistic.py`)"),
        "",
        f"MNIST {report['source'].removeprefix('MNIST ')} digits rendered the way people send them "
        f"(`datasets/renders.py`), {report['per_kind']:,} per kind: canvas exports, paint programs, phone photos, "
        "white on black, small digits far from the centre, MNIST's 16-bit format, the MNIST scan itself "
        "enlarged and re-stroked (`scanned`: a generator training never uses) and printed digits, each "
        "with blanks of its kind.",
        "",
        *realistic_table(kinds),
        "",
        f"Lowest kind: {worst}, {pct(w['accuracy'])} ({w['digits'] - w['correct']:,} misreads of "
        f"{w['digits']:,}). Real digits rejected as blank: {sum(r['rejected'] for r in kinds.values()):,} of "
        f"{digits:,}; blanks answered 422: {sum(r['blanks_rejected'] for r in kinds.values()):,} of {blanks:,}.",
    ]


def real_table(kinds: dict[str, dict]) -> list[str]:
    """Per site and medium: accuracy, confidently wrong answers, the commonest confusions."""
    rows = [
        (
            kind,
            f"{r['digits']:,}",
            pct(r["accuracy"]),
            r["confident_wrong"],
            ", ".join(f"{k} ×{v}" for k, v in list(r["confusions"].items())[:4]),
        )
        for kind, r in kinds.items()
    ]
    return table(
        ("site, medium", "digits", "accuracy", "confidently wrong", "commonest confusions (true->read)"),
        ("---", "---:", "---:", "---:", "---"),
        rows,
    )


def real_section(report: dict) -> list[str]:
    return [
        "## Real handwriting, one digit (`/predict`)",
        "",
        stamp(report, "evaluation_real", "`make evaluate` (`evaluate/real.py`)"),
        "",
        f"Pen-on-tablet digits of the UNIPEN sites {', '.join(report['sites'])}, whose writers no training or "
        "selection step saw, drawn as the page's canvas exports them, written on paper and photographed, and "
        "as 16–32 px binarised scans enlarged, and binarised into a 16 px box they are stretched to fill, as "
        'some forms keep digits (`datasets/unipen.py`). "Confidently wrong": a wrong answer '
        "at 90% or more, which a low-confidence warning would not catch. A style set holds every digit of its "
        "kind written in that style: as its writer wrote it where the writer already slashed the zero or "
        "flagged the one, else with the style drawn on.",
        "",
        *real_table(report["kinds"]),
    ]


def numbers_table(kinds: dict[str, dict], single: dict) -> list[str]:
    """Per kind of number: exact strings and digits right; last, single digits through both endpoints."""
    rows = [
        (kind, f"{r['numbers']:,}", pct(r["exact_accuracy"], 1), pct(r["digit_accuracy"], 1))
        for kind, r in kinds.items()
    ]
    rows.append(
        (
            "single digits (canvas): `/read`, `/predict`",
            f"{single['images']:,}",
            pct(single["read_accuracy"], 1),
            pct(single["predict_accuracy"], 1),
        )
    )
    return table(("numbers", "count", "exact string", "per digit"), ("---", "---:", "---:", "---:"), rows)


def real_numbers_table(kinds: dict[str, dict]) -> list[str]:
    """Per site and medium: exact strings, digits right, and some misreads."""
    rows = [
        (
            kind,
            f"{r['numbers']:,}",
            pct(r["exact_accuracy"], 1),
            pct(r["digit_accuracy"], 1),
            ", ".join(f"`{m}`" for m in r["misreads"][:4]),
        )
        for kind, r in kinds.items()
    ]
    return table(
        ("site, medium", "numbers", "exact string", "per digit", "some misreads (true->read)"),
        ("---", "---:", "---:", "---:", "---"),
        rows,
    )


def real_numbers_section(report: dict) -> list[str]:
    return [
        "## Real handwritten numbers (`/read`)",
        "",
        stamp(report, "evaluation_real_numbers", "`make evaluate` (`evaluate/real_numbers.py`)"),
        "",
        f"Pen-written numbers of 2–7 digits from the UNIPEN sites {', '.join(report['sites'])}, whose writers "
        "no training or selection step saw, drawn as the page's canvas exports them and written on paper "
        "and photographed.",
        "",
        *real_numbers_table(report["kinds"]),
    ]


def amounts_table(report: dict) -> list[str]:
    """Per way of writing: exact strings, digits right, some misreads; all of them; the median time."""
    kinds = report["kinds"]
    every = sum(r["numbers"] for r in kinds.values())
    exact = sum(r["exact"] for r in kinds.values()) / every
    return [
        *real_numbers_table(kinds),
        "",
        f"All {every:,}: **{pct(exact, 1)}** exact; median {ms(report['median_ms'])} an amount, in-process.",
    ]


def amounts_section(report: dict) -> list[str]:
    return [
        "## Amounts on forms and cheques (`/read`)",
        "",
        stamp(report, "evaluation_amounts", "`make evaluate` (`evaluate/amounts.py`)"),
        "",
        f"Amounts of 1–7 digits written with real pen digits of the UNIPEN sites {', '.join(report['sites'])}, "
        "with thousands separators and trailing marks, over a printed baseline or in a box, on textured "
        "paper, scanned grey at 40–60 px of digit height (`datasets/amounts.py`, a generator nothing "
        "trains on). The answer is the digits alone.",
        "",
        *amounts_table(report),
    ]


def numbers_section(report: dict) -> list[str]:
    return [
        "## Whole numbers (`/read`)",
        "",
        stamp(report, "evaluation_numbers", "`make evaluate` (`evaluate/numbers.py`)"),
        "",
        f"Numbers built from MNIST {report['source'].removeprefix('MNIST ')} digits of varied sizes and "
        "baselines, apart or touching, as canvas exports and paper photos. The last row reads single "
        "digits through both endpoints (its last two columns: `/read`, `/predict`).",
        "",
        *numbers_table(report["kinds"], report["single_digits"]),
    ]


def legibility_section(report: dict) -> list[str]:
    samples = report["samples"]
    rows = [
        (
            f"{s['source']}, {s['kind']}",
            f"{s['reader_exact']} of {s['numbers']}",
            f"{s['service_exact']} of {s['numbers']}",
            s["both_wrong"],
        )
        for s in samples
    ]
    total = {key: sum(s[key] for s in samples) for key in ("numbers", "reader_exact", "service_exact", "both_wrong")}
    rows.append(
        (
            "**all**",
            f"{total['reader_exact']} of {total['numbers']}",
            f"{total['service_exact']} of {total['numbers']}",
            total["both_wrong"],
        )
    )
    return [
        "## How legible the numbers are: a blind reading",
        "",
        stamp(report, "legibility_readings", "`evaluate/legibility.py` sheets and a reading of them"),
        "",
        "The whole-number evaluation's own numbers, drawn on unlabelled sheets without their text and "
        f"read blind; beside each reading, the service's answers to the same numbers. The reader: {report['reader']}.",
        "",
        *table(("numbers", "blind reading", "service", "both wrong"), ("---", "---:", "---:", "---:"), rows),
    ]


HTTP_ROWS = (
    ("service_1_connection", "gunicorn + Falcon + onnxruntime, 1 connection"),
    ("service_saturated", "gunicorn + Falcon + onnxruntime, 16 connections"),
    ("service_saturated_paper_photo", "the same, a paper photo (JPEG), 16 connections"),
    ("service_saturated_photo_12mp", "the same, a 12 MP phone photo (JPEG), 16 connections"),
    ("batch_saturated", "`/predict/batch`, 64 canvas PNGs per request, 4 connections"),
    ("ceiling_noop", "ceiling: same gunicorn, read the body and answer, 16 connections"),
    ("ceiling_decode", "ceiling: same gunicorn, decode + resize only, 16 connections"),
    ("ceiling_decode_paper_photo", "ceiling: decode + resize only, the paper photo, 16 connections"),
    ("ceiling_decode_photo_12mp", "ceiling: decode + resize only, the 12 MP photo, 16 connections"),
    ("ceiling_decode_forward", "ceiling: same gunicorn, decode + resize + model, 16 connections"),
    ("ceiling_decode_forward_1_connection", "ceiling: same gunicorn, decode + resize + model, 1 connection"),
    ("baseline_1_connection", "Flask + Keras baseline, 1 connection"),
    ("baseline_saturated", "Flask + Keras baseline, 16 connections"),
)


def speed_section(report: dict) -> list[str]:
    p, h = report["in_process"], report["http"]
    in_process = [
        ("preprocessing (decode → 28×28)", ms(p["preprocess"]["p50_ms"]), ms(p["preprocess"]["p99_ms"])),
        *(
            [
                (
                    "a 12 MP phone photo: preprocessing; the file's full-size decode alone",
                    f"{ms(p['preprocess_12mp_photo']['p50_ms'])}; {ms(p['full_decode_12mp_photo']['p50_ms'])}",
                    f"{ms(p['preprocess_12mp_photo']['p99_ms'])}; {ms(p['full_decode_12mp_photo']['p99_ms'])}",
                )
            ]
            if "preprocess_12mp_photo" in p  # measured since big JPEGs decode small
            else []
        ),
        ("onnxruntime, batch 1", ms(p["onnxruntime_batch1"]["p50_ms"], 3), ms(p["onnxruntime_batch1"]["p99_ms"], 3)),
        ("onnxruntime, batch 256", f"{p['onnxruntime_batch256']['images_per_s']:,.0f} images/s", ""),
        (
            "Keras `model.predict`, batch 1",
            ms(p["keras_predict_batch1"]["p50_ms"], 1),
            ms(p["keras_predict_batch1"]["p99_ms"], 1),
        ),
    ]
    http = [
        (
            name,
            f"{h[key]['requests_per_s']:,.0f}",
            ms(h[key]["p50_ms"]),
            ms(h[key]["p99_ms"]),
            ms(h[key]["p999_ms"]),
            h[key]["errors"],
        )
        for key, name in HTTP_ROWS
        if key in h  # older reports lack the rows added since
    ]
    if "read" in report:
        in_process += [
            (f"`/read`, {kind} ({r['n']} numbers)", ms(r["p50_ms"]), f"p95 {ms(r['p95_ms'])}")
            for kind, r in report["read"].items()
        ]
    rss = ", ".join(f"{m:.0f}" for m in h["worker_rss_mb"])
    return [
        "## Speed (`/predict`)",
        "",
        stamp(report, "bench", "`make bench` (`bench/run.py`)"),
        "",
        f"One 280×280 canvas PNG through every stage in-process, then over HTTP with wrk from a second "
        f"process on the same {report['machine']['cpus']} CPUs, against the seed-style stack (Flask calling "
        "Keras `model.predict` per request, `bench/baseline_flask.py`, same preprocessing) and the ceiling "
        "apps (`bench/ceiling_app.py`: the same gunicorn doing almost nothing) in the same run. Compare rows "
        "within one run, not across runs.",
        "",
        *table(("in-process, one 280×280 canvas PNG", "p50", "p99"), ("---", "---:", "---:"), in_process),
        "",
        f"onnxruntime is **{p['ratio_keras_over_onnxruntime']:.0f}×** faster than Keras `model.predict` per image.",
        "",
        *table(
            ("over HTTP (wrk, same run)", "requests/s", "p50", "p99", "p99.9", "errors"),
            ("---", "---:", "---:", "---:", "---:", "---:"),
            http,
        ),
        "",
        f"Throughput **{h['throughput_ratio']:.0f}×** the baseline; worker RSS {rss} MB; "
        f"cold start to `/healthz` {h['cold_start_s']:.2f} s.",
        *(
            [
                "",
                "The service against its decode-and-shrink ceiling, requests/s: "
                + ", ".join(f"{medium} **{r:.2f}×**" for medium, r in h["service_over_ceiling"].items())
                + " (the canvas ceiling with the model run too, and nothing else: "
                + f"{h['ceiling_decode_forward']['requests_per_s'] / h['ceiling_decode']['requests_per_s']:.2f}×)"
                + ". Images/s through `/predict/batch` against one image per request: "
                + f"**{h['batch_over_single']:.2f}×**.",
            ]
            if "service_over_ceiling" in h
            else []
        ),
    ]


def soak_section(report: dict) -> list[str]:
    s, f = report["soak"], report["fault"]
    rows = [
        (
            f"soak, {s['seconds']:.0f} s",
            f"{s['requests']:,}",
            f"{s['requests_per_s']:,.0f}",
            s["errors"],
            ms(s["p99_ms"], 1),
            f"worker RSS grew by at most {s['rss_growth_mb']:.1f} MB; {s['workers_recycled']} workers recycled",
        ),
        (
            f"kill -9 of a worker, {f['seconds']:.0f} s",
            f"{f['requests']:,}",
            f"{f['requests_per_s']:,.0f}",
            f["errors"],
            ms(f["p99_ms"], 1),
            f"replacement forked after {f['replaced_after_s']:.2f} s",
        ),
    ]
    return [
        "## Under load: soak and fault",
        "",
        stamp(report, "soak", "`make soak` (`bench/soak.py`)"),
        "",
        "wrk posts the benchmark canvas from a second process at 16 connections: first for a minute at "
        "saturation, then while one worker is killed with SIGKILL.",
        "",
        *table(
            ("under load", "requests", "requests/s", "errors", "p99", "memory, workers"),
            ("---", "---:", "---:", "---:", "---:", "---"),
            rows,
        ),
    ]


def render_results(reports: dict[str, dict]) -> str:
    """docs/results.md."""
    sections = [
        classifier_section(reports["model"]),
        realistic_section(reports["evaluation"]),
        real_section(reports["evaluation_real"]),
        line_model_section(reports["line_model"]),
        numbers_section(reports["evaluation_numbers"]),
        real_numbers_section(reports["evaluation_real_numbers"]),
        amounts_section(reports["evaluation_amounts"]),
        legibility_section(reports["legibility_readings"]),
        speed_section(reports["bench"]),
        soak_section(reports["soak"]),
    ]
    head = [
        "# Measured results",
        "",
        "<!-- Generated by `make report` (evaluate/report.py) from artifacts/*.json: do not edit. -->",
        "",
        "Every table here is rendered from the reports in `artifacts/` by `make report`; none is typed by "
        "hand, and `tests/test_docs.py` fails when this file is not what those reports give. Each section "
        "names its report and the date and commit it was measured at (`+dirty`: with uncommitted changes). "
        "Test data is read once, to report; every choice was made on validation data. How these numbers "
        "came to be, and what was tried and dropped: [experiments.md](experiments.md).",
    ]
    lines = head
    for section in sections:
        lines += ["", *section]
    return "\n".join(wrapped(line) for line in lines) + "\n"


def render_headline(reports: dict[str, dict]) -> str:
    """README.md's results table (the lines between BEGIN and END)."""
    card, realistic, real, numbers, real_numbers, bench = (
        reports["model"],
        reports["evaluation"],
        reports["evaluation_real"],
        reports["evaluation_numbers"],
        reports["evaluation_real_numbers"],
        reports["bench"],
    )

    def when(report: dict, name: str) -> str:
        m = measured(report, name)
        return f"{m['date']}, `{m['commit']}`"

    kinds = realistic["kinds"]
    worst = min(kinds, key=lambda kind: kinds[kind]["accuracy"])

    def spread(word: str) -> str:
        exact = [r["exact_accuracy"] for kind, r in numbers["kinds"].items() if word in kind.split(", ")]
        return f"{100 * min(exact):.1f}–{pct(max(exact), 1)}"

    single, h = numbers["single_digits"], bench["http"]
    rows = [
        (
            "MNIST test accuracy",
            f"{pct(card['test']['accuracy'])} ({card['test']['errors']} errors)",
            when(card, "model"),
        ),
        (
            f"user-like renders of test digits, lowest of {len(kinds)} kinds",
            f"{pct(kinds[worst]['accuracy'])} ({worst}, {kinds[worst]['digits']:,} digits)",
            when(realistic, "evaluation"),
        ),
        (
            f"real pen digits of unseen writers ({', '.join(real['sites'])}), canvas",
            "; ".join(
                f"{kind.split(',')[0]} {pct(r['accuracy'])} ({r['digits']:,})"
                for kind, r in real["kinds"].items()
                if kind.endswith("canvas") and not kind.startswith("style")
            ),
            when(real, "evaluation_real"),
        ),
        (
            "whole numbers, exact: separated; touching",
            f"{spread('separated')}; {spread('touching')}",
            when(numbers, "evaluation_numbers"),
        ),
        (
            f"real pen numbers of unseen writers ({', '.join(real_numbers['sites'])}), exact, canvas",
            "; ".join(
                f"{kind.split(',')[0]} {pct(r['exact_accuracy'], 1)} ({r['numbers']:,})"
                for kind, r in real_numbers["kinds"].items()
                if kind.endswith("canvas")
            ),
            when(real_numbers, "evaluation_real_numbers"),
        ),
        (
            "single digits through `/read`, `/predict`",
            f"{pct(single['read_accuracy'], 1)}, {pct(single['predict_accuracy'], 1)}",
            when(numbers, "evaluation_numbers"),
        ),
        (
            "`/predict` over HTTP: p50 at 1 connection; saturated",
            f"{ms(h['service_1_connection']['p50_ms'])}; {h['service_saturated']['requests_per_s']:,.0f} "
            f"requests/s ({h['throughput_ratio']:.0f}× Flask + Keras)",
            when(bench, "bench"),
        ),
    ]
    return "\n".join(table(("measure", "result", "measured"), ("---", "---", "---"), rows))


def splice(readme: str, block: str) -> str:
    """The README with block between its BEGIN and END lines."""
    start, end = readme.find(BEGIN + "\n"), readme.find("\n" + END)
    if start < 0 or end < start:
        raise ValueError(f"README.md needs a line {BEGIN} and, after it, a line {END}")
    return readme[: start + len(BEGIN) + 1] + block + readme[end:]


def rendered(reports: dict[str, dict], readme: str) -> dict[Path, str]:
    """What each generated file should hold."""
    return {RESULTS: render_results(reports), README: splice(readme, render_headline(reports))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    args = parser.parse_args()
    wanted = rendered(load(), README.read_text())
    stale = [path for path, text in wanted.items() if not path.is_file() or path.read_text() != text]
    for path in stale:
        if args.check:
            print(f"{path.relative_to(ROOT)} is stale: run `make report`", file=sys.stderr)
        else:
            path.write_text(text := wanted[path])
            print(f"wrote {path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

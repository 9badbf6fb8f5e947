"""Where the shipped models and their cards live (a module of paths only: cheap to import anywhere)."""

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CLASSIFIER = ARTIFACTS / "model.onnx"
CLASSIFIER_CARD = ARTIFACTS / "model.json"
LINE_MODEL = ARTIFACTS / "line_model.onnx"
LINE_MODEL_CARD = ARTIFACTS / "line_model.json"
CLASSIFIER_INT8 = ARTIFACTS / "model.int8.onnx"  # CLASSIFIER quantised (export/quantize.py): the one served
LINE_MODEL_INT8 = ARTIFACTS / "line_model.int8.onnx"  # LINE_MODEL quantised (export/quantize.py): the one served

"""The server runs on onnxruntime alone: importing and serving never loads TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys, numpy as np, falcon.testing
from server.app import create_app
from server.config import Config
from tests.conftest import png_bytes
client = falcon.testing.TestClient(create_app(Config()))
canvas = np.full((100, 100), 255, dtype=np.uint8); canvas[20:80, 45:55] = 0
result = client.simulate_post("/api/v1/predict", body=png_bytes(canvas), headers={"Content-Type": "image/png"})
assert result.status_code == 200, result.text
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"tensorflow", "keras", "tf2onnx", "tf_keras"})
print(",".join(loaded) or "none")
"""


def test_serving_never_imports_tensorflow() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "none"


def test_server_sources_do_not_import_tensorflow() -> None:
    for path in [*(ROOT / "server").rglob("*.py"), *(ROOT / "digits").rglob("*.py")]:
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] not in {"tensorflow", "keras", "tf2onnx"}, f"{path}: {line}"

"""The library every stage shares: preprocessing, the model contracts, onnxruntime sessions, the readings."""

import os

# onnxruntime >= 1.29 on Linux sends telemetry, keeps a device id and a cache in $HOME, and its
# uploader holds a process for ~10 s at exit (gunicorn's graceful stop ran out waiting for it).
# Read once, when onnxruntime first loads, so it is set here, before any module imports it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

"""Serving stage: a Falcon WSGI app that runs the ONNX model with onnxruntime (never TensorFlow)."""

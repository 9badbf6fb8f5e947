"""Export stage: Keras -> ONNX with tf2onnx, parity check against Keras, model card."""

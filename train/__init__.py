"""Training stage: MNIST loading (numpy only) and the Keras training script."""

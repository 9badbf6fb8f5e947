"""Data every stage shares: MNIST, pen redraws, user-like renders; imports digits, never train/evaluate/bench."""

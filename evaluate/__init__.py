"""Evaluation on user-like renders of MNIST test digits, kept out of training and model selection."""

"""Benchmarks: in-process stage latencies and HTTP load against a Flask + Keras baseline (`make bench`)."""

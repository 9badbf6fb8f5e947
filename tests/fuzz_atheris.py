"""Coverage-guided fuzzing (atheris, libFuzzer) of decode and preprocess, with test_fuzz's oracle.

python -m tests.fuzz_atheris CORPUS_DIR [libFuzzer flags, e.g. -runs=100000]; a crash exits non-zero
and leaves the input in crash-*.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["digits", "PIL"]):
    from tests.test_fuzz import outcome


def one_input(data: bytes) -> None:
    """Any outcome but a valid 28x28 image or a documented PreprocessError raises."""
    outcome(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()

"""The loaded models behind every reading, held in one object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from digits.classifier import DEFAULT_MODEL, Classifier
from digits.line_model import DEFAULT_LINE_MODEL, LineModel


@dataclass(frozen=True)
class Models:
    """The digit classifier and the CTC line model; build it after forking (onnxruntime sessions)."""

    classifier: Classifier
    line_model: LineModel

    @classmethod
    def load(cls, classifier: Path = DEFAULT_MODEL, line_model: Path = DEFAULT_LINE_MODEL) -> Models:
        """Both models from their ONNX files (the shipped ones by default)."""
        return cls(Classifier(classifier), LineModel(line_model))

    @property
    def busy_seconds(self) -> float:
        """Time both models have spent running so far."""
        return self.classifier.busy_seconds + self.line_model.busy_seconds

    @property
    def version(self) -> str:
        """Both models' versions, classifier first: what /read's answers come from."""
        return f"{self.classifier.version}+{self.line_model.version}"

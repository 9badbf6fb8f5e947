"""Training-curve and confusion-matrix plots (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np


def training_curves(histories: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch for every ensemble member."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for i, h in enumerate(histories):
        epochs = np.arange(1, len(h["loss"]) + 1)
        ax_loss.plot(epochs, h["loss"], f"C{i}-", label=f"member {i} train")
        ax_loss.plot(epochs, h["val_loss"], f"C{i}--", label=f"member {i} validation")
        ax_acc.plot(epochs, h["accuracy"], f"C{i}-")
        ax_acc.plot(epochs, h["val_accuracy"], f"C{i}--")
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0.97, 1.0), title="Accuracy (dashed: validation)")
    ax_loss.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_matrix(matrix: np.ndarray, path: Path) -> None:
    """Test-set confusion matrix, counts written in the cells."""
    fig, ax = plt.subplots(figsize=(6, 5.5))
    shown = np.log1p(matrix)
    ax.imshow(shown, cmap="Blues")
    for (r, c), count in np.ndenumerate(matrix):
        if count:
            ax.text(
                c,
                r,
                str(count),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if shown[r, c] > shown.max() / 2 else "black",
            )
    ax.set(
        xticks=range(10),
        yticks=range(10),
        xlabel="predicted",
        ylabel="true",
        title=f"MNIST test: {matrix.trace()} / {matrix.sum()} correct",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

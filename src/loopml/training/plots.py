"""Evaluation plots as PNG bytes, drawn with matplotlib's Agg canvas.

Figures are built with ``matplotlib.figure.Figure`` on an explicit Agg canvas, never through
``pyplot``: no global figure state, no display needed, and the caller's backend is left alone.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.core.errors import InvalidInput

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from loopml.training.metrics import Predictions


def plots_for(pred: Predictions, task: str) -> dict[str, bytes]:
    """The task's plots by file stem: confusion matrix (+ ROC and PR curves when binary), or residuals."""
    if task == "regression":
        return {"residuals": residuals(pred)}
    out = {"confusion_matrix": confusion_matrix(pred)}
    scores = pred.positive_scores
    if scores is not None and len(np.unique(pred.y_true)) == 2:
        out["roc_curve"] = roc_curve(pred)
        out["pr_curve"] = pr_curve(pred)
    return out


def confusion_matrix(pred: Predictions) -> bytes:
    """Counts of true (rows) against predicted (columns) labels, annotated."""
    from loopml.training.metrics import confusion

    data = confusion(pred)
    matrix = np.asarray(data["matrix"])
    labels = [str(v) for v in data["labels"]]
    size = max(4.0, 0.6 * len(labels) + 2.5)
    fig, ax = _figure((size, size))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set(
        xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels, yticklabels=labels,
        xlabel="Predicted label", ylabel="True label", title="Confusion matrix",
    )  # fmt: skip
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    return _png(fig)


def roc_curve(pred: Predictions) -> bytes:
    """Binary ROC curve with its AUC, and the chance diagonal."""
    from sklearn import metrics

    fpr, tpr, _ = metrics.roc_curve(pred.y_true, _scores(pred), pos_label=pred.pos_label)
    auc = metrics.auc(fpr, tpr)
    fig, ax = _figure((5, 5))
    ax.plot(fpr, tpr, label=f"ROC (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower right")
    return _png(fig)


def pr_curve(pred: Predictions) -> bytes:
    """Binary precision-recall curve with its average precision, and the prevalence baseline."""
    from sklearn import metrics

    precision, recall, _ = metrics.precision_recall_curve(pred.y_true, _scores(pred), pos_label=pred.pos_label)
    ap = metrics.average_precision_score(pred.y_true, _scores(pred), pos_label=pred.pos_label)
    prevalence = float(np.mean(pred.y_true == pred.pos_label))
    fig, ax = _figure((5, 5))
    ax.plot(recall, precision, label=f"PR (AP = {ap:.3f})")
    ax.axhline(prevalence, linestyle="--", color="grey", label=f"prevalence = {prevalence:.3f}")
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left")
    return _png(fig)


def residuals(pred: Predictions) -> bytes:
    """Residuals (actual - predicted) against predictions, with the zero line."""
    predicted = pred.y_pred.astype(float)
    residual = pred.y_true.astype(float) - predicted
    fig, ax = _figure((6, 4.5))
    ax.scatter(predicted, residual, s=12, alpha=0.6)
    ax.axhline(0.0, linestyle="--", color="grey")
    ax.set(xlabel="Predicted value", ylabel="Residual (actual - predicted)", title="Residuals")
    return _png(fig)


def _scores(pred: Predictions) -> np.ndarray:
    scores = pred.positive_scores
    if scores is None:
        raise InvalidInput("ROC and PR curves need a binary classifier with predict_proba or decision_function.")
    return scores


def _figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise InvalidInput("Evaluation plots need matplotlib: pip install 'matplotlib>=3.8'.") from exc
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def log_png(run: Any, data: bytes, artifact_file: str) -> str:
    """Store PNG bytes as the artifact ``artifact_file`` of ``run``; returns the path."""
    import tempfile
    from pathlib import Path

    folder, _, name = artifact_file.rpartition("/")
    with tempfile.TemporaryDirectory(prefix="loopml-plot-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        run.log_artifact(path, folder or None)
    return artifact_file

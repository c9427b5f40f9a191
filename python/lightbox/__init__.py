"""lightbox from Python: the C++ engine's models, explainers and metrics on numpy arrays.

    import lightbox, numpy as np
    model = lightbox.load("runs/seed/checkpoints/best.safetensors")
    logits = model(x)                                  # x: (N, C, H, W) float32, model space
    e = lightbox.explain(model, x, "deep", background=bg)
    e.values                                           # (N, K, C, H, W) float64, lightbox's layout
    shap.image_plot(e.shap_values(), e.pixel_values()) # shap's layout

Arrays go in and out without copies where the layout allows it (C-contiguous float32 on the
CPU; docs/12-python.md says where a copy happens). Every failure is one exception type,
lightbox.Error, carrying the engine's one-line message (the CLI's). Ctrl-C stops a long call
between batches with KeyboardInterrupt; the GIL is released while the engine computes.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _core
from ._core import Error, Model, Tensor

__all__ = [
    "Error", "Model", "Tensor", "Explanation", "load", "resnet18", "explain", "explainers",
    "to_model_space", "load_split", "predict", "select", "evaluate", "compare", "train",
    "default_train_config",
]

ProgressArg = Union[None, bool, Callable[..., Any]]


def load(path: str) -> Model:
    """Load a ResNet18 from a safetensors file: a lightbox checkpoint, or weights converted from
    torchvision / timm (no metadata needed: channels, classes and width come from the shapes).
    Raises lightbox.Error (a missing file, a file that is not a ResNet18, ...)."""
    return _core.load(path)


def resnet18(in_channels: int = 1, num_classes: int = 2, width: int = 64, seed: int = 0) -> Model:
    """A freshly initialised ResNet18 (torchvision's init, seeded). width: conv1's channels (64).
    Load ImageNet weights into it with model.load_imagenet(path, conv1="sum")."""
    return _core.resnet18(in_channels, num_classes, width, seed)


def to_model_space(pixels: np.ndarray, model: Model) -> np.ndarray:
    """uint8 pixels (N, C, H, W) or (N, H, W) -> float32 (N, C, H, W) in the model's input space:
    (pixel / 255 - mean) / std with the model's normalization. Copies (it computes new values)."""
    p = np.asarray(pixels)
    if p.ndim == 3:
        p = p[:, None]
    mean, std = model.meta["normalization"]
    return ((p.astype(np.float32) / np.float32(255.0) - np.float32(mean)) / np.float32(std)).astype(np.float32)


def _tqdm_callback() -> Callable[..., Any]:
    from tqdm.auto import tqdm  # optional dependency
    bars: List[Any] = []

    def callback(event: str, *args: Any) -> None:
        if event == "start":
            label, total, unit = args
            bars.append(tqdm(total=total, desc=label, unit=unit, leave=False))
        elif event == "update":
            steps, _units, status = args
            bars[-1].update(steps)
            if status:
                bars[-1].set_postfix_str(status)
        elif bars:
            bars.pop().close()

    return callback


@contextlib.contextmanager
def _progress(progress: ProgressArg):
    """Routes the engine's progress bars to `progress` for one call: True draws tqdm bars, a
    callable gets callback(event, ...) with event "start" (label, total, unit), "update" (steps,
    units, status) or "finish" (status)."""
    if not progress:
        yield False
        return
    _core.set_progress(_tqdm_callback() if progress is True else progress)
    try:
        yield True
    finally:
        _core.set_progress(None)


class Explanation:
    """What an explainer returns (explain/explain.h), as numpy arrays.

    values     (N, K, C, H, W) float64: one number per input element and output k (a layer:
               (N, K, C_l, H_l, W_l), the layer's input)
    expected   (K,) E f(background) (gradient, deep) or (N, K) f(reference) (partition, ig)
    outputs    (N, K) f(x);  gaps (N, K) outputs - expected - sum(values), or None
    variances  gradient only (shap's var / sqrt(nsamples)), else None
    settings   every setting that shaped the result (what the CLI writes to meta.json)
    """

    def __init__(self, d: Dict[str, Any], x: np.ndarray):
        self.method: str = d["method"]
        self.layer: str = d["layer"]
        self.values: np.ndarray = d["values"]
        self.expected: Optional[np.ndarray] = d["expected"]
        self.outputs: Optional[np.ndarray] = d["outputs"]
        self.gaps: Optional[np.ndarray] = d["gaps"]
        self.variances: Optional[np.ndarray] = d["variances"]
        self.settings: Dict[str, Any] = d["settings"]
        self.x = x

    def shap_values(self, channels_last: bool = True) -> List[np.ndarray]:
        """shap's layout: a list with one array per output k. channels_last=True gives (N, H, W, C)
        each, what shap.image_plot takes unchanged; False gives (N, C, H, W), what shap's
        DeepExplainer / GradientExplainer return for a PyTorch model (shap < 0.45). Views, no copy."""
        K = self.values.shape[1]
        if channels_last:
            return [self.values[:, k].transpose(0, 2, 3, 1) for k in range(K)]
        return [self.values[:, k] for k in range(K)]

    @property
    def expected_value(self) -> Optional[np.ndarray]:
        """shap's explainer.expected_value: (K,) for gradient and deep, (N, K) for partition and ig."""
        return self.expected

    def pixel_values(self) -> np.ndarray:
        """The explained images channels-last (N, H, W, C), image_plot's second argument."""
        return np.asarray(self.x).transpose(0, 2, 3, 1)

    def __repr__(self) -> str:
        return f"Explanation(method={self.method!r}, layer={self.layer!r}, values={self.values.shape})"


def explainers() -> List[Dict[str, Any]]:
    """The registered explainers (explain/registry.h): name, title, description, layers,
    needs_background and options {name: (default, help)} -- the CLI's --method and flags."""
    return _core.explainers()


def explain(model: Model, x: Any, method: str, background: Any = None, layer: str = "input", *,
            model_output: str = "logits", batch_size: int = 0, seed: int = 0,
            progress: ProgressArg = None, **options: Any) -> Explanation:
    """Explain every output of `model` for images x (N, C, H, W) float32 in model space, as
    `lightbox explain --input` does (same code, defaults and checks).

    method      "gradient", "deep", "partition" or "ig" (lightbox.explainers() lists them)
    background  (B, C, H, W) float32 for gradient and deep
    layer       "input" or "layer1".."layer4" (gradient, deep): the layer's input is explained
    options     the method's own: nsamples, max_evals, steps, masker, ... (the CLI's flags)
    progress    True: tqdm bars; a callable: progress events (see lightbox._progress)
    x and background are shared with the engine, not copied (a strided array is copied). The GIL is
    released while it runs; Ctrl-C raises KeyboardInterrupt between batches."""
    with _progress(progress) as on:
        d = _core.explain(model, x, method, background, layer, model_output, batch_size, seed, options, on)
    return Explanation(d, x)


# ---- data, predictions, selection, metrics, comparisons ----------------------------------------


def load_split(path: str, split: str = "test") -> Dict[str, Any]:
    """One split of a MedMNIST .npz: {"images": uint8 (N, H, W, C), "labels": int64 (N,),
    "num_classes": K}. Turn images into model input with to_model_space(images[..., 0], model)."""
    return _core.load_split(path, split)


def predict(model: Model, data: str, split: str = "test", batch_size: int = 256,
            progress: ProgressArg = None) -> Dict[str, Any]:
    """The model on every image of a split (eval mode), as `lightbox eval` runs it:
    {"logits": (N, K) float32, "probs": (N, K) float32, "labels": (N,) int64, "loss": mean CE,
    "multilabel": False}. A multi-label split (ChestMNIST) gives sigmoid probs, labels (N, K) 0/1
    flags and the mean binary cross-entropy."""
    with _progress(progress) as on:
        return _core.predict(model, data, split, batch_size, on)


def select(labels: Any, scores: Any, cells: str = "tp,fp,fn,tn", per_cell: int = 1, threshold: float = 0.5,
           order: str = "first", cls: Optional[int] = None) -> List[Dict[str, Any]]:
    """Samples to explain from the confusion-matrix cells, as `lightbox explain --select [--class K]`.

    Binary: labels (N,) 0/1, scores (N,) class-1 probabilities, predicted positive at >= threshold.
    Multi-class: scores (N, K) probabilities, labels (N,); cls=k makes the cells one-vs-rest for k
        (belongs to k, argmax is k); without cls each sample is judged on its own predicted class,
        so it is TP (right) or FP (wrong), as the CLI does.
    Multi-label: scores (N, L), labels (N, L) 0/1 flags; cls=k (default: each sample's most probable
        label), predicted at >= threshold.
    order "first" (lowest indices) or "confident" (furthest from the threshold).
    Returns [{"index", "cell", "label" (1 when it belongs to the class), "score"}, ...] cell by cell."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    multilabel = y.ndim == 2
    if s.ndim == 2 and s.shape[1] == 2 and not multilabel and cls is None:
        s = s[:, 1]  # a two-class model: class 1 is the positive class, as in the CLI
    if s.ndim == 1:
        positive, predicted, score = y, (s >= threshold).astype(np.int64), s
    else:
        if cls is None and set(cells.split(",")) - {"tp", "fp"}:
            raise Error(f"select {cells}: without cls=K each sample of a {s.shape[1]}-output model is judged on "
                        "its own predicted class, so it is tp (right) or fp (wrong); give cls=K for fn and tn "
                        "(one-vs-rest for class K)")
        if cls is not None and not 0 <= cls < s.shape[1]:
            raise Error(f"select: cls={cls}: the model has {s.shape[1]} outputs (0 to {s.shape[1] - 1})")
        rows = np.arange(len(s))
        k = s.argmax(axis=1) if cls is None else np.full(len(s), cls)
        score = s[rows, k]
        positive = y[rows, k] if multilabel else (y == k).astype(np.int64)
        predicted = (score >= threshold) if multilabel or s.shape[1] == 2 else (s.argmax(axis=1) == k)
        predicted = predicted.astype(np.int64)
    return _core.select(np.asarray(positive).tolist(), np.asarray(predicted).tolist(), np.asarray(score).tolist(),
                        threshold, cells, per_cell, order)


def evaluate(scores: Any, labels: Any, threshold: float = 0.5, resamples: int = 1000, seed: int = 0,
             roc: bool = True) -> Dict[str, Any]:
    """Metrics as `lightbox eval` reports them, with bootstrap CIs.

    scores (N,) class-1 probabilities, labels (N,) 0/1: binary metrics at `threshold` (confusion,
        accuracy, sensitivity, specificity, ppv, npv, f1, balanced accuracy, AUC, ROC).
    scores (N, K) softmax rows, labels (N,) in [0, K): multi-class ACC and macro one-vs-rest AUC,
        the K x K confusion and per-class results (MedMNIST's metrics).
    scores (N, L) sigmoid outputs, labels (N, L) 0/1 flags: multi-label (threshold 0.5, MedMNIST's).
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 2:
        y = np.asarray(labels, dtype=np.int64)
        return _core.evaluate_classes(s.tolist(), y.tolist(), resamples, seed, roc)
    return _core.evaluate(s.tolist(), np.asarray(labels, dtype=np.int64).tolist(), threshold, resamples, seed, roc)


def compare(scores_a: Any, scores_b: Any, labels: Any,
            threshold_a: float = 0.5, threshold_b: float = 0.5) -> Dict[str, Any]:
    """Two models on the same samples, as `lightbox compare`.

    scores (N,) class-1 probabilities, labels (N,) 0/1: McNemar's exact test, DeLong's test of the
        AUCs, and the seed's chi-squared tests (with why they mislead: models/evaluate/stats.h).
    scores (N, K) softmax rows with labels (N,), or (N, L) sigmoid outputs with labels (N, L) 0/1
        flags: McNemar on correctness (argmax = label; per label for multi-label) and DeLong per
        class, one-vs-rest (models/evaluate/compare_multi.h); the thresholds do not apply.
    """
    a, b = np.asarray(scores_a, dtype=np.float64), np.asarray(scores_b, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if a.ndim == 2:
        return _core.compare_classes(a.tolist(), b.tolist(), y.tolist())
    return _core.compare(a.tolist(), b.tolist(), y.tolist(), threshold_a, threshold_b)


# ---- training -------------------------------------------------------------------------------------


def default_train_config() -> Dict[str, Any]:
    """The seed recipe as a config dict (the keys of a run's config.json)."""
    return _core.default_train_config()


def _tqdm_train_callback() -> Callable[[str, Dict[str, Any]], None]:
    from tqdm.auto import tqdm
    state: Dict[str, Any] = {}

    def callback(event: str, info: Dict[str, Any]) -> None:
        if event == "epoch_start":
            state["bar"] = tqdm(total=info["batches"], desc=f"epoch {info['epoch']}/{info['epochs']}", unit="batch")
        elif event == "batch_end" and "bar" in state:
            state["bar"].update(1)
            state["bar"].set_postfix(loss=f"{info['mean_loss']:.4f}")
        elif event in ("epoch_end", "interrupted") and "bar" in state:
            state.pop("bar").close()

    return callback


def train(config: Dict[str, Any], progress: ProgressArg = None) -> Dict[str, Any]:
    """Train a ResNet18 as `lightbox train` does. config: the keys of a run's config.json (data,
    out, init, epochs, batch_size, optimizer, lr, ..., see default_train_config()) plus resume,
    stop_after and device; unknown keys are an error. progress: True draws tqdm bars, a callable
    gets callback(event, info) for run_start, resumed, epoch_start, batch_end (images,
    mean_loss), checkpoint_saved, epoch_end (the epoch's record), stop_after, interrupted,
    early_stop. Ctrl-C stops after the batch in flight, saves the resumable state and raises
    KeyboardInterrupt; train({..., "resume": True}) continues. Returns the history and the best
    checkpoint's path."""
    callback = _tqdm_train_callback() if progress is True else (progress or None)
    return _core.train(config, callback)

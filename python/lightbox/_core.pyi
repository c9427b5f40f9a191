"""
lightbox's C++ engine (python/src); use the lightbox package, which wraps it
"""

from collections.abc import Sequence

import numpy
import numpy.typing
from numpy.typing import NDArray


class Error(RuntimeError):
    pass

class Tensor:
    """
    An engine tensor (contiguous, row-major). Made from a numpy array or any DLPack object; shares its memory when it is C-contiguous float32/float64/int64/uint8 on the CPU and copies a strided one.
    """

    def __init__(self, array: NDArray) -> None:
        """
        View `array` (numpy, PyTorch CPU, anything with DLPack or the buffer protocol) without a copy.
        """

    @property
    def shape(self) -> tuple:
        """The shape as a tuple."""

    @property
    def dtype(self) -> str:
        """'float32', 'float64', 'int64' or 'uint8'."""

    @property
    def version(self) -> int:
        """
        The storage's version counter (bumped by the engine's in-place writes).
        """

    def numpy(self) -> numpy.typing.NDArray:
        """
        A numpy array over the same memory (no copy); it keeps the tensor alive.
        """

    def __array__(self, dtype: object | None = None, copy: object | None = None) -> object: ...

    def __dlpack__(self, **kw) -> object:
        """DLPack capsule over the same memory (torch.from_dlpack(t) shares it)."""

    def __dlpack_device__(self) -> tuple: ...

    def __repr__(self) -> str: ...

    def shares_memory(self, other: Tensor) -> bool:
        """True when both tensors view one storage."""

class Model:
    """A ResNet18 and what is known about it (models/checkpoint.h)."""

    def __call__(self, x: numpy.typing.ArrayLike) -> numpy.typing.NDArray[numpy.float32]:
        """
        Logits (N, K) float32 of images x (N, C, H, W) float32 in model space, eval mode.
        """

    def probe(self, x: numpy.typing.ArrayLike, capture: Sequence[str] = [], backward_output: int | None = None, train_mode: bool = False) -> dict[str, numpy.typing.NDArray]:
        """
        One forward (and a backward) as `lightbox probe` does. x: (N, C, H, W) float32 in model space.
        Returns {name: array}: logits, probs (N, K); for each captured module NAME (conv1, layer1,
        layer4.1.conv2, fc, ...) NAME.input and NAME.output; with backward_output=k the gradients of
        sum_n logit_k: input_grad (N, C, H, W), NAME.input_grad, NAME.output_grad. Eval mode unless
        train_mode (as `lightbox probe --train-mode`: batch statistics, which also update batch norm's
        running statistics).
        """

    def state_dict(self) -> dict[str, numpy.typing.NDArray[numpy.float32]]:
        """
        {name: array} with torchvision's names; each array is a view of the model's tensor (writing
        it changes the model). Load into torchvision with {k: torch.from_numpy(v)}.
        """

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """
        Copy {name: array} (numpy, torch CPU) into the model. strict: every key must match; a shape
        mismatch names the key and both shapes; nothing is written unless everything fits.
        """

    def save(self, path: str) -> None:
        """
        Write a lightbox checkpoint (safetensors, torchvision names, metadata).
        """

    def load_imagenet(self, path: str, conv1: str = 'sum', seed: int = 0) -> dict:
        """
        Load converted ImageNet weights (tools/convert_weights.py, or timm's): conv1 summed to grey
        (conv1=sum|mean|red|random), fc re-initialised when the class count differs. Returns
        {'adapted': [...], 'reinitialised': [...]}.
        """

    @property
    def meta(self) -> dict:
        """
        arch, in_channels, num_classes, width, normalization (mean, std), class_names, image_size, config
        """

    def __repr__(self) -> str: ...

def load(path: str) -> Model: ...

def resnet18(in_channels: int = 1, num_classes: int = 2, width: int = 64, seed: int = 0) -> Model: ...

def explain(model: Model, x: NDArray, method: str, background: object | None = None, layer: str = 'input', model_output: str = 'logits', batch_size: int = 0, seed: int = 0, options: dict = {}, progress: bool = False) -> dict: ...

def explainers() -> list: ...

def set_progress(callback: object | None) -> None: ...

def load_split(path: str, split: str = 'test') -> dict: ...

def predict(model: Model, data: str, split: str = 'test', batch_size: int = 256, progress: bool = False) -> dict: ...

def select(positive: Sequence[int], predicted: Sequence[int], scores: Sequence[float], threshold: float, cells: str, per_cell: int, order: str) -> list: ...

def evaluate(scores: Sequence[float], labels: Sequence[int], threshold: float = 0.5, resamples: int = 1000, seed: int = 0, roc: bool = True) -> object: ...

def evaluate_classes(probs: Sequence[Sequence[float]], labels: object, resamples: int = 1000, seed: int = 0, roc: bool = True) -> object: ...

def compare(scores_a: Sequence[float], scores_b: Sequence[float], labels: Sequence[int], threshold_a: float = 0.5, threshold_b: float = 0.5) -> object: ...

def compare_classes(probs_a: Sequence[Sequence[float]], probs_b: Sequence[Sequence[float]], labels: object) -> object: ...

def train(config: dict, callback: object | None = None) -> object: ...

def default_train_config() -> object: ...

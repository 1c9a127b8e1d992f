"""The text encoder as an ONNX Runtime graph: exported once from the local model directory,
fused for CPU, checked against the PyTorch model, and cached on disk; and what every exported
encoder shares (`checked_export`, `session`).

On the shared 2-core benchmark machine the fused graph embeds titles about 2x and
descriptions 1.2x-1.8x as fast as the PyTorch model (the spread is the machine's load), with
the same vectors (benchmarks/encoders.py, benchmarks/notes.md). The export reads only the
local directory; no hub is reached.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from embaug_core.common.environment import cache_root

logger = logging.getLogger(__name__)

#: Part of every cached file's name: change it when the exported graph changes.
EXPORT_RECIPE = "last2mean-fused-v1"
#: The exported graph must agree with the PyTorch model at least this well (cosine, every
#: probe), or it is not used: the encoder's identity promises the same vectors either way.
MIN_COSINE = 0.9999
#: ONNX Runtime is the CPU's fast path; "torch" runs the PyTorch model (a GPU always does).
RUNTIMES = ("onnxruntime", "torch")
#: Texts the check runs: an empty one, a short one, one past any length limit.
PROBES = ("", "Turtle Check Men Navy Blue Shirt", "cotton shirt with a spread collar " * 60)


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/embaug/onnx, or ~/.cache/embaug/onnx."""
    return cache_root() / "embaug" / "onnx"


def last_two_layer_mean(hidden: Sequence[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors of each of the last two layers (padding masked), joined."""
    weights = mask.unsqueeze(-1).to(hidden[-1].dtype)
    counts = weights.sum(1).clamp(min=1)
    return torch.cat([(layer * weights).sum(1) / counts for layer in hidden[-2:]], dim=1)


class LastTwoLayerMean(torch.nn.Module):
    """A Hugging Face encoder with the pooling inside: named inputs in, (N, 2 x hidden) out."""

    def __init__(self, model: torch.nn.Module, input_names: Sequence[str]):
        super().__init__()
        self.model = model
        self.input_names = list(input_names)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        batch = dict(zip(self.input_names, inputs, strict=True))
        hidden = self.model(**batch, output_hidden_states=True).hidden_states
        return last_two_layer_mean(hidden, batch["attention_mask"])


def cache_key(model_dir: Path, identity: str) -> str:
    """The model, where it lives, and every library the exported file depends on."""
    import onnxruntime
    import transformers

    parts = (
        identity,
        str(model_dir.resolve()),
        EXPORT_RECIPE,
        torch.__version__,
        transformers.__version__,
        onnxruntime.__version__,
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


@contextmanager
def quiet_logging() -> Iterator[None]:
    """ONNX Runtime's optimiser and quantiser log each node at INFO, partly through the root
    logger: one export printed about 200 lines under `embaug demo`. Warnings and below are
    dropped while they run."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def export(model_dir: Path, target: Path, tokenizer) -> None:
    """Export the model with the pooling inside, fuse it for CPU, and write it to `target`.

    Eager attention, because ONNX Runtime's fusions recognise its graph (SDPA's stays
    unfused), and the TorchScript exporter, whose graph its transformer optimiser expects.
    """
    from onnxruntime.transformers import optimizer
    from transformers import AutoModel

    model = AutoModel.from_pretrained(
        model_dir, local_files_only=True, attn_implementation="eager"
    ).eval()
    names = list(tokenizer.model_input_names)
    sample = tokenizer(
        list(PROBES[1:]), padding=True, truncation=True, max_length=32, return_tensors="pt"
    )
    raw = target.with_name(f"{target.stem}.raw.onnx")
    try:
        with warnings.catch_warnings():
            # The tracer warns about every shape it freezes; `agreement` checks the result instead.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastTwoLayerMean(model, names),
                tuple(sample[name] for name in names),
                str(raw),
                input_names=names,
                output_names=["vectors"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names}
                | {"vectors": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        config = model.config
        with quiet_logging():
            optimizer.optimize_model(
                str(raw),
                model_type="bert",
                num_heads=config.num_attention_heads,
                hidden_size=config.hidden_size,
                opt_level=1,
            ).save_model_to_file(str(target))
    finally:
        raw.unlink(missing_ok=True)


def quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the exported graph (ONNX Runtime's `quantize_dynamic`):
    weights of the matrix products stored as int8, activations quantised batch by batch at run
    time (TextEncoder embeds one text per call, so the range is the text's own). Less
    arithmetic, not the same vectors: it has an identity of its own.

    Scales per output channel, which kept the vectors nearer fp32's than one scale per tensor
    in a first try (benchmarks/int8.py measures the cosine). The fused graph's own operators
    carry no type for the quantiser to infer: float is said outright.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet_logging():
        quantize_dynamic(
            str(source),
            str(target),
            per_channel=True,
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def checked_export(
    path: Path, make: Callable[[Path], None], agreement_of: Callable[[Path], float]
) -> Path:
    """`path`, made on first use by `make(draft)` and kept only if `agreement_of(draft)`, the
    lowest cosine to the PyTorch model, reaches MIN_COSINE. Written under a per-process name
    and renamed once checked, so concurrent runs never read a half-written or unchecked file."""
    if path.is_file():
        return path
    logger.info("exporting to ONNX once, cached as %s", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f"{path.stem}.{os.getpid()}.onnx")
    try:
        make(draft)
        cosine = agreement_of(draft)
        if not cosine >= MIN_COSINE:  # NaN (a zero vector) fails too
            raise ValueError(f"exported graph agrees with the model only to cosine {cosine}")
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return path


def session(path: Path):
    """An ONNX Runtime CPU session with as many threads as PyTorch uses, so one setting
    (torch.set_num_threads, OMP_NUM_THREADS) governs both encoders."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(graph, batch: dict[str, np.ndarray]) -> np.ndarray:
    """The graph's vectors for a tokenised batch (int64 inputs, by name)."""
    names = [node.name for node in graph.get_inputs()]
    return graph.run(None, {name: batch[name].astype(np.int64) for name in names})[0]


def agreement(graph, model: torch.nn.Module, tokenizer, max_length: int) -> float:
    """The lowest cosine between the graph's and the PyTorch model's vectors on PROBES."""
    batch = tokenizer(
        list(PROBES), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    with torch.inference_mode():
        hidden = model(**batch, output_hidden_states=True).hidden_states
        expected = last_two_layer_mean(hidden, batch["attention_mask"]).numpy()
    got = run(graph, {name: value.numpy() for name, value in batch.items()})
    cosine = (got * expected).sum(1) / (
        np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
    )
    return float(cosine.min())

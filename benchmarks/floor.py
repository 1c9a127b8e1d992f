"""The arithmetic floor of a run's stages on this machine: what each stage must compute and how
fast this machine multiplies matrices, so a measured stage reads as a multiple of its floor.

- **Rates**, measured here on the shapes the stages use: fp32 matrix products in PyTorch
  (the training head's first layer, 128 x 2,816 x 250, and a large square one) and in ONNX
  Runtime, and int8 ones in ONNX Runtime (`DynamicQuantizeMatMul`, what the int8 text
  encoder runs) at the text encoder's feed-forward shape (128 tokens x 384 x 1,536).
- **Arithmetic**, counted: the text encoder per token of every distinct text of the store
  (its own tokenizer, cut at 256: 6 layers of projections, feed-forward and attention), the
  image network per photo (PyTorch's `FlopCounterMode` on one 160 px photo), and each
  partition that trains the paper's head (`FlopCounterMode` on its training step and its
  forward pass, per row): the rows it trains on every epoch (half of them for a pair method,
  which mixes a batch's halves), its per-epoch curve, and scoring H and S; logistic
  regression's iterations and the open-set scorers are not counted.
- **Floor** = arithmetic / the stage's best rate; **multiple** = measured seconds / floor,
  from the stage times of an end-to-end run of the same store (`--timings`; for
  `trained_models`, whose partitions ran side by side, the wall its steps covered).

    python -m benchmarks.floor [--home DIR] [--timings FILE] [--full]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import RESULTS, main
from embaug_core.common.home import Home
from embaug_core.embeddings.encoders import ImageEncoder, TextEncoder
from embaug_core.store import Store
from embaug_core.training.experiment import CurveSettings
from embaug_core.training.methods import get_method
from embaug_core.training.mixup import PairMix, get_augmenter
from embaug_core.training.model import build_head
from embaug_core.training.train import TrainConfig

HIDDEN, FEED_FORWARD, LAYERS = 384, 1536, 6  # all-MiniLM-L6-v2


def best_rate(work, flops: float, repeats: int = 7) -> float:
    """GFLOP/s of `work()` at its fastest of `repeats` after a warm-up: what this machine can do
    at least (a floor uses the best rate; shared cores make slower runs)."""
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return flops / min(times) / 1e9


def torch_rate(m: int, k: int, n: int) -> float:
    a, b = torch.randn(m, k), torch.randn(k, n)
    loops = max(1, int(2e9 // (2 * m * k * n)))
    return best_rate(lambda: [a @ b for _ in range(loops)], 2.0 * m * k * n * loops)


def onnx_rate(m: int, k: int, n: int, int8: bool) -> float:
    """ONNX Runtime's product of an (m, k) float input and a (k, n) weight, fp32 or int8."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((k, n)).astype(np.float32)
    if int8:
        scale = np.abs(weight).max(axis=0) / 127
        inits = [
            numpy_helper.from_array(np.rint(weight / scale).astype(np.int8), "w"),
            numpy_helper.from_array(scale.astype(np.float32), "s"),
            numpy_helper.from_array(np.zeros(n, np.int8), "z"),
        ]
        node = helper.make_node(
            "DynamicQuantizeMatMul", ["x", "w", "s", "z"], ["y"], domain="com.microsoft"
        )
    else:
        inits, node = (
            [numpy_helper.from_array(weight, "w")],
            helper.make_node("MatMul", ["x", "w"], ["y"]),
        )
    graph = helper.make_graph(
        [node],
        "product",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(
        onnx.shape_inference.infer_shapes(model).SerializeToString(), options
    )
    x = rng.standard_normal((m, k)).astype(np.float32)
    loops = max(1, int(2e9 // (2 * m * k * n)))
    return best_rate(
        lambda: [session.run(None, {"x": x}) for _ in range(loops)], 2.0 * m * k * n * loops
    )


def text_flops(store: Store) -> tuple[float, int, int]:
    """FLOPs of embedding every distinct text once, the texts and their tokens."""
    texts = store.texts(store.catalogue()["features"])["text"].tolist()
    tokenizer = TextEncoder()._tokenizer
    lengths = np.array(
        [len(ids) for ids in tokenizer(texts, truncation=True, max_length=256)["input_ids"]],
        dtype=np.float64,
    )
    per_token = 2 * (4 * HIDDEN**2 + 2 * HIDDEN * FEED_FORWARD)  # projections, feed-forward
    attention = 2 * 2 * HIDDEN * lengths**2  # scores and their weighted sum, per text
    total = LAYERS * (per_token * lengths.sum() + attention.sum())
    return float(total), len(texts), int(lengths.sum())


def image_flops(store: Store) -> tuple[float, int]:
    from torch.utils.flop_counter import FlopCounterMode

    encoder = ImageEncoder(runtime="torch")
    size = encoder.image_size
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        encoder._model.forward_features(torch.zeros(1, 3, size, size))
    images = len(store.image_hashes())
    return float(counter.get_total_flops()) * images, images


def head_flops(dim: int, classes: int) -> tuple[float, float]:
    """FLOPs per row of the paper's head: a training step (forward and backward, counted by
    `FlopCounterMode`) and a forward pass alone."""
    from torch.utils.flop_counter import FlopCounterMode

    head, rows = build_head("mlp", dim, classes), 128
    x, y = torch.randn(rows, dim), torch.rand(rows, classes)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.binary_cross_entropy_with_logits(head(x), y).backward()
    train = counter.get_total_flops() / rows
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        head(x)
    return train, counter.get_total_flops() / rows


def trained_rows(n: int, batch_size: int, pairs: bool) -> int:
    """Rows one epoch trains on: a pair method mixes each batch's halves (one row a pair)."""
    batches = [min(batch_size, n - start) for start in range(0, n, batch_size)]
    return sum(max(b // 2, 1) for b in batches) if pairs else n


def training_flops(store: Store, methods: list[str], epochs: int) -> tuple[float, int]:
    """FLOPs of every partition of `methods` that trains the paper's head (the MLP methods and
    a hybrid's MLP part), and their count: the training steps (a pair method trains on half
    as many rows), the per-epoch curve on its sample of H, and scoring H and S once.
    Logistic regression's iterations and open-set scorers are not counted."""
    dim = sum(
        {"image": ImageEncoder().dim}.get(feature, TextEncoder().dim)
        for feature in store.catalogue()["features"]
    )
    classes = store.query("SELECT count(DISTINCT category) AS n FROM products")["n"].iloc[0]
    per_train_row, per_forward_row = head_flops(dim, int(classes))
    config, curve = TrainConfig(epochs=epochs), CurveSettings()
    roles = store.query("SELECT trial, role, count(*) AS n FROM splits GROUP BY 1, 2")
    size = {(t, r): int(n) for t, r, n in roles[["trial", "role", "n"]].itertuples(index=False)}
    extra = store.query("SELECT trial, source, count(*) AS n FROM label_sets GROUP BY 1, 2")
    total, partitions = 0.0, 0
    for trial in sorted({t for t, _ in size}):
        holdout, select = size.get((trial, "holdout"), 0), size.get((trial, "select"), 0)
        for name in methods:
            method = get_method(name)
            if method.trainer == "hybrid":
                method = get_method(method.parts[1])  # the part that trains the head
            if method.trainer != "mlp" or (method.head or "mlp") != "mlp":
                continue
            n = size.get((trial, "train"), 0) + int(
                extra[(extra["trial"] == trial) & (extra["source"] == method.labels)]["n"].sum()
            )
            pairs = isinstance(get_augmenter(method.augmentation), PairMix)
            runs = method.epochs or epochs
            scored = sum(curve.scores(epoch, runs) for epoch in range(1, runs + 1))
            curve_rows = len(curve.rows(holdout)) * scored
            total += per_train_row * trained_rows(n, config.batch_size, pairs) * runs
            total += per_forward_row * (curve_rows + holdout + select)
            partitions += 1
    return total, partitions


def grid_wall(home: Path) -> float | None:
    """Wall seconds the first run's `trained_models` steps covered, first start to last end
    (side by side on two workers their sum is more), before a second `raw_products` step (a
    warm run) began."""
    from benchmarks.end_to_end import step_stats

    steps, _ = step_stats(home / "dagster", 0)
    loads = sorted(steps[steps["asset"] == "raw_products"]["start"])
    cutoff = loads[1] if len(loads) > 1 else float("inf")
    grid = steps[(steps["asset"] == "trained_models") & (steps["start"] < cutoff)]
    return float(grid["end"].max() - grid["start"].min()) if len(grid) else None


def run(args: argparse.Namespace) -> dict:
    args.home = args.home or str(Home.from_env().root)
    if args.full and not args.timings:
        args.timings = str(RESULTS / "end_to_end_full.json")
    store = Store(Path(args.home) / "embaug.duckdb")
    rates = {
        "fp32 torch 128x2816x250 (training)": torch_rate(128, 2816, 250),
        "fp32 torch 2048x2048x2048": torch_rate(2048, 2048, 2048),
        "fp32 onnxruntime 128x384x1536 (text)": onnx_rate(128, 384, 1536, int8=False),
        "int8 onnxruntime 128x384x1536 (text)": onnx_rate(128, 384, 1536, int8=True),
    }
    timings = json.loads(Path(args.timings).read_text()) if args.timings else {}
    cold = timings.get("runs", {}).get("cold", {}).get("assets", [])
    steps = {a["asset"]: a["total_s"] for a in cold}
    if "trained_models" in steps:  # its steps ran side by side: the wall they covered
        steps["trained_models"] = grid_wall(Path(args.home)) or steps["trained_models"]
    methods = sorted(store.query("SELECT DISTINCT method FROM results")["method"])
    text, texts, tokens = text_flops(store)
    image, images = image_flops(store)
    training, partitions = training_flops(store, methods, args.epochs)
    trials = store.query("SELECT count(DISTINCT trial) AS n FROM splits")["n"].iloc[0]
    best_fp32 = max(v for k, v in rates.items() if k.startswith("fp32"))
    stages = {
        "text_embeddings": (
            text,
            rates["int8 onnxruntime 128x384x1536 (text)"],
            f"{texts:,} texts, {tokens:,} tokens",
        ),
        "image_embeddings": (image, best_fp32, f"{images:,} photos"),
        "trained_models": (
            training,
            rates["fp32 torch 128x2816x250 (training)"],
            f"{partitions} of its {len(methods) * trials} partitions train the MLP",
        ),
    }
    rows = []
    for asset, (flops, rate, what) in stages.items():
        floor = flops / (rate * 1e9)
        measured = steps.get(asset)
        rows.append(
            {
                "stage": asset,
                "what": what,
                "gflop": round(flops / 1e9, 1),
                "rate_gflops": round(rate, 1),
                "floor_s": round(floor, 1),
                "measured_s": round(measured, 1) if measured else None,
                "multiple_of_floor": round(measured / floor, 2) if measured else None,
            }
        )
    return {
        "store": str(store.path),
        "timings": args.timings,
        "rates_gflops": rates,
        "stages": rows,
    }


def render(result: dict) -> str:
    lines = ["| rate | GFLOP/s |", "|---|---:|"]
    lines += [f"| {name} | {rate:.1f} |" for name, rate in result["rates_gflops"].items()]
    lines += [
        "",
        "| stage | work | GFLOP | at GFLOP/s | floor, s | measured, s | x floor |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["stages"]:
        lines.append(
            f"| {r['stage']} | {r['what']} | {r['gflop']:,} | {r['rate_gflops']} | "
            f"{r['floor_s']} | {r['measured_s']} | {r['multiple_of_floor']} |"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--home", default="", help="an EMBAUG_HOME after a run (default: EMBAUG_HOME)")
    p.add_argument(
        "--timings",
        default="",
        help="end_to_end JSON of a cold run of that home (--full: end_to_end_full.json)",
    )
    p.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    p.add_argument("--full", action="store_true", help="the home holds the whole catalogue")
    return p


if __name__ == "__main__":
    main("floor", parser, run, render)

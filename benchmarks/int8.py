"""Less arithmetic for the same vectors' quality? int8 by ONNX Runtime's dynamic quantisation
(`quantize_dynamic`: int8 weights, activations quantised batch by batch) of the text encoder's
exported graph and, with --image, of the image encoder exported to ONNX here, measured as the
image size was (benchmarks/image_size.py): encoding rate (items per second, interleaved,
medians), cosine of the int8 vectors to today's fp32 ones (min and median), and the report's
five figures paired with fp32 on the same trials.

Text int8 vectors are made by `TextEncoder(precision="int8")` and cached under its identity,
as the pipeline would make them; image int8 vectors are made here and not cached. --texts N
and --images N re-embed only N of them (the first N by content hash), the rest keeping their
fp32 vectors: a small run that proves the tooling; the study uses every one (0, the default).

    python -m benchmarks.int8 [--trials 5] [--texts 0] [--image --images 0] [--time-texts 512]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import ensure_store, interleaved, load_vectors, main, medians
from benchmarks.image_size import FIGURES
from embaug_core.catalog import FEATURES
from embaug_core.embeddings.cache import fill_cache
from embaug_core.embeddings.encoders import ImageEncoder, TextEncoder, image_onnx
from embaug_core.embeddings.encoders.onnx_export import quantize, session
from embaug_core.embeddings.vectors import ProductVectors, text_sha256
from embaug_core.evaluation.comparison import paired_differences
from embaug_core.evaluation.metrics import DEFAULT_THRESHOLD
from embaug_core.training.experiment import run_method, trial_data
from embaug_core.training.methods import get_method
from embaug_core.training.train import TrainConfig


def cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Row by row cosine of two matrices: its minimum and median."""
    values = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": float(values.min()), "median": float(np.median(values))}


def text_study(store, args) -> tuple[dict, dict[str, np.ndarray]]:
    """Rate and cosine of int8 text vectors, and the int8 vectors of --texts texts by hash."""
    fp32, int8 = TextEncoder(precision="fp32"), TextEncoder(precision="int8")
    texts = store.texts(store.catalogue()["features"]).sort_values("content_sha256")
    chosen = texts if not args.texts else texts.head(args.texts)
    hashes = chosen["content_sha256"].tolist()
    fill_cache(store, int8, dict(zip(hashes, chosen["text"], strict=True)), hashes)
    new, old = store.embeddings(int8.identity, hashes), store.embeddings(fp32.identity, hashes)
    timed = texts.sample(min(args.time_texts, len(texts)), random_state=0)["text"].tolist()
    seconds = medians(
        interleaved(
            {"fp32": lambda: fp32.encode(timed), "int8": lambda: int8.encode(timed)}, args.repeats
        )
    )
    rate = {name: len(timed) / s for name, s in seconds.items()}
    summary = {
        "identity": int8.identity,
        "embedded": len(hashes),
        "of": len(texts),
        "per_second": rate,
        "speedup": rate["int8"] / rate["fp32"],
        "cosine_to_fp32": cosines(new, old),
    }
    return summary, dict(zip(hashes, new, strict=True))


def image_graphs(encoder: ImageEncoder, folder: Path) -> dict[str, object]:
    """ONNX Runtime sessions of the image network exported to ONNX, fp32 and int8."""
    fp32, int8 = folder / "image.onnx", folder / "image.int8.onnx"
    image_onnx.export(encoder._model, encoder.image_size, fp32)  # what the encoder runs
    quantize(fp32, int8)
    return {"onnx_fp32": session(fp32), "int8": session(int8)}


def onnx_encode(graph, encoder: ImageEncoder, items: list[bytes]) -> np.ndarray:
    """Like `ImageEncoder.encode`, through an ONNX Runtime session, batch by batch."""
    parts = []
    for start in range(0, len(items), encoder.batch_size):
        pixels = encoder.preprocess(items[start : start + encoder.batch_size])
        parts.append(image_onnx.run(graph, pixels))
    return np.concatenate(parts)


def image_study(store, args, folder: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Rate and cosine of int8 image vectors (to today's PyTorch path), and the int8 vectors
    of --images images by hash."""
    encoder = ImageEncoder()
    hashes = store.image_hashes()[: args.images or None]
    graphs = image_graphs(encoder, folder)
    found = store.image_bytes(hashes)
    images = [found[h] for h in hashes]
    new = onnx_encode(graphs["int8"], encoder, images)
    old = store.embeddings(encoder.identity, hashes)
    timed = images[: args.time_images]
    runs = {"fp32": lambda: encoder.encode(timed)}
    runs |= {name: lambda g=g: onnx_encode(g, encoder, timed) for name, g in graphs.items()}
    rate = {n: len(timed) / s for n, s in medians(interleaved(runs, args.repeats)).items()}
    summary = {
        "embedded": len(hashes),
        "of": len(store.image_hashes()),
        "per_second": rate,
        "speedup": rate["int8"] / rate["fp32"],
        "cosine_to_fp32": cosines(new, old),
        "onnx_fp32_cosine_to_fp32": cosines(
            onnx_encode(graphs["onnx_fp32"], encoder, timed), old[: len(timed)]
        ),
    }
    return summary, dict(zip(hashes, new, strict=True))


def swapped(store, vectors: ProductVectors, swaps: dict[str, dict[str, np.ndarray]]):
    """The product matrix with the int8 vectors of `swaps` (kind -> hash -> vector) in place
    of the fp32 ones, block by block (title, description, image, as `product_vectors`)."""
    products = store.products().set_index("product_id").loc[vectors.product_ids]
    features = [f for f in FEATURES if f in store.catalogue()["features"]]
    widths = {"image": ImageEncoder().dim, "title": TextEncoder(precision="fp32").dim}
    widths["description"] = widths["title"]
    matrix, start = vectors.vectors.copy(), 0
    for feature in features:
        kind = "image" if feature == "image" else "text"
        if kind in swaps:
            keys = (
                products["image_sha256"] if kind == "image" else products[feature].map(text_sha256)
            )
            for row, key in enumerate(keys):
                if key in swaps[kind]:
                    matrix[row, start : start + widths[feature]] = swaps[kind][key]
        start += widths[feature]
    return ProductVectors(vectors.product_ids, vectors.categories, matrix)


def run(args: argparse.Namespace) -> dict:
    ensure_store()
    store, vectors = load_vectors()
    result: dict[str, object] = {}
    swaps: dict[str, dict[str, np.ndarray]] = {}
    result["text"], swaps["text"] = text_study(store, args)
    if args.image:
        with tempfile.TemporaryDirectory() as folder:
            result["image"], swaps["image"] = image_study(store, args, Path(folder))
    variants = {"fp32": vectors} | {
        f"int8 {k}": swapped(store, vectors, {k: swaps[k]}) for k in swaps
    }
    rows = []
    for name, matrix in variants.items():
        for trial in sorted(store.split_catalogues())[: args.trials]:
            data = trial_data(matrix, store.split(trial))
            for method in args.methods:
                config = TrainConfig(epochs=args.epochs)
                metrics = run_method(get_method(method), data, DEFAULT_THRESHOLD, config).metrics
                rows += [
                    {"trial": trial, "method": f"{method}@{name}", "metric": f, "value": metrics[f]}
                    for f in FIGURES
                ]
    results = pd.DataFrame(rows)
    paired = [
        paired_differences(
            results[results["method"].str.startswith(f"{method}@")], f"{method}@fp32", FIGURES
        )
        for method in args.methods
    ]
    paired = pd.concat(paired, ignore_index=True)
    # The trials' noise: how much a figure moves from one trial to the next at fp32.
    spread = (
        results[results["method"].str.endswith("@fp32")]
        .groupby(["method", "metric"])["value"]
        .std(ddof=1)
    )
    paired["fp32_sd_between_trials"] = [
        spread[(f"{m.split('@')[0]}@fp32", f)]
        for m, f in zip(paired["method"], paired["metric"], strict=True)
    ]
    result["trials"] = results["trial"].nunique()
    result["paired_with_fp32"] = paired.to_dict("records")
    result["per_trial"] = results.to_dict("records")
    return result


def render(result: dict) -> str:
    lines = [
        "| encoder | in int8 | per second, fp32 / int8 | speedup | cosine to fp32, min / median |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in ("text", "image"):
        if kind in result:
            r = result[kind]
            lines.append(
                f"| {kind} | {r['embedded']:,} of {r['of']:,} | {r['per_second']['fp32']:.1f} / "
                f"{r['per_second']['int8']:.1f} | {r['speedup']:.2f}x | "
                f"{r['cosine_to_fp32']['min']:.4f} / {r['cosine_to_fp32']['median']:.4f} |"
            )
    lines += [
        "",
        f"Paired with fp32 on the same {result['trials']} trials: mean [95% interval], won;"
        " beside it the figure's standard deviation between trials at fp32.",
        "",
        "| method@vectors | figure | difference | between trials |",
        "|---|---|---|---:|",
    ]
    for row in result["paired_with_fp32"]:
        lines.append(
            f"| {row['method']} | {row['metric']} | {row['mean_diff']:+.4f} "
            f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] {row['wins']}/{row['trials']} | "
            f"{row.get('fp32_sd_between_trials', float('nan')):.4f} |"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["control", "e_stitchup", "logreg"])
    parser.add_argument("--epochs", type=int, default=48)
    parser.add_argument("--texts", type=int, default=0, help="texts re-embedded (0: all)")
    parser.add_argument("--image", action="store_true", help="the image encoder too")
    parser.add_argument("--images", type=int, default=0, help="images re-embedded (0: all)")
    parser.add_argument("--time-texts", type=int, default=512)
    parser.add_argument("--time-images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    return parser


if __name__ == "__main__":
    main("int8", parser, run, render)

"""The encoders' defaults of issue 26 against what they replaced, interleaved in one run on a
sample of the real catalogue: items per second (medians) and the cosine of each variant's
vectors to the old default's.

- Text: fp32 64 texts per call (the old default), fp32 8 per call, int8 one per call (the
  new default: the range its activations are quantised by is the text's own).
- Images: PyTorch (the old default) against the ONNX Runtime graph exported from it.

    python -m benchmarks.encoder_defaults [--texts 800] [--images 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.common import catalogue_sample, interleaved, main, medians
from embaug_core.embeddings.encoders import ImageEncoder, TextEncoder

TEXT_BEFORE, IMAGE_BEFORE = "fp32, 64 a call", "PyTorch"


def cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    values = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": float(values.min()), "median": float(np.median(values))}


def race(encoders: dict, items: list, before: str, repeats: int) -> dict[str, object]:
    """Rate and cosine to `before` of every encoder, after one warm-up call each."""
    for encoder in encoders.values():
        encoder.encode(items[:8])
    seconds = medians(
        interleaved({name: lambda e=e: e.encode(items) for name, e in encoders.items()}, repeats)
    )
    vectors = {name: encoder.encode(items) for name, encoder in encoders.items()}
    return {
        "items": len(items),
        "per_second": {name: len(items) / s for name, s in seconds.items()},
        "speedup": {name: seconds[before] / s for name, s in seconds.items()},
        "cosine_to_before": {name: cosines(v, vectors[before]) for name, v in vectors.items()},
    }


def run(args: argparse.Namespace) -> dict:
    catalog = catalogue_sample(args.images)
    products = catalog.products.sample(frac=1.0, random_state=0)
    half = args.texts // 2
    texts = products["title"].head(half).tolist() + products["description"].head(half).tolist()
    hashes = [h for h in products["image_sha256"] if h][: args.images]
    images = [catalog.images[h] for h in hashes]
    text = {
        TEXT_BEFORE: TextEncoder(precision="fp32", batch_size=64),
        "fp32, 8 a call": TextEncoder(precision="fp32"),
        "int8, 1 a call (default)": TextEncoder(),
    }
    image = {IMAGE_BEFORE: ImageEncoder(runtime="torch"), "ONNX Runtime (default)": ImageEncoder()}
    return {
        "text": race(text, texts, TEXT_BEFORE, args.repeats),
        "image": race(image, images, IMAGE_BEFORE, args.repeats),
    }


def render(result: dict) -> str:
    lines = [
        "| encoder | variant | items | per second | speedup | cosine to before, min / median |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for kind in ("text", "image"):
        part = result[kind]
        for name, rate in part["per_second"].items():
            cosine = part["cosine_to_before"][name]
            lines.append(
                f"| {kind} | {name} | {part['items']:,} | {rate:.1f} | "
                f"{part['speedup'][name]:.2f}x | {cosine['min']:.4f} / {cosine['median']:.4f} |"
            )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--texts", type=int, default=800, help="half titles, half descriptions")
    p.add_argument("--images", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    return p


if __name__ == "__main__":
    main("encoder_defaults", parser, run, render)

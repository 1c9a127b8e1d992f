"""What the batch augmentations cost in training.

1. Epoch time of every augmentation over `control` on trial_0's training rows
   (`benchmarks.epoch_time`); target: at most 1.10.
2. A microbenchmark on one batch of 128 x 2,816: zeta-mixup (its 128 x 128 weight matrix, then
   the product with the batch and its targets) against a plain E-Mixup batch and `control`,
   with the weight matrix and the product timed apart, the product both with the inputs and
   with the first layer's 250 outputs (where the training loop mixes), E-Stitchup's batch and
   its mask (16-bit numpy draws, and the torch float uniforms they replaced), and one
   training step of the MLP (forward, backward, Adam) with control, zeta-mixup and E-Stitchup.
3. A default E-Stitchup fit on the trial's rows with each of the two masks, alternating, on
   the process's threads and on one (as the demo's workers train).

    python -m benchmarks.training [--epochs 12] [--repeats 5] [--calls 200]
"""

from __future__ import annotations

import argparse
import logging

import torch
from torch import nn

from benchmarks.common import (
    ensure_store,
    interleaved,
    load_vectors,
    main,
    medians,
    target,
)
from benchmarks.epoch_time import epoch_medians
from embaug_core.training import mixup
from embaug_core.training.experiment import TrialData, fit_method, trial_data
from embaug_core.training.methods import get_method
from embaug_core.training.mixup import AUGMENTERS, get_augmenter, stitch_mask, zeta_weights
from embaug_core.training.model import build_head
from embaug_core.training.train import augmented_logits, split_first_layer

logger = logging.getLogger(__name__)
TARGET = 1.10


def microbenchmark(
    batch: int, dim: int, classes: int, calls: int, repeats: int
) -> dict[str, float]:
    """Microseconds per call (median over interleaved repeats of `calls` calls each)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, dim, generator=generator)
    y = nn.functional.one_hot(torch.randint(classes, (batch,), generator=generator), classes)
    y = y.float()
    weights = zeta_weights(batch, generator=generator)
    head = build_head("mlp", dim, classes)
    layers = split_first_layer(head)
    hidden = layers[0](x).detach()
    optimizer = torch.optim.Adam(head.parameters())
    loss_fn = nn.BCEWithLogitsLoss()
    zeta, stitchup = get_augmenter("zeta_mixup"), get_augmenter("e_stitchup")
    lam = torch.rand(batch // 2, generator=generator)

    def step(augmenter) -> None:
        logits, targets = augmented_logits(layers, augmenter, x, y, generator)
        loss = loss_fn(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    single = {
        "control": lambda: get_augmenter("control")(x, y, generator),
        "e_mixup": lambda: get_augmenter("e_mixup")(x, y, generator),
        "zeta_mixup_inputs": lambda: zeta(x, y, generator),
        "zeta_weights_only": lambda: zeta_weights(batch, generator=generator),
        "zeta_product_inputs": lambda: (weights @ x, weights @ y),
        "zeta_product_hidden": lambda: (weights @ hidden, weights @ y),
        "e_stitchup": lambda: stitchup(x, y, generator),
        "stitch_mask": lambda: stitch_mask(lam, dim, generator, x.device),
        "stitch_mask_torch_uniforms": lambda: torch_uniform_mask(lam, dim, generator, x.device),
        "mlp_train_step": lambda: step(get_augmenter("control")),
        "mlp_train_step_zeta": lambda: step(zeta),
        "mlp_train_step_e_stitchup": lambda: step(stitchup),
    }
    variants = {
        name: lambda work=work: [work() for _ in range(calls)] for name, work in single.items()
    }
    seconds = medians(interleaved(variants, repeats))
    return {name: 1e6 * s / calls for name, s in seconds.items()}


def torch_uniform_mask(
    lam: torch.Tensor, width: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """E-Stitchup's mask as it was drawn before `mixup.stitch_mask`: torch float uniforms."""
    uniform = torch.rand((len(lam), width), generator=generator, device=generator.device)
    return uniform.to(device) < lam.reshape(-1, 1)


def stitch_mask_fits(data: TrialData, repeats: int) -> dict[str, dict[str, float]]:
    """Median wall seconds of a default E-Stitchup fit on the trial's rows with each mask,
    alternating, on this process's threads and on one (as the demo's workers train)."""
    masks = {"numpy": mixup.stitch_mask, "torch_uniforms": torch_uniform_mask}
    threads, result = torch.get_num_threads(), {}

    def fit(mask) -> None:
        mixup.stitch_mask = mask  # PairMix looks it up at each call
        try:
            fit_method(get_method("e_stitchup"), data.x_train, data.y_train, data.classes)
        finally:
            mixup.stitch_mask = masks["numpy"]

    for count in sorted({threads, 1}, reverse=True):
        torch.set_num_threads(count)
        variants = {name: lambda mask=mask: fit(mask) for name, mask in masks.items()}
        result[f"{count} threads"] = medians(interleaved(variants, repeats))
    torch.set_num_threads(threads)
    return result


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trial", default="trial_0")
    parser.add_argument("--epochs", type=int, default=12, help="per method and repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200, help="calls per microbenchmark repeat")
    parser.add_argument("--micro-repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--fits", type=int, default=5, help="fits per E-Stitchup mask")
    return parser


def run(args: argparse.Namespace) -> dict[str, object]:
    ensure_store()
    store, vectors = load_vectors()
    data = trial_data(vectors, store.split(args.trial))
    epochs = epoch_medians(data, args.epochs, args.repeats)
    ratios = {m: epochs[m] / epochs["control"] for m in AUGMENTERS}
    micro = microbenchmark(
        args.batch, data.x_train.shape[1], len(data.classes), args.calls, args.micro_repeats
    )
    fits = stitch_mask_fits(data, args.fits)
    logger.info("epochs %s, micro %s, stitch mask fits %s", ratios, micro, fits)
    return {
        "trial": args.trial,
        "rows": len(data.y_train),
        "dim": int(data.x_train.shape[1]),
        "classes": len(data.classes),
        "epoch_median_seconds": epochs,
        "epoch_ratio": ratios,
        "micro_us": micro,
        "micro_batch": [args.batch, int(data.x_train.shape[1])],
        "stitch_mask_fit_seconds": fits,
        "targets": [
            target(f"epoch time {m} / control", ratios[m], TARGET, at_least=False)
            for m in AUGMENTERS
            if m != "control"
        ],
    }


def render(result: dict) -> str:
    lines = [
        f"Epoch time on {result['trial']}'s {result['rows']:,} training rows x "
        f"{result['dim']:,} dims, {result['classes']} classes, batch 128:",
        "",
        "| method | ms / epoch | ratio to control |",
        "|---|---:|---:|",
    ]
    for method, seconds in result["epoch_median_seconds"].items():
        lines.append(f"| {method} | {1000 * seconds:.1f} | {result['epoch_ratio'][method]:.3f} |")
    micro = result["micro_us"]
    batch, dim = result["micro_batch"]
    lines += [
        "",
        f"One batch of {batch} x {dim:,} (microseconds per call, median):",
        "",
        "| work | µs | ratio to e_mixup |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {us:.0f} | {us / micro['e_mixup']:.2f} |" for name, us in micro.items()]
    lines += [
        "",
        f"Mixing the inputs would cost {micro['zeta_mixup_inputs'] - micro['e_mixup']:.0f} µs "
        f"more per batch than E-Mixup ({micro['zeta_weights_only']:.0f} µs for the weight "
        f"matrix, {micro['zeta_product_inputs']:.0f} µs for the product with the {dim:,}-column "
        f"batch). The training loop mixes after the first layer instead (the same logits and "
        f"gradients, `train.augmented_logits`): {micro['zeta_product_hidden']:.0f} µs for the "
        f"product; a whole MLP training step takes {micro['mlp_train_step_zeta']:.0f} µs with "
        f"zeta-mixup against {micro['mlp_train_step']:.0f} µs without "
        f"({micro['mlp_train_step_zeta'] / micro['mlp_train_step']:.2f}x).",
    ]
    fits = result.get("stitch_mask_fit_seconds", {})
    if fits:
        lines += ["", "A default E-Stitchup fit, median seconds, with each mask:", ""]
        lines += ["| threads | numpy (stitch_mask) | torch uniforms |", "|---|---:|---:|"]
        lines += [
            f"| {k} | {v['numpy']:.3f} | {v['torch_uniforms']:.3f} |" for k, v in fits.items()
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main("training", parser, run, render)

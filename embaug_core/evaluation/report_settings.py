"""The report's settings as a person reads them: what two reports must share to be compared
(catalogue loading, splits, label augmentation, training, encoders, trials and runs), each in
words, the values in use rather than the raw config (the label column the catalogue was read
with, not `''` for "the default"), fingerprints cut to 12 characters."""

from __future__ import annotations

import json
import re

import pandas as pd

from embaug_core.store import Store

#: Run params listed as settings (every distinct value across runs).
RUN_SETTINGS = (
    "epochs",
    "batch_size",
    "lr_min",
    "lr_max",
    "step_epochs",
    "weight_decay",
    "head",
    "standardize",
    "seed",
    "alpha",
    "softness",
    "negative_mass",
    "gamma",
    "threshold",
)
_HASH = re.compile(r"[0-9a-f]{32,}")


def short(text: str) -> str:
    """Hex fingerprints (32 characters or more) cut to their first 12."""
    return _HASH.sub(lambda found: found.group()[:12] + "…", text)


def in_words(value: object) -> str:
    """A setting's value: mappings as `name value` pairs, lists joined, empty said so."""
    if isinstance(value, dict):
        return "; ".join(f"{k} {in_words(v)}" for k, v in sorted(value.items())) or "defaults"
    if isinstance(value, list | tuple):
        return ", ".join(map(in_words, value)) or "none"
    if value == "" or value is None:
        return "default"
    return short(str(value))


def _catalogue(store: Store) -> dict[str, str]:
    """How the catalogue was read: the values in use."""
    catalogue = store.catalogue()
    loaded = json.loads(catalogue["settings"] or "{}")
    fraction = float(loaded.get("sample_fraction", 1.0))
    sample = (
        "all of it"
        if fraction >= 1
        else f"{fraction:.0%} stratified (seed {loaded.get('sample_seed', 0)})"
    )
    withheld = float(loaded.get("unlabelled_fraction", 0.0))
    if withheld:
        sample += f", and {withheld:.0%} of the catalogue with labels withheld"
    limits = (
        f"{int(loaded.get('max_image_bytes', 0)):,} bytes, "
        f"{int(loaded.get('max_image_pixels', 0)):,} pixels, "
        f"aspect {float(loaded.get('max_aspect_ratio', 0)):g}:1"
    )
    return {
        "catalogue": f"{catalogue['path']} ({catalogue['layout']})",
        "sample": sample,
        "label column": str(catalogue["label_column"]),
        "features": ", ".join(catalogue["features"]),
        "image roots": in_words(loaded.get("image_roots"))
        if loaded.get("image_roots")
        else "the catalogue's folder",
        "image limits": limits,
    }


def report_settings(
    store: Store,
    params: pd.DataFrame,
    trials: list[str],
    stale: int,
    encoders: dict[str, str],
    experiment: str,
) -> dict[str, object]:
    """Every setting of the report, in words (the trial count a number: the page's header
    reads it)."""
    settings: dict[str, object] = {
        "trials": len(trials),
        "trials used": ", ".join(trials),
        "stale runs left out": stale,
    }
    settings.update(_catalogue(store))
    for asset in ("trial_splits", "label_sets"):
        made = store.asset_settings(asset)
        distinct = {json.dumps(made[t], sort_keys=True) for t in trials if t in made}
        settings[asset] = (
            " | ".join(in_words(json.loads(d)) for d in sorted(distinct)) or "not recorded"
        )
    for name in RUN_SETTINGS:
        if name in params:
            settings[f"training: {name}"] = ", ".join(
                sorted(params[name].dropna().astype(str).unique())
            )
    settings.update({f"encoder: {k}": short(v) for k, v in encoders.items()})
    settings["MLflow experiment"] = short(experiment)
    return settings

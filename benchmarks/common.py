"""Shared set-up for the benchmarks: the real product vectors of an EMBAUG_HOME store."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from embaug_core.embeddings import ProductVectors, product_vectors
from embaug_core.home import Home
from embaug_core.store import Store
from embaug_pipeline.resources import EncodersResource

RESULTS = Path(__file__).resolve().parent / "results"


def load_vectors() -> tuple[Store, ProductVectors]:
    """The product matrix of the store under EMBAUG_HOME (run `embaug demo` there first)."""
    store = Store(Home.from_env().duckdb_path)
    encoders = EncodersResource()
    return store, product_vectors(store, encoders.text().identity, encoders.image().identity)


def median_seconds(work: Callable[[], object], repeats: int = 3) -> float:
    """Median wall time of `work` over `repeats` runs (this machine is noisy)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def machine() -> dict[str, object]:
    import os

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, default=float))
    return path

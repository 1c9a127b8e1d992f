"""Shared set-up for the benchmarks: the store they read, samples of the real catalogue,
synthetic vectors, interleaved timing, the machine they ran on, and where results go.

This machine's cores are shared with other work, so alternatives are always timed in the
same run, interleaved round by round, and compared as ratios of medians.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from embaug_core.catalog import Catalog, CatalogSettings, load_catalog, locate_catalog
from embaug_core.common.home import Home
from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.store import Store
from embaug_pipeline.resources import EncodersResource

logger = logging.getLogger(__name__)
T = TypeVar("T")
STARTED = time.perf_counter()
#: EMBAUG_HOME as this process was started with it (`ensure_store` may set it later).
GIVEN_HOME = os.environ.get("EMBAUG_HOME")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
#: The store the benchmarks build for themselves when EMBAUG_HOME has none (git-ignored).
BENCH_HOME = Path(__file__).resolve().parent / ".home"
#: A store with at least this many products holds the whole catalogue (44,072 products).
WHOLE_CATALOGUE = 44_000
#: What `ensure_store` runs when there is no store: a 10% stratified sample, one trial.
QUICK_DEMO = ("--sample-fraction", "0.1", "--trials", "1", "--methods", "control,logreg")


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # faiss says at INFO that its optional AVX2 build is absent, with an alarming traceback.
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def has_splits(home: Home) -> bool:
    """Whether `home` holds a store with products and at least one trial split."""
    if not home.duckdb_path.exists():
        return False
    try:
        return not Store(home.duckdb_path).query("SELECT 1 FROM splits LIMIT 1").empty
    except Exception:  # an unfinished or foreign file: treat as absent
        return False


def ensure_store(fallback: bool = True) -> Home:
    """The store to read: EMBAUG_HOME's if it has splits, else the benchmarks' own, built once
    with `embaug demo` on a 10% sample (a few minutes, mostly embedding 4,400 products).

    EMBAUG_HOME is set to the chosen folder so `load_vectors` and the core read it. Without
    `fallback` (the --full variants) a missing store is an error.
    """
    home = Home.from_env()
    if not has_splits(home):
        if not fallback:
            raise SystemExit(f"no store with trial splits under EMBAUG_HOME={home.root}")
        home = Home(BENCH_HOME)
        if not has_splits(home):
            logger.info("no store with splits; building one in %s (embaug demo)", home.root)
            env = {**os.environ, "EMBAUG_HOME": str(home.root)}
            subprocess.run(
                [str(Path(sys.executable).parent / "embaug"), "demo", *QUICK_DEMO],
                env=env,
                check=True,
            )
    os.environ["EMBAUG_HOME"] = str(home.root)
    return home


def require_whole_catalogue(products: int) -> None:
    """What --full asks of the store under EMBAUG_HOME."""
    if products < WHOLE_CATALOGUE:
        raise SystemExit(
            f"--full: the store under EMBAUG_HOME has {products:,} products; "
            "run `python -m benchmarks.end_to_end --full --home DIR` and set EMBAUG_HOME=DIR"
        )


def add_full_flag(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"EMBAUG_HOME must hold the whole catalogue (writes {name}_full.json)",
    )


def load_vectors() -> tuple[Store, ProductVectors]:
    """The product matrix of the store under EMBAUG_HOME (run `embaug demo` there first)."""
    store = Store(Home.from_env().duckdb_path)
    return store, EncodersResource().vectors(store)[0]


def catalogue_rows(path: Path) -> int:
    """Rows in the catalogue file (before validation), to turn a product count into a share."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    table = path / "styles.csv" if path.is_dir() else path
    with table.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def catalogue_sample(products: int, seed: int = 0) -> Catalog:
    """About `products` products of the real catalogue, stratified by class (load_catalog)."""
    path = locate_catalog()
    fraction = min(1.0, products / catalogue_rows(path))
    return load_catalog(path, CatalogSettings(sample_fraction=fraction, sample_seed=seed))


def clustered_vectors(
    n: int, dim: int, centres: int, seed: int = 0, spread: float = 1.0, dtype: type = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """`n` vectors (float32, or `dtype`: float16 halves the memory) around `centres` gaussian
    centres with Zipf-like cluster sizes (like the catalogue's classes), and each vector's
    cluster; made in chunks to bound memory."""
    rng = np.random.default_rng(seed)
    centre_vectors = rng.standard_normal((centres, dim), dtype=np.float32)
    weights = 1.0 / np.arange(1, centres + 1) ** 0.8
    cluster = rng.choice(centres, size=n, p=weights / weights.sum())
    out = np.empty((n, dim), dtype=dtype)
    for start in range(0, n, 65_536):
        part = cluster[start : start + 65_536]
        noise = rng.standard_normal((len(part), dim), dtype=np.float32)
        out[start : start + len(part)] = centre_vectors[part] + spread * noise
    return out, cluster


def interleaved(
    variants: Mapping[str, Callable[[], object]], repeats: int
) -> dict[str, list[float]]:
    """Wall seconds of each variant, `repeats` rounds, every round running each variant once in
    a rotated order, so drift in the machine's load hits every variant alike."""
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            started = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - started)
    return times


def interleaved_blocks(
    variants: Mapping[str, Callable[[slice], object]], count: int, block: int, repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[object]]]:
    """Like `interleaved`, but every variant works through the same `count` items in blocks
    of `block`, the variants taking turns block by block (in a rotating order), so a burst of
    load from elsewhere lands on all of them. Returns each variant's seconds per repeat (the
    sum over its blocks) and its per-block results of the first repeat."""
    names = list(variants)
    times = {name: [0.0] * repeats for name in names}
    results: dict[str, list[object]] = {name: [] for name in names}
    for round_ in range(repeats):
        for number, start in enumerate(range(0, count, block)):
            part = slice(start, min(start + block, count))
            shift = (round_ + number) % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                value = variants[name](part)
                times[name][round_] += time.perf_counter() - started
                if round_ == 0:
                    results[name].append(value)
    return times, results


def timed(work: Callable[[], T]) -> tuple[T, float]:
    """`work()`'s value and its wall seconds (one run: for work too long to repeat)."""
    started = time.perf_counter()
    value = work()
    return value, time.perf_counter() - started


def medians(times: Mapping[str, list[float]]) -> dict[str, float]:
    return {name: float(np.median(values)) for name, values in times.items()}


def target(name: str, value: float, limit: float, at_least: bool) -> dict[str, object]:
    """One target of BENCHMARKS.md: the measured value against its limit, met or missed."""
    met = value >= limit if at_least else value <= limit
    return {
        "name": name,
        "value": value,
        "target": f"{'>=' if at_least else '<='} {limit:g}",
        "met": bool(met),
    }


def check(name: str, ok: bool, expected: str) -> dict[str, object]:
    """A yes/no target of BENCHMARKS.md."""
    return {"name": name, "value": bool(ok), "target": expected, "met": bool(ok)}


def cpu_model() -> str:
    """The CPU model line of /proc/cpuinfo (platform.processor() is empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    """What the figures depend on: cores, CPU, thread counts and library versions."""
    import duckdb
    import faiss
    import sklearn
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "faiss": faiss.__version__,
        "duckdb": duckdb.__version__,
        "scikit-learn": sklearn.__version__,
        "transformers": transformers.__version__,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "faiss_threads": faiss.omp_get_max_threads(),
        "cpu": cpu_model(),
        "load_average": os.getloadavg(),
    }


def command(module: str, argv: list[str]) -> str:
    """The command line that reproduces a result, with the EMBAUG_HOME it was given."""
    line = shlex.join([".venv/bin/python", "-m", module, *argv])
    if GIVEN_HOME is None:
        return line
    home = Path(GIVEN_HOME).absolute()  # as given: a symlinked home keeps its name
    shown = home.relative_to(ROOT) if home.is_relative_to(ROOT) else home
    return f"EMBAUG_HOME={shlex.quote(str(shown))} {line}"


def write(name: str, payload: dict, module: str | None = None) -> Path:
    """Write results/NAME.json with the machine, the command that produced it (with `python -m
    module`, by default benchmarks.NAME without _full), when, and how long the process had run."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    module = module or f"benchmarks.{name.removesuffix('_full')}"
    body = {
        "machine": machine(),
        "command": command(module, sys.argv[1:]),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "wall_s": time.perf_counter() - STARTED,
        **payload,
    }
    path.write_text(json.dumps(body, indent=2, default=float))
    return path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(
    name: str,
    parser: Callable[[], argparse.ArgumentParser],
    run: Callable[[argparse.Namespace], dict],
    render: Callable[[dict], str],
    part: Callable[[argparse.Namespace], str] = lambda args: "",
) -> None:
    """What every `python -m benchmarks.NAME` does: parse its flags, run, print, write NAME.json
    (NAME_full.json with --full, the whole-catalogue variant, NAME_PART.json for a part that
    runs on its own, `part(args)`, and NAME_PART_full.json for both; so they can all stand
    side by side)."""
    setup_logging()
    args = parser().parse_args()
    result = run(args)
    print(render(result))
    suffix = "_".join(filter(None, [part(args), "full" if getattr(args, "full", False) else ""]))
    results = f"{name}_{suffix}" if suffix else name
    print(f"written: {write(results, result, module=f'benchmarks.{name}')}")

"""Shared fixtures: small catalogues in the real file layouts, cut from the real dataset (read
once per test run), the encoders, and the whole graph materialised once; the two test tiers
(`--fast`), and the strict mode of `make test` and CI."""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from embaug_core.common.home import Home
from embaug_pipeline.run import graph
from embaug_pipeline.run.graph import GraphOptions, materialize_graph
from tests.end_to_end.servers import postgres_binaries

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "fashion-products"
CLASSES = ("Tshirts", "Watches", "Casual Shoes", "Handbags", "Sunglasses", "Belts")
#: Set by `make test` (and so by CI): a missing dataset or Postgres fails the run instead of
#: skipping most of it. Without it a developer without the data still runs the unit tests.
STRICT = "EMBAUG_TESTS_STRICT"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help="the fast tier: leave out tests marked slow, and fail a test that starts a "
        "subprocess or runs the whole graph without being marked slow",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    if not os.environ.get(STRICT):
        return
    missing = [
        what
        for what, present in (
            (f"the real catalogue at {SHARED}", (SHARED / "styles.csv").is_file()),
            ("PostgreSQL server binaries (pg_ctl, initdb)", postgres_binaries() is not None),
        )
        if not present
    ]
    if missing:
        pytest.exit(f"{STRICT} is set and these are missing: {'; '.join(missing)}", returncode=1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every user of `graph_run` is slow; with --fast only the others run."""
    for item in items:
        if "graph_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
    if config.getoption("--fast"):
        slow = [item for item in items if item.get_closest_marker("slow")]
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


#: Code of the project: a subprocess it starts is the test's doing (a library's own, such as
#: GitPython asking `git --version` when MLflow starts a run, is not).
OWN_CODE = tuple(str(ROOT / name) for name in ("tests", "embaug_core", "embaug_pipeline"))


def _started_by_own_code() -> bool:
    """Whether the code that asked for the subprocess (the first caller outside the
    subprocess module and this file) is the project's."""
    frame = sys._getframe(2)
    while frame and frame.f_code.co_filename in (subprocess.__file__, __file__):
        frame = frame.f_back
    return bool(frame) and frame.f_code.co_filename.startswith(OWN_CODE)


@pytest.fixture(autouse=True)
def _fast_tier_stays_fast(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """In the fast tier, a test that starts a subprocess or a whole-graph run fails, so a new
    slow test cannot slip in unmarked."""
    if not request.config.getoption("--fast"):
        yield
        return
    found: list[str] = []
    popen = subprocess.Popen.__init__

    def refuse(what: str):
        found.append(what)
        raise RuntimeError(f"{what} in the fast tier: mark the test @pytest.mark.slow")

    def guarded_popen(self, *args, **kwargs):
        if _started_by_own_code():
            refuse(f"a subprocess ({args[0] if args else kwargs.get('args')})")
        popen(self, *args, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_popen)
    monkeypatch.setattr(graph, "materialise_grid", lambda *a, **k: refuse("a whole-graph run"))
    yield
    if found:
        pytest.fail(f"{', '.join(found)} in the fast tier: mark the test @pytest.mark.slow")


def real_catalogue() -> Path:
    if not (SHARED / "styles.csv").is_file():
        pytest.skip(f"the real catalogue is not at {SHARED}")
    return SHARED


@cache
def _real_styles() -> pd.DataFrame:
    return pd.read_csv(real_catalogue() / "styles.csv", dtype=str)


@cache
def _real_description_lines() -> dict[str, str]:
    """Each product's line of styles.jsonl.gz by id (parsing it takes seconds: once a run)."""
    with gzip.open(real_catalogue() / "styles.jsonl.gz", "rt", encoding="utf-8") as lines:
        return {str(json.loads(line)["data"]["id"]): line for line in lines}


def write_kaggle_slice(
    target: Path, per_class: int = 12, classes: tuple[str, ...] = CLASSES
) -> pd.DataFrame:
    """Copy `per_class` real products of each class (rows, images, descriptions) to `target`."""
    source, styles = real_catalogue(), _real_styles()
    chosen = pd.concat(
        [styles[styles["articleType"] == c].sort_values("id").head(per_class) for c in classes]
    )
    (target / "images").mkdir(parents=True, exist_ok=True)
    chosen.to_csv(target / "styles.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    for product_id in chosen["id"]:
        shutil.copy(
            source / "images" / f"{product_id}.jpg", target / "images" / f"{product_id}.jpg"
        )
    wanted = set(chosen["id"])
    with gzip.open(target / "styles.jsonl.gz", "wt", encoding="utf-8") as out:
        for product_id, line in _real_description_lines().items():
            if product_id in wanted:
                out.write(line)
    return chosen


@pytest.fixture
def embeddings_written(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Vectors this process writes to the embedding cache, by encoder: what the table cannot
    count, since a vector written twice is kept once (its key is encoder and content)."""
    from embaug_core.store.embeddings import EmbeddingTables

    written: Counter = Counter()
    write = EmbeddingTables.write_embeddings

    def counted(self, encoder: str, hashes, vectors) -> None:
        written[encoder] += len(hashes)
        write(self, encoder, hashes, vectors)

    monkeypatch.setattr(EmbeddingTables, "write_embeddings", counted)
    return written


@pytest.fixture(scope="session")
def kaggle_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """72 real products of 6 classes in the Kaggle layout (read-only: copy before changing)."""
    folder = tmp_path_factory.mktemp("kaggle_slice")
    write_kaggle_slice(folder)
    return folder


@pytest.fixture(scope="session")
def text_encoder():
    """fp32: the model as trained, which the hand computations check (int8 is the default)."""
    from embaug_core.embeddings.encoders import TextEncoder

    return TextEncoder(precision="fp32")


@pytest.fixture(scope="session")
def image_encoder():
    from embaug_core.embeddings.encoders import ImageEncoder

    return ImageEncoder()


# -- the whole graph, materialised once for the end-to-end and serving tests --------------

METHODS = (
    "control",
    "soft_e_stitchup",
    "logreg",
    "knn_aug",
    "label_prop",
    "knn_aug__soft_e_stitchup",
    "logreg__knn_distance",
)


UNLABELLED_PER_CLASS = 3


@pytest.fixture(scope="session")
def catalogue(kaggle_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 72-product slice with the category of 3 products per class left empty: 54 labelled,
    18 unlabelled products to categorise."""
    folder = tmp_path_factory.mktemp("partly_labelled")
    shutil.copytree(kaggle_slice, folder, dirs_exist_ok=True)
    styles = pd.read_csv(folder / "styles.csv", dtype=str, keep_default_na=False)
    blank = styles.groupby("articleType").cumcount() >= 12 - UNLABELLED_PER_CLASS
    styles.loc[blank, "articleType"] = ""
    styles.to_csv(folder / "styles.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def graph_run(catalogue: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("embaug_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBAUG_HOME", str(home))
        patch.setenv("DAGSTER_HOME", str(home / "dagster"))
        with dg.instance_for_test() as instance:
            options = GraphOptions(
                data=str(catalogue),
                sample_fraction=1.0,
                trials=2,
                methods=METHODS,
                epochs=3,
                splits={"train_fraction": 0.4},
                report={"champion_auc_floor": 0.5},
            )
            outcome = materialize_graph(options, instance)
            assert outcome.embeddings["image_embeddings"]["computed"] == 72
            yield Home(home), instance, outcome.results, options

"""Resources: where the store and MLflow live, and which encoders embed the catalogue."""

from __future__ import annotations

import os

import dagster as dg
import mlflow
from pydantic import Field

from embaug_core.common.environment import DASK, setting
from embaug_core.common.home import Home
from embaug_core.common.team import first_use_lock
from embaug_core.embeddings.encoders import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_MAX_LENGTH,
    DEFAULT_MODEL,
    DEFAULT_PRECISION,
    ImageEncoder,
    TextEncoder,
)
from embaug_core.embeddings.shards import ShardRunner
from embaug_core.embeddings.vector_cache import cached_vectors
from embaug_core.embeddings.vectors import ProductVectors, product_vectors
from embaug_core.labels.lineage import Lineage, current_lineage
from embaug_core.serving.product import EncoderSpec
from embaug_core.store import Store
from embaug_core.tracking import use_tracking_store
from embaug_core.tracking.views import VIEW_TAG, experiment_url, trials_view

#: Every asset that writes DuckDB takes a slot of this pool (size 1: one writer at a time).
DUCKDB_POOL = "embaug_duckdb"
#: MLflow 3's experiment kind: a model-training experiment opens on its runs.
EXPERIMENT_KIND, TRAINING_KIND = "mlflow.experimentKind", "custom_model_development"
EXPERIMENT_TAGS = {EXPERIMENT_KIND: TRAINING_KIND, VIEW_TAG: trials_view()}
#: Marks a parent run and holds what it groups (the comparison's vectors fingerprint).
TAG_PARENT = "embaug.parent_of"
#: A Dagster run tag naming the MLflow parent run its training runs nest under.
PARENT_RUN_TAG = "embaug/mlflow_parent"


class StoreResource(dg.ConfigurableResource):
    """The DuckDB store; empty path means EMBAUG_HOME/embaug.duckdb."""

    path: str = ""

    def get(self) -> Store:
        return Store(self.path or Home.from_env().duckdb_path)


class EncodersResource(dg.ConfigurableResource):
    """The frozen encoders. Empty model paths mean the bundled offline defaults."""

    text_model_dir: str = ""
    text_max_length: int = DEFAULT_MAX_LENGTH
    text_batch_size: int = Field(0, description="0: 8 on a CPU (int8: 1), 256 on a GPU")
    text_precision: str = Field(
        DEFAULT_PRECISION,
        description="fp32, or int8 (ONNX Runtime's dynamic quantisation, CPU; cached apart)",
    )
    image_model: str = DEFAULT_MODEL
    image_checkpoint: str = ""
    image_size: int = DEFAULT_IMAGE_SIZE
    image_batch_size: int = Field(0, description="0: 16 on a CPU, 128 on a GPU")
    device: str = Field("auto", description="auto (a CUDA GPU where there is one), cpu or cuda")

    def settings(self, kind: str) -> dict[str, object]:
        """The arguments of the text or image encoder: how any worker builds the same one."""
        if kind == "text":
            return {
                "model_dir": self.text_model_dir or None,
                "max_length": self.text_max_length,
                "batch_size": self.text_batch_size,
                "device": self.device,
                "precision": self.text_precision,
            }
        return {
            "model_name": self.image_model,
            "checkpoint": self.image_checkpoint or None,
            "image_size": self.image_size,
            "batch_size": self.image_batch_size,
            "device": self.device,
        }

    def text(self) -> TextEncoder:
        return TextEncoder(**self.settings("text"))

    def image(self) -> ImageEncoder:
        return ImageEncoder(**self.settings("image"))

    def shards(self, kind: str) -> ShardRunner | None:
        """Shards for the workers of the Dask cluster at EMBAUG_DASK_SCHEDULER, or None to
        embed in this process."""
        address = setting(DASK)
        if not address:
            return None
        return ShardRunner(address, Home.from_env().shards, kind, self.settings(kind))

    def identities(self, features: tuple[str, ...]) -> dict[str, str]:
        """The encoder identity of each feature in use (titles and descriptions share one)."""
        return {f: (self.image() if f == "image" else self.text()).identity for f in features}

    def vectors(
        self, store: Store, trials: list[str] | None = None
    ) -> tuple[ProductVectors, Lineage]:
        """The product matrix of the catalogue in the store (read once per process and shared
        through a memory-mapped file), and what is current for it (for `trials` only, if
        given: each trial costs reading its split)."""
        identities = self.identities(store.catalogue()["features"])
        lineage = current_lineage(store, identities, trials)
        vectors = cached_vectors(
            Home.from_env().vectors,
            lineage.vectors_sha256,
            lambda: product_vectors(store, identities),
            store.product_categories(),
        )
        return vectors, lineage

    def spec(self, features: tuple[str, ...]) -> EncoderSpec:
        """How to build these encoders again where the model is served."""
        return EncoderSpec(
            features=tuple(features),
            text_model_dir=self.text_model_dir,
            text_max_length=self.text_max_length,
            text_precision=self.text_precision,
            image_model=self.image_model,
            image_checkpoint=self.image_checkpoint,
            image_size=self.image_size,
            identities=self.identities(features),
        )

    def lineage(self, store: Store, trials: list[str] | None = None) -> Lineage:
        """What is current in the store for these encoders (no vectors read), for `trials`
        only if given."""
        return current_lineage(store, self.identities(store.catalogue()["features"]), trials)


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking; empty URI means the SQLite store under EMBAUG_HOME."""

    tracking_uri: str = ""
    experiment: str = "embaug"
    ui_url: str = Field(
        "http://127.0.0.1:5000", description="Where people open MLflow (links in reports)"
    )

    def uri(self) -> str:
        return self.tracking_uri or Home.from_env().mlflow_uri

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Progress bars of MLflow's artifact copies would flood the run logs.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        use_tracking_store(self.uri())

    def experiment_id(self) -> str:
        """The experiment's id, created with its artifacts under EMBAUG_HOME if new, marked as
        a model-training experiment, with the saved view of its trial runs (`views.py`).

        Parallel runs meet here first: a file lock makes one of them create the SQLite tables
        and the experiment while the others wait, instead of racing to create them twice.
        """
        home = Home.from_env().create()
        use_tracking_store(self.uri())
        with first_use_lock(home.root / "mlflow.lock"):
            found = mlflow.get_experiment_by_name(self.experiment)
            if found is None:
                return mlflow.create_experiment(
                    self.experiment, home.mlflow_artifacts.as_uri(), tags=EXPERIMENT_TAGS
                )
            for key, value in EXPERIMENT_TAGS.items():
                if found.tags.get(key) != value:
                    mlflow.MlflowClient().set_experiment_tag(found.experiment_id, key, value)
            return found.experiment_id

    def experiment_url(self) -> str:
        """The experiment's page in the MLflow UI, on its trial runs (the saved view)."""
        return experiment_url(self.ui_url, self.experiment_id())

    def run_url(self, run_id: str) -> str:
        """A run's page in the MLflow UI."""
        return f"{self.ui_url}/#/experiments/{self.experiment_id()}/runs/{run_id}"

    def parent_run(self, key: str, name: str) -> str:
        """The id of the parent run that groups the runs of one comparison (one catalogue
        and its vectors), created on first use under the same lock."""
        experiment = self.experiment_id()
        with first_use_lock(Home.from_env().root / "mlflow.lock"):
            client = mlflow.MlflowClient()
            found = client.search_runs(
                [experiment], f"tags.`{TAG_PARENT}` = '{key}'", max_results=1
            )
            if found:
                return found[0].info.run_id
            run = client.create_run(experiment, run_name=name, tags={TAG_PARENT: key})
            client.set_terminated(run.info.run_id)
            return run.info.run_id


#: The resources by the names assets ask for them.
RESOURCES = {"store": StoreResource(), "encoders": EncodersResource(), "tracking": MlflowResource()}

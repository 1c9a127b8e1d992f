"""Resources: where the store and MLflow live, and which encoders embed the catalogue."""

from __future__ import annotations

import os

import dagster as dg
import mlflow
from filelock import FileLock

from embaug_core.embeddings import ProductVectors, product_vectors
from embaug_core.encoders import ImageEncoder, TextEncoder
from embaug_core.home import Home
from embaug_core.lineage import Lineage, current_lineage
from embaug_core.store import Store
from embaug_core.tracking import use_tracking_store

#: Every asset that writes DuckDB takes a slot of this pool (size 1: one writer at a time).
DUCKDB_POOL = "embaug_duckdb"


class StoreResource(dg.ConfigurableResource):
    """The DuckDB store; empty path means EMBAUG_HOME/embaug.duckdb."""

    path: str = ""

    def get(self) -> Store:
        return Store(self.path or Home.from_env().duckdb_path)


class EncodersResource(dg.ConfigurableResource):
    """The frozen encoders. Empty model paths mean the bundled offline defaults."""

    text_model_dir: str = ""
    text_max_length: int = 256
    text_batch_size: int = 64
    image_model: str = "tf_efficientnet_lite0"
    image_checkpoint: str = ""
    image_size: int = 224
    image_batch_size: int = 16

    def text(self) -> TextEncoder:
        return TextEncoder(self.text_model_dir or None, self.text_max_length, self.text_batch_size)

    def image(self) -> ImageEncoder:
        return ImageEncoder(
            self.image_model, self.image_checkpoint or None, self.image_size, self.image_batch_size
        )

    def identities(self, features: tuple[str, ...]) -> dict[str, str]:
        """The encoder identity of each feature in use (titles and descriptions share one)."""
        return {f: (self.image() if f == "image" else self.text()).identity for f in features}

    def vectors(self, store: Store) -> tuple[ProductVectors, Lineage]:
        """The product matrix of the catalogue in the store, and what is current for it."""
        identities = self.identities(store.catalogue()["features"])
        return product_vectors(store, identities), current_lineage(store, identities)

    def lineage(self, store: Store) -> Lineage:
        """What is current in the store for these encoders (no vectors read)."""
        return current_lineage(store, self.identities(store.catalogue()["features"]))


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking; empty URI means the SQLite store under EMBAUG_HOME."""

    tracking_uri: str = ""
    experiment: str = "embaug"

    def uri(self) -> str:
        return self.tracking_uri or Home.from_env().mlflow_uri

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Progress bars of MLflow's artifact copies would flood the run logs.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        use_tracking_store(self.uri())

    def experiment_id(self) -> str:
        """The experiment's id, created with its artifacts under EMBAUG_HOME if new.

        Parallel runs meet here first: a file lock makes one of them create the SQLite tables
        and the experiment while the others wait, instead of racing to create them twice.
        """
        home = Home.from_env().create()
        with FileLock(home.root / "mlflow.lock", timeout=300):
            found = mlflow.get_experiment_by_name(self.experiment)
            if found:
                return found.experiment_id
            return mlflow.create_experiment(self.experiment, home.mlflow_artifacts.as_uri())

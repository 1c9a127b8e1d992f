"""The DuckDB store: products, images, the embedding cache, trial splits, label sets,
people's labels, predictions and results, one table family per module.

DuckDB allows one writing process per file, so every write is a short transaction on a
connection opened for it, and readers open the file read-only. A process that finds the file
locked by another waits for it (DuckDB has no busy timeout of its own, unlike SQLite), up to
`lock_timeout` seconds, then fails naming the holder. Vectors are written in bulk through Arrow
and read back as float32 numpy.
"""

from embaug_core.store.base import StoreBusyError
from embaug_core.store.embeddings import EmbeddingTables
from embaug_core.store.experiment import ExperimentTables
from embaug_core.store.people import PeopleTables
from embaug_core.store.predictions import PredictionTables
from embaug_core.store.products import ProductTables
from embaug_core.store.results import ResultTables
from embaug_core.store.reuse import ReuseTables
from embaug_core.store.schema import REPORT_TABLES


class Store(
    ProductTables,
    EmbeddingTables,
    ExperimentTables,
    PeopleTables,
    PredictionTables,
    ResultTables,
    ReuseTables,
):
    """A DuckDB file holding everything embaug computes that is not a model."""


__all__ = ["REPORT_TABLES", "Store", "StoreBusyError"]

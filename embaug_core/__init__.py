"""embaug_core: the science and the storage of embaug, with no orchestrator inside.

Every module is usable from a notebook: plain functions and small classes over numpy,
torch, faiss and DuckDB.
"""

__version__ = "0.1.0"

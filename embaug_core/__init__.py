"""embaug_core: the science and the storage of embaug, with no orchestrator inside.

Every module is usable from a notebook: plain functions and small classes over numpy,
torch, faiss and DuckDB.
"""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while they wait at a barrier take the cores from the thread doing
# the work whenever anything else runs, and training slows several times over; threads that
# sleep do not (`python -m benchmarks.partition --also-env OMP_WAIT_POLICY=ACTIVE`,
# benchmarks/notes.md). Set before torch loads OpenMP; a value already set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

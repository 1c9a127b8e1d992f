"""The resources every asset asks for by name: the DuckDB store, the encoders and MLflow."""

import dagster as dg

from embaug_pipeline.resources import RESOURCES


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=RESOURCES)

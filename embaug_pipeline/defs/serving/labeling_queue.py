"""labeling_queue: what people should label next."""

import dagster as dg
from pydantic import Field

from embaug_core.common.home import Home
from embaug_core.evaluation.assemble import refresh_serving
from embaug_core.serving.queue import queue_from_predictions, write_queue_csv
from embaug_pipeline.conditions import retrain
from embaug_pipeline.defs.serving.predictions import predictions
from embaug_pipeline.resources import DUCKDB_POOL, StoreResource


class QueueSettings(dg.Config):
    limit: int = Field(0, description="Keep the first N products of the queue (0: all)")


@dg.asset(
    group_name="serving",
    deps=[predictions],
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
    automation_condition=retrain(),
)
def labeling_queue(
    context: dg.AssetExecutionContext, config: QueueSettings, store: StoreResource
) -> dg.MaterializeResult:
    """Products the production model calls "none", most uncertain first, with its top three
    guesses and an empty `category` column to fill in: what to label next. Products people
    labelled leave it. The report's predictions and next steps are brought up to date."""
    db = store.get()
    queue = queue_from_predictions(db, config.limit)
    reports = Home.from_env().create().reports
    path = write_queue_csv(queue, reports / "labeling_queue.csv")
    refresh_serving(db, reports / "report.html")
    return dg.MaterializeResult(
        metadata={
            "queued": len(queue),
            "csv": dg.MetadataValue.path(str(path)),
            "first_rows": dg.MetadataValue.md(
                queue.head(15).to_markdown(index=False, floatfmt=".3f")
            ),
        }
    )

"""evaluation_report: the comparison over trials, from the finished MLflow runs."""

import dagster as dg

from embaug_core.home import Home
from embaug_core.report import comparison_table, write_html
from embaug_core.tracking import current_runs, finished_runs
from embaug_pipeline.assets.training import trained_models
from embaug_pipeline.resources import DUCKDB_POOL, MlflowResource, StoreResource


@dg.asset(group_name="reporting", deps=[trained_models], kinds={"duckdb", "html"}, pool=DUCKDB_POOL)
def evaluation_report(
    context: dg.AssetExecutionContext, store: StoreResource, tracking: MlflowResource
) -> dg.MaterializeResult:
    """Mean and maximum deviation over trials per method, for runs on the current splits only."""
    db = store.get()
    runs = current_runs(finished_runs(tracking.uri(), tracking.experiment), db)
    if runs.empty:
        raise dg.Failure(
            "no finished MLflow runs on the current splits: materialise trained_models"
        )
    db.replace_results(runs)
    table = comparison_table(runs)
    listing = runs[["trial", "method", "run_id"]].drop_duplicates().sort_values(["method", "trial"])
    settings = {"mlflow": tracking.uri(), "experiment": tracking.experiment, "runs": len(listing)}
    path = write_html(table, settings, Home.from_env().create().reports / "report.html", listing)
    context.log.info("\n" + table.to_markdown())
    return dg.MaterializeResult(
        metadata={
            "comparison": dg.MetadataValue.md(table.to_markdown()),
            "report": dg.MetadataValue.path(str(path)),
            "runs": len(listing),
        }
    )

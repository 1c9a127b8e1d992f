"""evaluation_report: the comparison over trials, from the finished MLflow runs, and the
champion in MLflow's model registry; labeling_queue: what to label next."""

import dagster as dg
from pydantic import Field

from embaug_core.evaluation_report import EvaluationInputs, assemble_report
from embaug_core.home import Home
from embaug_core.labeling_queue import build_queue, write_queue_csv
from embaug_core.lineage import current_label_sets
from embaug_core.tracking.registry import CHAMPION
from embaug_pipeline.assets.training import trained_models
from embaug_pipeline.resources import DUCKDB_POOL, EncodersResource, MlflowResource, StoreResource


class ReportSettings(dg.Config):
    epochs_methods: list[str] = Field(
        default_factory=lambda: ["control", "soft_e_stitchup"],
        description="Methods whose per-epoch accuracies are drawn (the paper's Fig. 5)",
    )
    mlflow_ui: str = Field("http://127.0.0.1:5000", description="Base URL of runs' links")
    champion_figure: str = Field(
        "tradeoff_auc", description="The figure the champion rule compares (METHODS.md 7)"
    )
    champion_auc_floor: float = Field(
        0.9, description="Below this mean weighted AUC the champion blocks the labeling queue"
    )


CHAMPION_CHECK = "champion_weighted_auc_above_floor"


@dg.asset(
    group_name="reporting",
    deps=[trained_models],
    check_specs=[
        dg.AssetCheckSpec(
            CHAMPION_CHECK,
            asset="evaluation_report",
            blocking=True,
            description="The champion's mean weighted AUC clears champion_auc_floor; "
            "below it the labeling queue is not rebuilt",
        )
    ],
    kinds={"duckdb", "html", "mlflow"},
    pool=DUCKDB_POOL,
)
def evaluation_report(
    context: dg.AssetExecutionContext,
    config: ReportSettings,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """Tables, figures and champion from the runs of current trials (runs on older splits,
    catalogues or encoders are left out, and the report says which trials it used)."""
    db = store.get()
    lineage = encoders.lineage(db)
    inputs = EvaluationInputs(
        store=db,
        lineage=lineage,
        label_sets=current_label_sets(db, lineage),
        tracking_uri=tracking.uri(),
        experiment=tracking.experiment,
        runs_url=f"{config.mlflow_ui}/#/experiments/{tracking.experiment_id()}",
        champion_figure=config.champion_figure,
        epochs_methods=config.epochs_methods,
    )
    outcome = assemble_report(inputs, Home.from_env().create().reports / "report.html")
    check = dg.AssetCheckResult(
        check_name=CHAMPION_CHECK,
        passed=bool(outcome.champion_auc >= config.champion_auc_floor),
        metadata={
            "champion": outcome.champion.method,
            "mean_weighted_auc": outcome.champion_auc,
            "floor": config.champion_auc_floor,
        },
    )
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            "comparison": dg.MetadataValue.md(outcome.report.comparison.to_markdown()),
            "paired_with_control": dg.MetadataValue.md(outcome.report.paired.to_markdown()),
            "champion": outcome.champion.method,
            "champion_rule": outcome.champion.rule,
            "trials_used": outcome.trials,
            "report": dg.MetadataValue.path(str(outcome.path)),
            "runs": outcome.runs,
        },
    )


class QueueSettings(dg.Config):
    limit: int = Field(0, description="Keep the first N products of the queue (0: all)")


@dg.asset(
    group_name="reporting", deps=[evaluation_report], kinds={"duckdb", "mlflow"}, pool=DUCKDB_POOL
)
def labeling_queue(
    context: dg.AssetExecutionContext,
    config: QueueSettings,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """Products outside the champion's training set that it calls "none", most uncertain
    first, with its top three guesses: what to label next."""
    db = store.get()
    vectors, _ = encoders.vectors(db)
    queue = build_queue(db, vectors, tracking.uri(), CHAMPION, config.limit)
    path = write_queue_csv(queue.table, Home.from_env().create().reports / "labeling_queue.csv")
    return dg.MaterializeResult(
        metadata={
            "champion": queue.method,
            "model_version": queue.version,
            "scored": queue.scored,
            "queued": len(queue.table),
            "csv": dg.MetadataValue.path(str(path)),
            "first_rows": dg.MetadataValue.md(
                queue.table.head(15).to_markdown(index=False, floatfmt=".3f")
            ),
        }
    )

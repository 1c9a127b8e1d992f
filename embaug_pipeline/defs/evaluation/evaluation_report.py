"""evaluation_report: the comparison over trials, from the finished MLflow runs, the champion
in MLflow's model registry, and the recommendation the production model is made from."""

import dagster as dg
from pydantic import Field

from embaug_core.common.home import Home
from embaug_core.evaluation.assemble import EvaluationInputs, assemble_report
from embaug_core.evaluation.comparison import (
    HEADLINE,
    comparison_table,
    for_people,
    paired_table,
)
from embaug_core.evaluation.recommendation import Recommendation
from embaug_core.evaluation.verdicts import DEFAULT_AUC_FLOOR, auc_floor
from embaug_core.labels.lineage import current_label_sets
from embaug_core.tracking.summary import log_comparison_summary, summary_metrics
from embaug_pipeline.conditions import retrain
from embaug_pipeline.defs.training.trained_models import trained_models
from embaug_pipeline.metadata import figure_markdown
from embaug_pipeline.resources import (
    DUCKDB_POOL,
    PARENT_RUN_TAG,
    EncodersResource,
    MlflowResource,
    StoreResource,
)


def _shown(outcome, db) -> dict[str, dg.MetadataValue]:
    """The recommendation (with the threshold figure when the page was rebuilt), the
    comparison and the paired table, for the asset's page."""
    recommendation = Recommendation.from_row(db.recommendation())
    text = (
        f"**No production model**: {outcome.not_served}. "
        if outcome.not_served
        else f"**Serve {recommendation.method}** at threshold {recommendation.threshold:.2f}. "
    ) + f"{outcome.champion.rule}."
    if outcome.report is not None:
        text += "\n\n" + figure_markdown(outcome.report.figures[0])
    results = db.query("SELECT * FROM results")
    paired = paired_table(db.query("SELECT * FROM paired_differences"))
    return {
        "recommendation": dg.MetadataValue.md(text),
        "comparison": dg.MetadataValue.md(
            for_people(comparison_table(results)).to_markdown(floatfmt=".3f")
        ),
        "paired_with_control": dg.MetadataValue.md(for_people(paired).to_markdown()),
    }


def _embedding_seconds(instance: dg.DagsterInstance) -> dict[str, float]:
    """How long the last embedding steps took (seconds; 0 when everything came from cache)."""
    seconds = {}
    for asset, what in (("text_embeddings", "texts"), ("image_embeddings", "images")):
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        found = event and event.asset_materialization and event.asset_materialization.metadata
        if found and "seconds" in found:
            seconds[f"embedding {what}, last run"] = float(found["seconds"].value)
    return seconds


def _summarise(context, tracking: MlflowResource, outcome, db, comparison: str) -> None:
    """The recommendation, the champion's figures and the comparison onto the parent run of
    the trial runs (the command line's, else the one of these vectors)."""
    parent = context.run.tags.get(PARENT_RUN_TAG) or tracking.parent_run(
        comparison, f"comparison on vectors {comparison[:8]}"
    )
    recommendation = Recommendation.from_row(db.recommendation())
    expected = db.expected_figures()
    results = db.query("SELECT * FROM results")
    log_comparison_summary(
        tracking.uri(),
        parent,
        recommendation.method,
        (
            f"No production model: {outcome.not_served}"
            if outcome.not_served
            else f"Serve {recommendation.method} at threshold {recommendation.threshold:.2f}"
        )
        + f": {outcome.champion.rule}",
        for_people(comparison_table(results)),
        summary_metrics(results, recommendation.method, expected, HEADLINE),
        outcome.path,
    )


class ReportSettings(dg.Config):
    epochs_methods: list[str] = Field(
        default_factory=lambda: ["control", "soft_e_stitchup"],
        description="Methods whose per-epoch accuracies are drawn (the paper's Fig. 5)",
    )
    dagster_ui: str = Field("http://127.0.0.1:3000", description="Base URL of Dagster run links")
    champion_figure: str = Field(
        "tradeoff_auc", description="The figure the champion rule compares (docs/METHODS.md 7)"
    )
    champion_auc_floor: float = Field(
        default_factory=auc_floor,
        description="Below this mean weighted AUC the champion blocks the production model "
        f"(default EMBAUG_AUC_FLOOR, else {DEFAULT_AUC_FLOOR})",
    )


CHAMPION_CHECK = "champion_weighted_auc_above_floor"


@dg.asset(
    group_name="evaluation",
    deps=[trained_models],
    check_specs=[
        dg.AssetCheckSpec(
            CHAMPION_CHECK,
            asset="evaluation_report",
            blocking=True,
            description="The champion's mean weighted AUC clears champion_auc_floor; below it "
            "the production model, its predictions and the labeling queue are not rebuilt",
        )
    ],
    kinds={"duckdb", "html", "mlflow"},
    pool=DUCKDB_POOL,
    automation_condition=retrain(),
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
        encoders=encoders.identities(db.catalogue()["features"]),
        tracking_uri=tracking.uri(),
        experiment=tracking.experiment,
        mlflow_url=f"{tracking.ui_url}/#/experiments/{tracking.experiment_id()}",
        dagster_url=config.dagster_ui,
        champion_figure=config.champion_figure,
        epochs_methods=config.epochs_methods,
        auc_floor=config.champion_auc_floor,
        experiment_url=tracking.experiment_url(),
        vectors=encoders.vectors(db)[0],
        stage_seconds=_embedding_seconds(context.instance),
    )
    outcome = assemble_report(inputs, Home.from_env().create().reports / "report.html")
    facts = {
        "champion": outcome.champion.method,
        "mean_weighted_auc": round(outcome.champion_auc, 4),
        "floor": config.champion_auc_floor,
    }
    if outcome.not_served:
        facts["why_not_served"] = outcome.not_served
    passed = not outcome.not_served
    # Kept with the recommendation: an import of people's labels retrains the production
    # model from it only when it cleared the floor (embaug_pipeline/run/loop.py).
    db.record_settings(CHAMPION_CHECK, "", {**facts, "passed": passed})
    check = dg.AssetCheckResult(check_name=CHAMPION_CHECK, passed=passed, metadata=facts)
    if outcome.report is not None:  # rebuilt: the comparison's parent run carries it
        _summarise(context, tracking, outcome, db, lineage.vectors_sha256)
    shown = _shown(outcome, db)
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            **shown,
            "reused": outcome.report is None,
            "champion": outcome.champion.method,
            "champion_rule": outcome.champion.rule,
            "trials_used": outcome.trials,
            "report": dg.MetadataValue.path(str(outcome.path)),
            "runs": outcome.runs,
        },
    )

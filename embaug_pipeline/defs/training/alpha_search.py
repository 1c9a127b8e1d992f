"""alpha_search: the paper's grid search over the Beta parameter, one MLflow run per trial,
method and alpha."""

import dagster as dg
import pandas as pd
from pydantic import Field

from embaug_core.tracking import (
    ALPHA_SEARCH,
    TAG_LINEAGE,
    TAG_METHOD,
    TAG_SOURCE,
    TAG_TRIAL,
    TAG_VARIANT,
)
from embaug_core.training.experiment import CurveSettings
from embaug_core.training.methods import ALPHA_GRID, get_method
from embaug_core.training.mixup import MixupSettings
from embaug_core.training.train import TrainConfig
from embaug_pipeline.config import config_class
from embaug_pipeline.defs.embeddings.assets import image_embeddings, text_embeddings
from embaug_pipeline.defs.labels.trial_splits import trial_splits
from embaug_pipeline.defs.training.runs import THRESHOLD, train_or_reuse, trial_inputs
from embaug_pipeline.partitions import trial_partitions
from embaug_pipeline.resources import (
    EncodersResource,
    MlflowResource,
    StoreResource,
)

AlphaSearchSettings = config_class(
    "AlphaSearchSettings",
    TrainConfig,
    MixupSettings,
    CurveSettings,
    threshold=THRESHOLD,
    alphas=(list[float], Field(list(ALPHA_GRID), description="The paper's grid")),
    methods=(
        list[str],
        Field(
            ["e_mixup", "e_stitchup", "soft_e_mixup", "soft_e_stitchup"],
            description="Methods searched",
        ),
    ),
)


@dg.asset(
    group_name="training",
    partitions_def=trial_partitions,
    deps=[trial_splits, text_embeddings, image_embeddings],
    kinds={"pytorch", "mlflow"},
)
def alpha_search(
    context: dg.AssetExecutionContext,
    config: AlphaSearchSettings,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """Every method x alpha of the grid on one trial, each an MLflow run named after its point."""
    trial = context.partition_key
    rows = []
    for method in map(get_method, config.methods):
        inputs = trial_inputs(store, encoders, trial, method)
        for alpha in config.alphas:
            point = config.model_copy(update={"alpha": alpha})
            tags = {
                TAG_TRIAL: trial,
                TAG_METHOD: method.name,
                TAG_LINEAGE: inputs.lineage,
                TAG_SOURCE: ALPHA_SEARCH,
                TAG_VARIANT: f"alpha={alpha}",
            }
            name = f"{method.name}__{trial}__alpha_{alpha}"
            run = train_or_reuse(
                context, store, encoders, tracking, point, method, inputs, name, tags
            )
            rows.append(
                {"method": method.name, "alpha": alpha, **run.metrics, "run_id": run.run_id}
            )
    table = pd.DataFrame(rows)
    # Chosen on the selection part S, never on the figures reported (docs/METHODS.md section 7).
    ranked = table.sort_values("select_tradeoff_auc", ascending=False, na_position="last")
    best = ranked.drop_duplicates("method")
    shown = ["method", "alpha", "select_tradeoff_auc", "tradeoff_auc", "weighted_auc"]
    return dg.MaterializeResult(
        metadata={
            "runs": len(table),
            "grid": dg.MetadataValue.md(table[shown].to_markdown(index=False)),
            "best_alpha_on_selection": dict(zip(best["method"], best["alpha"], strict=True)),
        }
    )

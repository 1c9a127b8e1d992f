"""How the MLflow UI opens on embaug's experiment: on its training runs, not on the GenAI
overview MLflow 3 shows first (`workflowType=machine_learning`), through a saved view of the
trial runs (an experiment tag MLflow's UI reads by its share key): one row per trial x method,
flat rather than folded under their parent, best known-vs-none area first, with method, trial
and the headline figures as columns."""

from __future__ import annotations

import json

from embaug_core.tracking import GRID, TAG_METHOD, TAG_SOURCE, TAG_TRIAL
from embaug_core.tracking.runs import logged_name

#: The share key of the saved view, and the experiment tag that holds it.
TRIALS_VIEW = "trials"
VIEW_TAG = f"mlflow.sharedViewState.{TRIALS_VIEW}"
#: The figures shown as columns, in this order.
COLUMNS = (
    "tradeoff_auc",
    "weighted_auc",
    "top1_known",
    "macro_f1_known",
    "threshold_tuned",
    "overall_acc_tuned",
    "none_acc_tuned",
)


def _column(kind: str, key: str) -> str:
    """A column as MLflow's runs table names it."""
    return f"{kind}.`{key}`"


def trials_view() -> str:
    """The saved view's state, as MLflow's UI stores a shared view (JSON)."""
    return json.dumps(
        {
            "searchFilter": f"tags.`{TAG_SOURCE}` = '{GRID}'",
            "orderByKey": _column("metrics", logged_name(COLUMNS[0])),
            "orderByAsc": False,
            "selectedColumns": [
                _column("tags", TAG_METHOD),
                _column("tags", TAG_TRIAL),
                *(_column("metrics", logged_name(figure)) for figure in COLUMNS),
                _column("attributes", "Dataset"),
                _column("attributes", "Duration"),
            ],
        },
        sort_keys=True,
    )


def experiment_url(ui_url: str, experiment_id: str) -> str:
    """The experiment's page on its trial runs (the saved view), as a model-training one.
    MLflow 3.17's UI applies a shared view on the runs route only: without `/runs` it opens
    its default list (runs folded under their parent)."""
    return (
        f"{ui_url}/#/experiments/{experiment_id}/runs?viewStateShareKey={TRIALS_VIEW}"
        "&workflowType=machine_learning"
    )

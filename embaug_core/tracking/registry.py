"""MLflow's model registry: every method's model as a version of one registered model,
aliased by method, and the champion's alias."""

from __future__ import annotations

import mlflow
import pandas as pd

from embaug_core.tracking import TAG_METHOD, TAG_MODEL_URI, TAG_TRIAL, use_tracking_store

MODEL_NAME = "embaug-classifier"
#: Aliases: the trial model of the report's champion (evidence), and the model that is served.
CHAMPION, PRODUCTION = "champion", "production"
#: A version's role: "evidence" (a trial's model) or "production".
TAG_ROLE = "embaug.role"


def _client(tracking_uri: str) -> mlflow.MlflowClient:
    use_tracking_store(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    if not client.search_registered_models(f"name = '{MODEL_NAME}'"):
        client.create_registered_model(MODEL_NAME)
    return client


def register_methods(results: pd.DataFrame, tracking_uri: str, champion) -> pd.DataFrame:
    """Register each method's model (the run of its first trial) as a version of one
    registered model, aliased by method name, and give the champion's (a `ChampionChoice`)
    the `champion` alias and a description of why it won. A run already registered is not
    registered again."""
    client = _client(tracking_uri)
    firsts = results.sort_values("trial").drop_duplicates("method")[["method", "trial", "run_id"]]
    rows = []
    for method, trial, run_id in firsts.itertuples(index=False):
        found = client.search_model_versions(f"name = '{MODEL_NAME}' and run_id = '{run_id}'")
        if found:
            version = found[0].version
        else:
            run = client.get_run(run_id)
            version = client.create_model_version(
                MODEL_NAME,
                run.data.tags[TAG_MODEL_URI],
                run_id,
                tags={TAG_METHOD: method, TAG_TRIAL: trial, TAG_ROLE: "evidence"},
                description=f"{method} trained on {trial}'s split: evidence for the comparison, "
                "not the served model (alias production)",
            ).version
        client.set_registered_model_alias(MODEL_NAME, method, version)
        rows.append({"method": method, "trial": trial, "run_id": run_id, "version": int(version)})
    registered = pd.DataFrame(rows)
    version = str(registered.loc[registered["method"] == champion.method, "version"].iloc[0])
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    client.update_model_version(
        MODEL_NAME,
        version,
        description=f"Champion of the comparison over {results['trial'].nunique()} trials: "
        f"{champion.rule}. This is one trial's model (evidence); the served model has the "
        "alias production.",
    )
    return registered


def version_by_alias(tracking_uri: str, alias: str = CHAMPION):
    """The registered model version that holds `alias`."""
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    return client.get_model_version_by_alias(MODEL_NAME, alias)


def register_production(
    tracking_uri: str, run_id: str, model_uri: str, tags: dict[str, str], description: str
) -> int:
    """Register the production model's run as a new version under the `production` alias
    (a run registered before keeps its version). Returns the version."""
    client = _client(tracking_uri)
    found = client.search_model_versions(f"name = '{MODEL_NAME}' and run_id = '{run_id}'")
    if found:
        version = found[0].version
    else:
        version = client.create_model_version(
            MODEL_NAME,
            model_uri,
            run_id,
            tags={**tags, TAG_ROLE: PRODUCTION},
            description=description,
        ).version
    client.set_registered_model_alias(MODEL_NAME, PRODUCTION, str(version))
    return int(version)


def load_product_model(tracking_uri: str, alias: str = PRODUCTION):
    """The registered product-level model under `alias`, as a `ProductClassifier`, with its
    version."""
    use_tracking_store(tracking_uri)
    version = version_by_alias(tracking_uri, alias)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{alias}")
    return model.unwrap_python_model().product, version

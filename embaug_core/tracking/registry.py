"""MLflow's model registry: the served model (`embaug-classifier`, alias `production`) holds
only production versions; the trial models that are the comparison's evidence are versions of
another registered model (`embaug-evidence`), aliased by method, the champion's `champion`."""

from __future__ import annotations

import mlflow
import pandas as pd

from embaug_core.tracking import TAG_METHOD, TAG_MODEL_URI, TAG_TRIAL, use_tracking_store

MODEL_NAME = "embaug-classifier"
#: The trial models behind the report: one version per method (its first trial's run).
EVIDENCE_MODEL = "embaug-evidence"
#: Aliases: the trial model of the report's champion (evidence), and the model that is served.
CHAMPION, PRODUCTION = "champion", "production"
#: A version's role: "evidence" (a trial's model) or "production".
TAG_ROLE = "embaug.role"


DESCRIPTIONS = {
    MODEL_NAME: "The served model: the report's champion trained on every label (alias "
    "production). Only production versions; the trials' models are embaug-evidence.",
    EVIDENCE_MODEL: "The comparison's evidence: one trial model per method (aliased by method, "
    "the report's champion as champion). Never served; see embaug-classifier@production.",
}


def _client(tracking_uri: str, name: str = MODEL_NAME) -> mlflow.MlflowClient:
    use_tracking_store(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name, description=DESCRIPTIONS[name])
    return client


def register_methods(results: pd.DataFrame, tracking_uri: str, champion) -> pd.DataFrame:
    """Register each method's model (the run of its first trial) as a version of the evidence
    model, aliased by method name, and give the champion's (a `ChampionChoice`) the `champion`
    alias and a description of why it won. A run already registered is not registered again."""
    client = _client(tracking_uri, EVIDENCE_MODEL)
    firsts = results.sort_values("trial").drop_duplicates("method")[["method", "trial", "run_id"]]
    rows = []
    for method, trial, run_id in firsts.itertuples(index=False):
        found = client.search_model_versions(f"name = '{EVIDENCE_MODEL}' and run_id = '{run_id}'")
        if found:
            version = found[0].version
        else:
            run = client.get_run(run_id)
            version = client.create_model_version(
                EVIDENCE_MODEL,
                run.data.tags[TAG_MODEL_URI],
                run_id,
                tags={TAG_METHOD: method, TAG_TRIAL: trial, TAG_ROLE: "evidence"},
                description=f"{method} trained on {trial}'s split: evidence for the comparison, "
                f"not the served model ({MODEL_NAME}@production)",
            ).version
        client.set_registered_model_alias(EVIDENCE_MODEL, method, version)
        rows.append({"method": method, "trial": trial, "run_id": run_id, "version": int(version)})
    registered = pd.DataFrame(rows)
    version = str(registered.loc[registered["method"] == champion.method, "version"].iloc[0])
    client.set_registered_model_alias(EVIDENCE_MODEL, CHAMPION, version)
    client.update_model_version(
        EVIDENCE_MODEL,
        version,
        description=f"Champion of the comparison over {results['trial'].nunique()} trials: "
        f"{champion.rule}. This is one trial's model (evidence); the served model is "
        f"{MODEL_NAME}@production.",
    )
    return registered


def version_by_alias(tracking_uri: str, alias: str = PRODUCTION, name: str = MODEL_NAME):
    """The registered model version that holds `alias` (the served model's, by default)."""
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    return client.get_model_version_by_alias(name, alias)


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

"""The jobs the command line runs, by name, so that the Dagster run list says what each run
did (`train_model`, not `__ephemeral_asset_job__`): one job per stage of `embaug demo` and
`embaug retrain`, the alpha grid, and people's labels to the served model.
`embaug_pipeline.definitions.materialize` runs the job whose assets are its selection."""

from __future__ import annotations

import dagster as dg

#: A job per selection the command line runs: its assets and what it is for.
STAGE_JOBS = {
    "load_catalogue": (
        ("raw_products", "text_embeddings", "image_embeddings", "human_labels"),
        "Load the catalogue, embed what is new, import the label files in the inbox",
    ),
    "split_trial": (
        ("trial_splits", "label_sets"),
        "One trial's split and its label sets (grown and propagated)",
    ),
    "train_model": (("trained_models",), "One method trained on one trial's split"),
    "report_and_serve": (
        ("evaluation_report", "production_model", "predictions", "labeling_queue"),
        "The comparison and its champion, then the production model, predictions and queue",
    ),
    "labels_to_production": (
        ("human_labels", "production_model", "predictions", "labeling_queue"),
        "People's labels imported, then the production model trained on every label first, "
        "its predictions and queue; the trials' evidence follows",
    ),
    "alpha_grid": (("alpha_search",), "The paper's alpha grid on one trial's split"),
}

stage_jobs = [
    dg.define_asset_job(name, selection=dg.AssetSelection.assets(*assets), description=doc)
    for name, (assets, doc) in STAGE_JOBS.items()
]
labels_to_production = next(job for job in stage_jobs if job.name == "labels_to_production")

"""human_labels: labels people gave, imported from files (the labeling queue filled in), with
their provenance; the next retraining trains on them."""

import dagster as dg
from pydantic import Field

from embaug_core.common.home import Home
from embaug_core.labels.people import MIN_CLASS_PRODUCTS, import_label_file
from embaug_pipeline.conditions import retrain
from embaug_pipeline.defs.catalog.raw_products import raw_products
from embaug_pipeline.resources import DUCKDB_POOL, StoreResource

MIN_CLASS = (
    int,
    Field(
        MIN_CLASS_PRODUCTS, description="Products a class people introduce needs to be trained on"
    ),
)


class HumanLabelsConfig(dg.Config):
    files: list[str] = Field(
        default_factory=list,
        description="Label CSVs to import (product_id or id, category); empty: every new file "
        "in the labels inbox (EMBAUG_LABELS_INBOX)",
    )


@dg.asset(
    group_name="labels",
    deps=[raw_products],
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
    # After a catalogue change, the inbox is looked at again (files already imported are kept
    # as they are), so that every input of the trials is fresh before they retrain.
    automation_condition=retrain(),
)
def human_labels(
    context: dg.AssetExecutionContext, config: HumanLabelsConfig, store: StoreResource
) -> dg.MaterializeResult:
    """Labels people gave, imported with their provenance (file hash, time); a file imported
    before changes nothing. The next retraining trains on them (docs/METHODS.md section 7)."""
    db, inbox = store.get(), Home.from_env().create().labels_inbox
    paths = config.files or sorted(str(p) for p in inbox.glob("*.csv"))
    records, rejected = [], []
    for path in paths:
        read, record = import_label_file(db, path)
        records.append(record)
        rejected.extend(
            f"{read.path.name} line {r['line']}: {r['reason']}"
            for r in read.rejected.to_dict("records")
        )
        context.log.info(
            f"{read.path.name}: {record['labels']} labels, {record['rejected']} rejected"
        )
    imported = db.human_labels()
    return dg.MaterializeResult(
        metadata={
            "files": len(paths),
            "new_files": sum(bool(r["new"]) for r in records),
            "labels_this_run": sum(int(r["labels"]) for r in records if r["new"]),
            "labels_in_store": len(imported),
            "products_labelled_by_people": int(imported["product_id"].nunique()),
            "conflicts_with_catalogue": sum(int(r["conflicts"]) for r in records if r["new"]),
            "rejected_rows": dg.MetadataValue.md(
                "\n".join(f"- {r}" for r in rejected[:30]) or "none"
            ),
        }
    )

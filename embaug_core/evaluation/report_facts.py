"""What a report was run on, read from the store: the catalogue and what was rejected, each
trial's held-out classes and training products, the predictions, and people's labels."""

from __future__ import annotations

import pandas as pd

from embaug_core.store import Store
from embaug_core.store.schema import IMPORT_COLUMNS


def catalogue_facts(store: Store) -> dict[str, object]:
    """Path, fingerprints, counts, and rejected rows by reason."""
    catalogue = store.catalogue()
    rejected = store.query("SELECT reason FROM rejected_products")
    kinds = rejected["reason"].str.split(":").str[0].value_counts()
    products = store.products()
    return {
        "path": catalogue["path"],
        "layout": catalogue["layout"],
        "features": ", ".join(catalogue["features"]),
        "label column": catalogue["label_column"],
        "content hash": str(catalogue["source_sha256"])[:16],
        "products": int(catalogue["products"]),
        "labelled": int(catalogue["labelled"]),
        "unlabelled": int(catalogue["products"]) - int(catalogue["labelled"]),
        "classes": int(products["category"].nunique()),
        "rejected": int(catalogue["rejected"]),
        "rejected by reason": ", ".join(f"{n} {k}" for k, n in kinds.items()) or "none",
    }


def trial_facts(store: Store, trials: list[str]) -> pd.DataFrame:
    """Per trial: held-out classes, products in each role, and the known classes with the
    fewest training products (a class with none would be named, not silently "none")."""
    rows = []
    for trial in trials:
        split = store.split(trial)
        train = split.loc[split["role"] == "train", "category"].value_counts()
        fewest = ", ".join(f"{c} ({n})" for c, n in train.sort_values().head(3).items())
        held = sorted(split.loc[~split["known"], "category"].unique())
        rows.append(
            {
                "trial": trial,
                "held-out classes": ", ".join(held) or "none",
                "train": int((split["role"] == "train").sum()),
                "pool": int((split["role"] == "pool").sum()),
                "selection S": int((split["role"] == "select").sum()),
                "evaluated (H without S)": int((split["role"] == "holdout").sum()),
                "fewest training products": fewest,
            }
        )
    return pd.DataFrame(rows)


def prediction_facts(store: Store) -> pd.DataFrame:
    """Predicted products per category ("none" last), with the model version."""
    table = store.query(
        "SELECT coalesce(p.category, '— none —') AS predicted, model_version, "
        "count(*) AS products, "
        "round(avg(probability), 3) AS mean_probability FROM predictions p "
        "GROUP BY p.category, model_version ORDER BY p.category IS NULL, products DESC"
    )
    return table


def label_loop_facts(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every import of people's labels (with the production model's accuracy on them, measured
    before it trained on them), and the classes that gained labels."""
    imports = store.label_imports()
    shown = imports[[c for c in IMPORT_COLUMNS if c not in ("file_sha256", "scored")]]
    gained = store.query(
        "SELECT h.category, count(DISTINCT h.product_id) AS labelled_by_people, "
        "count(DISTINCT h.product_id) FILTER (WHERE p.category IS NULL) AS new_to_the_class, "
        "bool_and(h.category NOT IN (SELECT DISTINCT category FROM products "
        "WHERE category IS NOT NULL)) AS new_class "
        "FROM human_labels h JOIN products p USING (product_id) GROUP BY h.category "
        "ORDER BY labelled_by_people DESC"
    )
    return shown, gained


#: Classes the drift figure shows (the largest shares), "none" always beside them.
DRIFT_CLASSES = 15


def drift_facts(store: Store) -> pd.DataFrame:
    """Each class's share among the labelled catalogue beside its share among the products
    the production model categorised, and "none": how far what arrives drifts from what the
    model knows (largest shares first)."""
    labelled = store.query(
        "SELECT category, count(*) AS n FROM products WHERE category IS NOT NULL GROUP BY 1"
    ).set_index("category")["n"]
    predicted = store.query(
        "SELECT coalesce(category, 'none') AS category, count(*) AS n FROM predictions GROUP BY 1"
    ).set_index("category")["n"]
    if predicted.empty:
        return pd.DataFrame(columns=["class", "labelled", "predicted"])
    table = pd.DataFrame(
        {"labelled": labelled / max(labelled.sum(), 1), "predicted": predicted / predicted.sum()}
    ).fillna(0.0)
    top = table.drop(index="none", errors="ignore").max(axis=1).nlargest(DRIFT_CLASSES).index
    shown = table.loc[[*top, *(["none"] if "none" in table.index else [])]]
    return shown.rename_axis("class").reset_index()

"""`embaug predict PATH`: the production model on a file of new products (the plain CSV
layout, a Kaggle folder or Parquet), predictions as CSV to a file or stdout. Rows that cannot
be used keep their place with the reason in `error`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from embaug_pipeline.cli.common import EXIT_FAILED, EXIT_USAGE

BATCH = 256


def _predict(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from embaug_core.catalog import CatalogError, CatalogSettings, load_catalog
    from embaug_core.common.spreadsheet import write_csv
    from embaug_core.serving.product import batches
    from embaug_core.tracking.registry import load_product_model
    from embaug_pipeline.resources import MlflowResource
    from embaug_pipeline.run.runner import prepare_home

    prepare_home()
    try:
        product, version = load_product_model(MlflowResource().uri(), args.alias)
    except Exception as error:  # no registry, no alias: say what to run
        print(
            f"embaug: no model under the alias {args.alias!r} ({error}); run `embaug demo`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    limits = product.limits
    settings = CatalogSettings(
        image_roots=tuple(args.image_root),  # none given: the file's own folder
        max_image_bytes=limits.max_image_bytes,
        max_image_pixels=limits.max_image_pixels,
        max_aspect_ratio=limits.max_aspect_ratio,
    )
    try:
        catalog = load_catalog(args.path, settings, labels=False)
    except CatalogError as error:
        print(f"embaug: {error}", file=sys.stderr)
        return EXIT_FAILED
    missing = [f for f in product.spec.features if f == "image" and f not in catalog.features]
    if missing:
        print(f"embaug: the model reads images; {args.path} has none", file=sys.stderr)
        return EXIT_FAILED
    frame = catalog.products.assign(image=catalog.products["image_sha256"].map(catalog.images))
    parts = [
        product.predict(chunk)
        for chunk in tqdm(
            batches(frame, BATCH),
            total=-(-len(frame) // BATCH),
            unit="batch",
            desc="predict",
            disable=not sys.stderr.isatty(),
        )
    ]
    table = in_file_order(parts, frame, catalog.rejected).assign(model_version=version.version)
    unusable = int(table["error"].notna().sum())
    if args.output:
        write_csv(table, args.output)
        print(
            f"{len(table) - unusable} products predicted, {unusable} with an error (its "
            f"reason in the error column): {args.output}",
            file=sys.stderr,
        )
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def in_file_order(
    parts: list[pd.DataFrame], products: pd.DataFrame, rejected: pd.DataFrame
) -> pd.DataFrame:
    """The answers and the rejected rows together, each row in its place in the file (a
    rejected row answers with its reason in `error`), in the served model's columns."""
    from embaug_core.serving.product import OUTPUT_COLUMNS

    answered = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    answered = answered.assign(line=products["source"].str.rsplit(":", n=1).str[1].astype(int))
    refused = rejected.rename(columns={"reason": "error"})[["product_id", "error", "line"]]
    table = pd.concat([answered, refused], ignore_index=True).sort_values("line", kind="stable")
    return table.reindex(columns=OUTPUT_COLUMNS).reset_index(drop=True)


def add_commands(commands) -> None:
    predict = commands.add_parser(
        "predict", help="categorise a file of new products with the production model"
    )
    predict.add_argument("path", help="products: a plain CSV, a Kaggle folder or a .parquet")
    predict.add_argument("-o", "--output", type=Path, help="CSV file to write (default: stdout)")
    predict.add_argument("--alias", default="production", help="registered model alias")
    predict.add_argument(
        "--image-root",
        action="append",
        default=[],
        help="a folder image paths may point into, links followed (repeatable; default: the "
        "file's own folder)",
    )
    predict.set_defaults(handler=_predict)

"""Which catalogue `embaug demo` reads, and how much of it: its own demo catalogue (none
named) is sampled, with a slice of products arriving unlabelled; a catalogue a person names is
read whole unless a sample is asked for."""

from __future__ import annotations

import argparse

from embaug_core.catalog.settings import DEMO_SAMPLE_FRACTION, DEMO_UNLABELLED_FRACTION


def add_catalogue_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--data", default="", help="catalogue folder or file (default: $EMBAUG_DATA, ../shared)"
    )
    demo.add_argument(
        "--sample-fraction",
        type=float,
        default=None,
        help=f"stratified share of products (default: {DEMO_SAMPLE_FRACTION:g} of the demo "
        "catalogue, all of a catalogue named with --data)",
    )
    demo.add_argument(
        "--unlabelled-fraction",
        type=float,
        default=None,
        help="share of the catalogue, outside the sample, loaded with labels withheld: "
        f"products to predict and queue (default: {DEMO_UNLABELLED_FRACTION:g} for the demo "
        "catalogue's sample, else 0)",
    )
    demo.add_argument(
        "--label-column",
        default="",
        help="column holding the class (default: articleType for Kaggle and Parquet, "
        "category for a plain CSV)",
    )
    demo.add_argument(
        "--features",
        default="",
        help="comma-separated subset of title,description,image to embed (default: every one "
        "the catalogue has)",
    )
    demo.add_argument(
        "--image-root",
        action="append",
        default=[],
        help="a folder image files may live in, links followed (repeatable; default: the "
        "catalogue's folder)",
    )


def how_much(args: argparse.Namespace) -> tuple[float, float]:
    """The sample fraction and the withheld share the demo loads."""
    own = not args.data  # the demo's own catalogue, found by itself
    sample = 1.0 if args.full else args.sample_fraction
    if sample is None:
        sample = DEMO_SAMPLE_FRACTION if own else 1.0
    withheld = args.unlabelled_fraction
    if withheld is None:
        withheld = DEMO_UNLABELLED_FRACTION if own and sample < 1 else 0.0
    return sample, min(withheld, 1 - sample)


def catalogue_config(args: argparse.Namespace) -> dict[str, object]:
    """raw_products config beyond the path and the sample."""
    _, withheld = how_much(args)
    catalogue = {"label_column": args.label_column, "image_roots": args.image_root}
    if args.features:
        catalogue["features"] = args.features.split(",")
    if withheld:
        catalogue["unlabelled_fraction"] = withheld
    return catalogue

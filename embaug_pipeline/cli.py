"""The `embaug` command: run the demo graph, open the UIs, print the comparison.

Exit status: 0 done; 1 a step failed (its cause printed in a line or two, the whole error with
--verbose); 2 no catalogue or bad arguments; 3 the graph ran but the champion is under the
weighted-AUC floor, so the labeling queue was not rebuilt.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from embaug_core.home import Home
from embaug_core.methods import ALPHA_GRID
from embaug_core.splits import trial_names

EXIT_FAILED, EXIT_USAGE, EXIT_BELOW_FLOOR = 1, 2, 3

WORKSPACE = Path(__file__).resolve().parent.parent / "workspace.yaml"


def _demo(args: argparse.Namespace) -> int:
    from embaug_core.catalog import CatalogError, locate_catalog
    from embaug_core.comparison import comparison_table
    from embaug_pipeline.runner import GraphFailure, GraphOptions, materialize_graph

    try:
        data = str(locate_catalog(args.data))
    except CatalogError as error:
        print(f"embaug: {error}", file=sys.stderr)
        return EXIT_USAGE
    catalogue = {"label_column": args.label_column, "image_roots": args.image_root}
    if args.features:
        catalogue["features"] = args.features.split(",")
    report = {} if args.auc_floor is None else {"champion_auc_floor": args.auc_floor}
    options = GraphOptions(
        data=data,
        sample_fraction=1.0 if args.full else args.sample_fraction,
        catalogue=catalogue,
        report=report,
        trials=args.trials,
        methods=_methods(args.methods),
        epochs=576 if args.paper else args.epochs,
    )
    started = time.perf_counter()
    try:
        outcome = materialize_graph(options)
    except GraphFailure as failure:
        print(f"embaug: {failure}", file=sys.stderr)
        print(
            failure.detail if args.verbose else "(--verbose shows the whole error)", file=sys.stderr
        )
        return EXIT_FAILED
    home = Home.from_env()
    print(
        f"\nembaug demo on {data} (sample {options.sample_fraction:g}, {options.epochs} epochs, "
        f"{options.trials} trials) in {time.perf_counter() - started:.0f} s\n"
    )
    print("\n".join(outcome.embedding_lines()) + "\n")
    print(
        "Mean ± maximum deviation over trials, on each trial's validation hold-out "
        "(accuracies at each run's threshold):\n"
    )
    print(comparison_table(outcome.results).to_markdown())
    print(f"\nHTML report: {home.reports / 'report.html'}")
    if outcome.champion_below_floor:
        check = outcome.champion_check
        print(
            f"\nThe champion {check.get('champion')} has a mean weighted AUC of "
            f"{check.get('mean_weighted_auc', float('nan')):.3f}, under the floor "
            f"{check.get('floor')}: the labeling queue was not rebuilt (more labels or trials "
            "usually help; the floor is evaluation_report's champion_auc_floor).",
            file=sys.stderr,
        )
        return EXIT_BELOW_FLOOR
    print(
        f"Look at it:  embaug ui   (Dagster on http://127.0.0.1:3000, MLflow on "
        f"http://127.0.0.1:5000), or by hand:\n"
        f"  DAGSTER_HOME={home.dagster_home} dagster dev -w {WORKSPACE}\n"
        f"  mlflow ui --backend-store-uri {home.mlflow_uri} "
        f"--default-artifact-root {home.mlflow_artifacts.as_uri()}"
    )
    return 0


def _methods(names: str) -> list[str]:
    from embaug_core.methods import method_names

    try:
        return method_names(None if names == "all" else names)
    except ValueError as error:
        raise SystemExit(f"embaug: {error}") from error


def _alpha_grid(args: argparse.Namespace) -> int:
    from embaug_core.comparison import comparison_table
    from embaug_pipeline.runner import materialize_alpha_search

    settings = {
        "alphas": [float(a) for a in args.alphas.split(",")],
        "methods": _methods(args.methods),
        "epochs": args.epochs,
    }
    runs = materialize_alpha_search(args.trials, settings)
    print("\nAlpha grid, mean ± maximum deviation over trials (method@alpha):\n")
    print(comparison_table(runs).to_markdown())
    return 0


def _ui(args: argparse.Namespace) -> int:
    from embaug_pipeline.runner import prepare_home

    home = prepare_home()
    bin_dir = Path(sys.executable).parent
    dagster = [
        str(shutil.which("dagster", path=str(bin_dir)) or "dagster"),
        "dev",
        "-w",
        str(WORKSPACE),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    mlflow = [
        str(shutil.which("mlflow", path=str(bin_dir)) or "mlflow"),
        "ui",
        "--host",
        args.host,
        "--port",
        str(args.mlflow_port),
        "--backend-store-uri",
        home.mlflow_uri,
        "--default-artifact-root",
        home.mlflow_artifacts.as_uri(),
    ]
    print(
        f"Dagster: http://{args.host}:{args.port}   MLflow: http://{args.host}:{args.mlflow_port}"
        "   (Ctrl-C stops both)"
    )
    processes = [subprocess.Popen(mlflow), subprocess.Popen(dagster, env=os.environ.copy())]
    try:
        return processes[1].wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            process.terminate()


def _report(args: argparse.Namespace) -> int:
    from embaug_core.comparison import comparison_table
    from embaug_core.store import Store

    store = Store(Home.from_env().duckdb_path)
    results = store.query("SELECT * FROM results") if store.path.exists() else None
    if results is None or results.empty:
        print(f"embaug: no results in {store.path} yet; run `embaug demo` first", file=sys.stderr)
        return 1
    print(comparison_table(results).to_markdown())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="embaug", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="materialise the whole asset graph and print the comparison"
    )
    demo.add_argument(
        "--data", default="", help="catalogue folder or file (default: $EMBAUG_DATA, ../shared)"
    )
    demo.add_argument(
        "--sample-fraction", type=float, default=0.1, help="stratified share of products"
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
    demo.add_argument(
        "--auc-floor",
        type=float,
        default=None,
        help="the champion's mean weighted AUC under which the labeling queue is not rebuilt "
        "(default 0.9; exit status 3 when under it)",
    )
    demo.add_argument("--verbose", action="store_true", help="show whole errors with their stack")
    demo.add_argument("--full", action="store_true", help="the whole catalogue (sample fraction 1)")
    demo.add_argument("--paper", action="store_true", help="the paper's 576 epochs")
    demo.add_argument("--epochs", type=int, default=48)
    trials = len(trial_names())
    demo.add_argument("--trials", type=int, default=trials, choices=range(1, trials + 1))
    demo.add_argument("--methods", default="all", help="comma-separated method names, or all")
    demo.set_defaults(handler=_demo)
    grid = commands.add_parser(
        "alpha-grid", help="the paper's alpha grid search on the stored splits (after demo)"
    )
    grid.add_argument("--alphas", default=",".join(map(str, ALPHA_GRID)))
    grid.add_argument("--methods", default="e_mixup,e_stitchup,soft_e_mixup,soft_e_stitchup")
    grid.add_argument("--epochs", type=int, default=48)
    grid.add_argument("--trials", type=int, default=trials, choices=range(1, trials + 1))
    grid.set_defaults(handler=_alpha_grid)
    ui = commands.add_parser(
        "ui",
        help="Dagster and MLflow UIs on the state under EMBAUG_HOME (loopback 127.0.0.1 only, "
        "unless --host says otherwise)",
    )
    ui.add_argument(
        "--host", default="127.0.0.1", help="address both servers bind (default: 127.0.0.1)"
    )
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--mlflow-port", type=int, default=5000)
    ui.set_defaults(handler=_ui)
    report = commands.add_parser("report", help="print the last comparison table")
    report.set_defaults(handler=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "verbose", False):
        os.environ["EMBAUG_DAGSTER_LOG"] = "INFO"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # faiss says at INFO that its optional AVX2 build is absent, with an alarming traceback.
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

"""`embaug serve`: the production model over HTTP, with MLflow's own server
(`mlflow models serve`), on loopback unless told otherwise. POST products to /invocations as
`{"dataframe_records": [{"title": ..., "description": ..., "image": "<base64>"}]}`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def serve_command(alias: str, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The `mlflow models serve` command and its environment (tracking store under
    EMBAUG_HOME; this virtualenv's scripts on PATH, since MLflow starts uvicorn by name)."""
    from embaug_core.tracking.registry import MODEL_NAME
    from embaug_pipeline.resources import MlflowResource

    scripts = Path(sys.executable).parent
    command = [
        str(scripts / "mlflow"),
        "models",
        "serve",
        "-m",
        f"models:/{MODEL_NAME}@{alias}",
        "--env-manager",
        "local",
        "-h",
        host,
        "-p",
        str(port),
    ]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": MlflowResource().uri(),
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return command, env


def _serve(args: argparse.Namespace) -> int:
    from embaug_pipeline.run.runner import prepare_home

    prepare_home()
    command, env = serve_command(args.alias, args.host, args.port)
    print(
        f"Serving models:/embaug-classifier@{args.alias} on http://{args.host}:{args.port}/invocations",
        flush=True,
    )
    return subprocess.call(command, env=env)


def add_commands(commands) -> None:
    serve = commands.add_parser(
        "serve", help="answer HTTP requests with the production model (mlflow models serve)"
    )
    serve.add_argument("--alias", default="production", help="registered model alias")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    serve.add_argument("--port", type=int, default=5001)
    serve.set_defaults(handler=_serve)

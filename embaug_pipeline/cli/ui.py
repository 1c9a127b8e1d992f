"""`embaug ui`: Dagster (webserver and daemon) and MLflow on the state under EMBAUG_HOME.

Both run in process groups of their own, so that stopping `embaug ui` (Ctrl-C, or SIGTERM
from a service manager) stops them and every process they started: the daemon, code servers,
MLflow's workers."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
STOP_SECONDS = 30


def _tool(name: str) -> str:
    return str(shutil.which(name, path=str(Path(sys.executable).parent)) or name)


def _commands(args: argparse.Namespace) -> list[list[str]]:
    from embaug_pipeline.run.runner import prepare_home

    home = prepare_home()
    dagster = [_tool("dagster"), "dev", "-w", str(WORKSPACE), "-h", args.host, "-p", str(args.port)]
    mlflow = [
        _tool("mlflow"),
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
    return [mlflow, dagster]


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGINT to each group (dagster dev shuts its children down on it), then SIGKILL to what
    is left after STOP_SECONDS."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group, if any


def _ui(args: argparse.Namespace) -> int:
    commands = _commands(args)
    print(
        f"Dagster: http://{args.host}:{args.port}   MLflow: http://{args.host}:{args.mlflow_port}"
        "   (Ctrl-C stops both)",
        flush=True,
    )

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    processes = [
        subprocess.Popen(command, env=os.environ.copy(), start_new_session=True)
        for command in commands
    ]
    try:
        return processes[1].wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(processes)


def add_commands(commands) -> None:
    ui = commands.add_parser(
        "ui",
        help="Dagster and MLflow UIs on the state under EMBAUG_HOME (loopback 127.0.0.1 only, "
        "unless --host says otherwise); Ctrl-C or SIGTERM stops everything it started",
    )
    ui.add_argument(
        "--host", default="127.0.0.1", help="address both servers bind (default: 127.0.0.1)"
    )
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--mlflow-port", type=int, default=5000)
    ui.set_defaults(handler=_ui)

"""`embaug ui`: Dagster (webserver and daemon) and MLflow on the state under EMBAUG_HOME.

Both run in process groups of their own, so that stopping `embaug ui` (Ctrl-C, or SIGTERM
from a service manager) stops them and every process they started: the daemon, code servers,
MLflow's worker. Their own output goes to log files under EMBAUG_HOME/logs, so the console
holds embaug's lines only; the URLs are printed once both answer.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
STOP_SECONDS = 30
#: How long the two may take to answer on busy cores before `embaug ui` gives up.
READY_SECONDS = 900


def _tool(name: str) -> str:
    return str(shutil.which(name, path=str(Path(sys.executable).parent)) or name)


def _commands(args: argparse.Namespace, home) -> dict[str, list[str]]:
    dagster = [_tool("dagster"), "dev", "-w", str(WORKSPACE), "-h", args.host, "-p", str(args.port)]
    mlflow = [
        _tool("mlflow"),
        "ui",
        "--host",
        args.host,
        "--port",
        str(args.mlflow_port),
        "--workers",
        "1",  # one worker: several crash-looped on 2 busy cores, and one person looks
        "--backend-store-uri",
        home.mlflow_uri,
        "--default-artifact-root",
        home.mlflow_artifacts.as_uri(),
    ]
    return {"mlflow": mlflow, "dagster": dagster}


def _environment(args: argparse.Namespace) -> dict[str, str]:
    """The tools' environment: automation on only when asked for, no Python warnings, no
    MLflow job runner (its GenAI jobs: a dozen idle processes here)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env["EMBAUG_AUTOMATION"] = "on" if args.automation else "off"
    return env


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


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


def _wait_until_ready(
    processes: dict[str, subprocess.Popen], urls: dict[str, str], logs: Path
) -> str | None:
    """None once every URL answers; else why not (a tool that exited, with its log)."""
    deadline = time.monotonic() + READY_SECONDS
    waiting = dict(urls)
    while waiting:
        for name, process in processes.items():
            if process.poll() is not None:
                tail = (logs / f"{name}.log").read_text(errors="replace")[-2000:]
                return f"{name} exited with status {process.returncode}; its log ends:\n{tail}"
        waiting = {name: url for name, url in waiting.items() if not _answers(url)}
        if time.monotonic() > deadline:
            return f"{', '.join(waiting)} did not answer in {READY_SECONDS} s (logs: {logs})"
        time.sleep(1)
    return None


def _ui(args: argparse.Namespace) -> int:
    from embaug_pipeline.resources import MlflowResource
    from embaug_pipeline.run.runner import prepare_home

    home = prepare_home()
    logs = home.root / "logs"
    logs.mkdir(exist_ok=True)
    dagster_url = f"http://{args.host}:{args.port}"
    mlflow_url = f"http://{args.host}:{args.mlflow_port}"
    print(f"Starting Dagster and MLflow (their logs: {logs}) ...", flush=True)

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    processes = {
        name: subprocess.Popen(
            command,
            env=_environment(args),
            stdin=subprocess.DEVNULL,
            stdout=(logs / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for name, command in _commands(args, home).items()
    }
    try:
        urls = {"dagster": f"{dagster_url}/server_info", "mlflow": f"{mlflow_url}/health"}
        problem = _wait_until_ready(processes, urls, logs)
        if problem:
            print(f"embaug: {problem}", file=sys.stderr)
            return 1
        automation = "on" if args.automation else "off (`embaug ui --automation` turns it on)"
        print(
            f"Dagster: {dagster_url}/runs   automation {automation}\n"
            f"MLflow:  {MlflowResource(ui_url=mlflow_url).experiment_url()}\n"
            "(Ctrl-C stops both)",
            flush=True,
        )
        return processes["dagster"].wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(list(processes.values()))


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
    ui.add_argument(
        "--automation",
        action="store_true",
        help="start the weekly schedule and the sensors (catalogue, labels inbox, retraining) "
        "on; without it they are off until turned on in the Dagster UI",
    )
    ui.set_defaults(handler=_ui)

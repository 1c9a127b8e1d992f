"""`embaug ui`: ready when it says so, quiet, and it stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embaug_pipeline.cli.ui import _answers
from tests.end_to_end.servers import free_port

#: Starts `embaug ui` (the Dagster and MLflow servers) as a process.
pytestmark = pytest.mark.slow


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_ui_says_ready_when_both_answer_and_sigterm_stops_everything(tmp_path: Path):
    """The URLs are printed once Dagster and MLflow both answer (they were printed at once,
    minutes before), with one MLflow worker and no tool warnings in the console; SIGTERM
    stops every process either started."""
    dagster_port, mlflow_port = free_port(), free_port()
    env = {**os.environ, "EMBAUG_HOME": str(tmp_path / "home")}
    command = [str(Path(sys.executable).parent / "embaug"), "ui", "--port", str(dagster_port)]
    ui = subprocess.Popen(
        [*command, "--mlflow-port", str(mlflow_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        urls = (
            f"http://127.0.0.1:{dagster_port}/server_info",
            f"http://127.0.0.1:{mlflow_port}/health",
        )
        lines = []
        while not lines or not lines[-1].startswith("MLflow:"):
            line = ui.stdout.readline()
            assert line, f"embaug ui exited early: {ui.stderr.read()[-2000:]}"
            lines.append(line)
        assert all(_answers(url) for url in urls)  # answering when it says so
        assert "/runs?viewStateShareKey=trials&workflowType=machine_learning" in lines[-1]
        started = _descendants(ui.pid)
        assert len(started) >= 3  # dagster dev, its webserver and daemon, mlflow
        servers = [_command_line(pid) for pid in started]
        assert sum("uvicorn" in line for line in servers) == 1  # one MLflow worker
        assert not [line for line in servers if "huey" in line]  # no GenAI job runner
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=120) == 0
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(1)
        assert not [pid for pid in started if _alive(pid)]
        assert not any(_answers(url) for url in urls)
        console = "".join(lines) + ui.stdout.read() + ui.stderr.read()
        assert "Warning" not in console and "WARNING" not in console, console
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)

"""`embaug ui` stops everything it started, whether stopped with Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

#: Starts `embaug ui` (the Dagster and MLflow servers) as a process.
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


def test_sigterm_stops_dagster_mlflow_and_everything_they_started(tmp_path: Path):
    dagster_port, mlflow_port = _free_port(), _free_port()
    env = {**os.environ, "EMBAUG_HOME": str(tmp_path / "home")}
    command = [str(Path(sys.executable).parent / "embaug"), "ui", "--port", str(dagster_port)]
    ui = subprocess.Popen(
        [*command, "--mlflow-port", str(mlflow_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        urls = (
            f"http://127.0.0.1:{dagster_port}/server_info",
            f"http://127.0.0.1:{mlflow_port}/health",
        )
        while not all(_answers(url) for url in urls):
            assert time.monotonic() < deadline, "the UIs did not come up"
            assert ui.poll() is None, "embaug ui exited early"
            time.sleep(2)
        started = _descendants(ui.pid)
        assert len(started) >= 3  # dagster dev, its webserver and daemon, mlflow
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=120) == 0
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(1)
        assert not [pid for pid in started if _alive(pid)]
        assert not any(_answers(url) for url in urls)
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)

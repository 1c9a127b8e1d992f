"""Servers the team-mode tests start and stop themselves: a throwaway Postgres (the system's
binaries), a Dask scheduler with workers that each report a host name of their own, as on
separate machines, and `dagster dev`, each a separate process on loopback."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
#: Loaded first by every Python process of a worker: its host name is the one it was given.
HOST_NAME = """\
import os
import socket

if os.environ.get("EMBAUG_TEST_HOST_NAME"):
    socket.gethostname = lambda: os.environ["EMBAUG_TEST_HOST_NAME"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_binaries() -> Path | None:
    """Where initdb and pg_ctl are, or None (the team-mode tests then say why they skip)."""
    found = shutil.which("pg_ctl") or shutil.which("pg_ctl", path="/usr/lib/postgresql/15/bin")
    return Path(found).resolve().parent if found else None


@dataclass
class Postgres:
    """initdb in a temporary folder, pg_ctl on a free loopback port, trust authentication.
    Postgres refuses to run as root, so as root the server runs as the `postgres` user."""

    binaries: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="embaug-pg-")))
    port: int = field(default_factory=free_port)
    user: str = "embaug"
    run_as: str | None = None

    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/embaug"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.binaries / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            user=self.run_as,
        )

    def start(self) -> Postgres:
        if os.geteuid() == 0:
            self.run_as = "postgres"
            owner = pwd.getpwnam(self.run_as)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb", "-D", str(self.root / "data"), "-U", self.user, "--auth=trust", "--no-sync",
            "-E", "UTF8",
        )  # fmt: skip
        self.resume()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "embaug")
        return self

    def resume(self) -> None:
        """Start the server on its data (again)."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.root / "data"), "-o", options, "-l",
            str(self.root / "postgres.log"), "-w", "-t", "120", "start",
        )  # fmt: skip

    def pause(self) -> None:
        """Stop the server, keeping its data: the database goes away mid-run."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            self.pause()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class DaskCluster:
    """`dask scheduler` and `dask worker` processes (one thread each) in process groups of
    their own, so that stopping them stops everything they started."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="embaug-dask-")))

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _start(self, name: str, arguments: list[str], env: dict[str, str] | None = None) -> None:
        with (self.logs / f"{name}.log").open("w") as log:
            self.processes[name] = subprocess.Popen(
                [str(Path(sys.executable).with_name("dask")), *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env, **(env or {})},
                start_new_session=True,
            )

    @staticmethod
    def host_name(worker: str) -> str:
        """The host name a worker reports, as if it ran on a machine of its own."""
        return f"machine-of-{worker}"

    def start(self, workers: int, timeout: float = 180) -> DaskCluster:
        self._start(
            "scheduler",
            ["scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--dashboard-address", f"127.0.0.1:{free_port()}", "--no-show"],
        )  # fmt: skip
        for number in range(workers):
            self.add_worker(f"worker-{number}")
        self.wait_for(workers, timeout)
        return self

    def add_worker(self, name: str) -> None:
        (self.logs / "sitecustomize.py").write_text(HOST_NAME)
        path = os.pathsep.join(filter(None, [str(self.logs), os.environ.get("PYTHONPATH")]))
        self._start(
            name,
            ["worker", self.address, "--name", name, "--nthreads", "1", "--host", "127.0.0.1",
             "--no-dashboard", "--no-nanny", "--memory-limit", "0"],
            {"PYTHONPATH": path, "EMBAUG_TEST_HOST_NAME": self.host_name(name)},
        )  # fmt: skip

    def workers(self) -> dict[int, str]:
        """The live workers' process ids, and their names."""
        return {
            process.pid: name
            for name, process in self.processes.items()
            if name != "scheduler" and process.poll() is None
        }

    def wait_for(self, workers: int, timeout: float) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=timeout)

    def kill(self, name: str, group: bool = True) -> None:
        """SIGKILL a worker and what it started, or (group=False) the worker process alone."""
        kill = os.killpg if group else os.kill
        kill(self.processes[name].pid, signal.SIGKILL)
        self.processes[name].wait(30)

    def stop(self) -> None:
        for name in sorted(self.processes, key=lambda n: n == "scheduler"):
            if self.processes[name].poll() is None:
                os.killpg(self.processes[name].pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_for(what: str, probe: Callable[[], object], timeout: float, every: float = 2.0):
    """The first true value of `probe`, polled until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class DagsterDev:
    """`dagster dev` (webserver and daemon) on loopback with this process's settings, and a
    GraphQL client for it: what the Dagster UI sends."""

    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 300) -> DagsterDev:
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("dagster")), "dev", "-w", str(WORKSPACE),
                 "-h", "127.0.0.1", "-p", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(),
                start_new_session=True,
            )  # fmt: skip
        wait_for("the webserver to load the code location", self._ready, timeout)
        return self

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            payload = json.load(response)
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"dagster dev exited:\n{self.log.read_text()[-3000:]}")
        try:
            data = self.graphql(
                "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"
            )
        except OSError:
            return False
        return bool(data["repositoriesOrError"].get("nodes"))

    def run_status(self, run_id: str) -> str:
        data = self.graphql(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id}
        )
        return data["runOrError"]["status"]

    def stop(self) -> None:
        """SIGINT to its group (it stops its daemon and code server), SIGKILL after a minute."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

"""Servers the team-mode tests start and stop themselves: a throwaway Postgres (the system's
binaries) and a Dask scheduler with workers, each a separate process on loopback."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


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
        data, log = self.root / "data", self.root / "postgres.log"
        self._run(
            "initdb", "-D", str(data), "-U", self.user, "--auth=trust", "--no-sync", "-E", "UTF8"
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "120", "start"
        )
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "embaug")
        return self

    def stop(self) -> None:
        if (self.root / "data").exists():
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
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

    def _start(self, name: str, arguments: list[str]) -> None:
        with (self.logs / f"{name}.log").open("w") as log:
            self.processes[name] = subprocess.Popen(
                [str(Path(sys.executable).with_name("dask")), *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )

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
        self._start(
            name,
            ["worker", self.address, "--name", name, "--nthreads", "1", "--host", "127.0.0.1",
             "--no-dashboard", "--no-nanny", "--memory-limit", "0"],
        )  # fmt: skip

    def wait_for(self, workers: int, timeout: float) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=timeout)

    def kill(self, name: str) -> None:
        os.killpg(self.processes[name].pid, signal.SIGKILL)
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

"""How long the fast test tier takes: `make test-fast` (ruff, then `pytest --fast`), timed as
a developer runs it, with what it selected and left out and the machine's load around it.

    python -m benchmarks.test_tiers [--all]    # --all times `make test`'s pytest too
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from benchmarks.common import ROOT, main, target

#: The fast tier's target (issue 26): within 3 minutes on this machine.
FAST_TARGET_S = 180.0


def timed_command(command: list[str], env: dict[str, str] | None = None) -> dict[str, object]:
    """Wall seconds, exit code and pytest's closing counts of one command run from ROOT."""
    before = os.getloadavg()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    counts = dict(
        (name, int(number))
        for number, name in re.findall(
            r"(\d+) (passed|failed|skipped|deselected|error)", done.stdout
        )
    )
    return {
        "command": " ".join(command),
        "seconds": seconds,
        "exit_code": done.returncode,
        "counts": counts,
        "load_before": before,
        "load_after": os.getloadavg(),
        "tail": done.stdout.strip().splitlines()[-3:],
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    python = sys.executable
    ruff = timed_command([python, "-m", "ruff", "check", "."])
    fast = timed_command([python, "-m", "pytest", "--fast", "-q", "-p", "no:cacheprovider"])
    result: dict[str, object] = {
        "ruff": ruff,
        "fast": fast,
        "fast_tier_s": ruff["seconds"] + fast["seconds"],
    }
    if args.all:
        strict = {**os.environ, "EMBAUG_TESTS_STRICT": "1"}
        result["all"] = timed_command(
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], strict
        )
    result["targets"] = [
        target("make test-fast, seconds", result["fast_tier_s"], FAST_TARGET_S, at_least=False)
    ]
    return result


def render(result: dict) -> str:
    lines = [
        "| tier | seconds | passed | deselected (slow) | skipped | failed | load before, after |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name in ("fast", "all"):
        if name not in result:
            continue
        part, counts = result[name], result[name]["counts"]
        seconds = result["fast_tier_s"] if name == "fast" else part["seconds"]
        lines.append(
            f"| {'make test-fast (ruff + pytest --fast)' if name == 'fast' else 'pytest, all'} | "
            f"{seconds:.0f} | {counts.get('passed', 0)} | {counts.get('deselected', 0)} | "
            f"{counts.get('skipped', 0)} | {counts.get('failed', 0) + counts.get('error', 0)} | "
            f"{part['load_before'][0]:.1f}, {part['load_after'][0]:.1f} |"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help="time every test too (make test)")
    return parser


if __name__ == "__main__":
    main("test_tiers", parser, run, render)

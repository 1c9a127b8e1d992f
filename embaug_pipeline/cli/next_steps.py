"""The last lines of `embaug demo`: the loop's next commands, each with a file that exists,
so that a person can copy them as printed (predict new products, serve the model and ask it
with curl, import the filled-in queue), then look at everything in the UIs."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from embaug_core.catalog import CatalogSettings
from embaug_core.common.home import Home
from embaug_core.store import Store


def shown(path: Path) -> str:
    """A path as a person types it here: relative to the working folder when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def command() -> str:
    """How to call embaug from here: this virtualenv's script (`.venv/bin/embaug`)."""
    script = Path(sys.executable).parent / "embaug"
    return shown(script) if script.exists() else "embaug"


def next_lines(home: Home, port: int = 5001) -> list[str]:
    """Write the files the next commands use, and the commands themselves."""
    from embaug_core.serving.demo_files import write_demo_files

    store = Store(home.duckdb_path)
    settings = CatalogSettings.from_mapping(json.loads(store.catalogue()["settings"] or "{}"))
    files = write_demo_files(store, home.root / "demo", settings)
    embaug = command()
    lines = ["", "Next, the loop (each command works as printed, from this folder):"]
    if files.new_products:
        output = shown(files.new_products.parent / "predictions.csv")
        lines.append(
            f"  {embaug} predict {shown(files.new_products)} -o {output}"
            "   # products the model never saw"
        )
    if files.request:
        lines.append(f"  {embaug} serve   # the production model over HTTP; in another terminal:")
        lines.append(
            f"  curl -s http://127.0.0.1:{port}/invocations -H 'Content-Type: application/json' "
            f"-d @{shown(files.request)}"
        )
    queue = home.reports / "labeling_queue.csv"
    if files.filled_queue:
        lines.append(
            f"  {embaug} labels import {shown(files.filled_queue)}   # the queue with the "
            f"{files.filled} labels the demo withheld: the served model learns them first"
        )
    elif queue.exists():
        lines.append(queue_line(queue, embaug))
    lines.append(f"  {embaug} ui   # Dagster and MLflow on this state")
    return lines


def queue_line(queue: Path, embaug: str) -> str:
    """What to do with the labeling queue a person fills in: nothing when it is empty (every
    product already has its category)."""
    with queue.open(newline="", encoding="utf-8") as file:
        rows = csv.reader(file)
        next(rows, None)  # the header
        waiting = next(rows, None) is not None
    if not waiting:
        return f"  (the labeling queue {shown(queue)} is empty: no product waits for a person)"
    where = shown(queue)
    return f"  fill in the category column of {where}, then {embaug} labels import {where}"


def print_next(home: Home) -> None:
    """The next commands; a catalogue that cannot be read again only costs these lines."""
    try:
        lines = next_lines(home)
    except Exception as error:  # files for convenience: never fail the demo that ran
        print(f"(the next commands' files could not be written: {error})", file=sys.stderr)
        return
    print("\n".join(lines), flush=True)

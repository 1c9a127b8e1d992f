"""The demo's last lines about the labeling queue."""

from __future__ import annotations

from pathlib import Path

from embaug_pipeline.cli.next_steps import queue_line


def test_a_queue_with_products_asks_for_their_categories(tmp_path: Path):
    queue = tmp_path / "labeling_queue.csv"
    queue.write_text('product_id,title,category\n7,"a shirt, blue\nwith a collar",\n')
    line = queue_line(queue, "embaug")
    assert "fill in the category column" in line
    assert f"embaug labels import {queue}" in line


def test_an_empty_queue_asks_for_nothing(tmp_path: Path):
    queue = tmp_path / "labeling_queue.csv"
    queue.write_text("product_id,title,category\n")
    line = queue_line(queue, "embaug")
    assert "fill in" not in line and "import" not in line
    assert "empty" in line

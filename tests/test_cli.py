"""The `embaug` command's clear answers when there is nothing to work on."""

from __future__ import annotations

import pytest

from embaug_pipeline.cli import build_parser, main


def test_report_without_results_says_what_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    assert main(["report"]) == 1
    assert "run `embaug demo` first" in capsys.readouterr().err


def test_demo_without_a_catalogue_says_where_to_put_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EMBAUG_DATA", raising=False)
    assert main(["demo"]) == 2
    assert "fashion-product-images-small" in capsys.readouterr().err


def test_unknown_methods_are_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit, match="unknown method"):
        main(["demo", "--methods", "control,cutmix"])
    assert build_parser().parse_args(["ui"]).host == "127.0.0.1"

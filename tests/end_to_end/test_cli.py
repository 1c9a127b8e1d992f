"""The `embaug` command's clear answers when there is nothing to work on."""

from __future__ import annotations

import pytest

from embaug_pipeline.cli import EXIT_BELOW_FLOOR, EXIT_FAILED, build_parser, main


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


def test_a_catalogue_that_cannot_be_used_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    one = tmp_path / "one.csv"
    one.write_text("id,title,description,category,image\n1,Shirt,,Tops,a.jpg\n")
    assert main(["demo", "--data", str(one)]) == EXIT_FAILED
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2] == (
        f"embaug: raw_products failed: {one}: no usable product: 1 rows read, 0 rejected, "
        "1 left out by the sample (raise the sample fraction); nothing was stored"
    )
    assert err[-1] == "(--verbose shows the whole error)" and len(err) <= 4


def test_a_champion_under_the_floor_is_an_outcome_not_a_traceback(
    kaggle_slice, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    arguments = ["demo", "--data", str(kaggle_slice), "--sample-fraction", "1", "--trials", "1"]
    status = main(
        [*arguments, "--methods", "control,logreg", "--epochs", "2", "--auc-floor", "1.01"]
    )
    out, err = capsys.readouterr()
    assert status == EXIT_BELOW_FLOOR
    assert "| logreg" in out and "| control" in out  # the comparison table is printed
    assert "| known-vs-none area" in out  # with people's names
    assert "on every figure at once" in out  # and the verdict against the peer
    assert "under the floor 1.01: the production model, its predictions and the labeling" in err
    assert "Traceback" not in err and "DagsterAssetCheckFailedError" not in err
    assert not (tmp_path / "home" / "reports" / "labeling_queue.csv").exists()


def test_an_address_space_limit_too_small_is_one_line_not_a_segfault(tmp_path):
    """Under `ulimit -v 4G` torch's CUDA build cannot even be mapped (it crashed with SIGSEGV
    in benchmarks.hostile): the command says so before any work and exits 2."""
    import resource
    import subprocess
    import sys
    from pathlib import Path

    def four_gib() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))

    embaug = Path(sys.executable).parent / "embaug"
    done = subprocess.run(
        [str(embaug), "demo", "--trials", "1"],
        env={"PATH": "/usr/bin:/bin", "EMBAUG_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        preexec_fn=four_gib,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("embaug: the address-space limit (ulimit -v) is 4.0 GiB")
    assert len(done.stderr.strip().splitlines()) == 1

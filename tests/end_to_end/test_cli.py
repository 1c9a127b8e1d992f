"""The `embaug` command's clear answers when there is nothing to work on."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pandas as pd
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


def test_ten_trials_and_more_are_partitions_the_command_line_adds(tmp_path, monkeypatch):
    """`--trials` accepted 1 to 5, while docs/METHODS.md asks for 10 before trusting a
    recommendation; the demo's own catalogue is sampled, a named one is read whole."""
    import dagster as dg

    from embaug_core.labels.splits import trial_names
    from embaug_pipeline.cli.catalogue import how_much
    from embaug_pipeline.partitions import TRIALS, add_partitions

    arguments = build_parser().parse_args(["demo", "--trials", "12"])
    assert arguments.trials == 12
    assert how_much(arguments) == (0.1, 0.01)
    named = build_parser().parse_args(["demo", "--data", "shop.csv"])
    assert how_much(named) == (1.0, 0.0)
    sampled = build_parser().parse_args(["demo", "--data", "shop.csv", "--sample-fraction", "0.3"])
    assert how_much(sampled) == (0.3, 0.0)
    with dg.instance_for_test() as instance:
        add_partitions(instance, trial_names(arguments.trials), ["control"])
        assert len(instance.get_dynamic_partitions(TRIALS)) == 12


def test_unknown_methods_are_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit, match="unknown method"):
        main(["demo", "--methods", "control,cutmix"])
    assert build_parser().parse_args(["ui"]).host == "127.0.0.1"


def test_a_catalogue_that_cannot_be_used_is_one_clear_line(tmp_path, monkeypatch, capsys):
    """Also: a catalogue named with --data is read whole (it was sampled at 10%, so this
    one-row file was "left out by the sample")."""
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    one = tmp_path / "one.csv"
    one.write_text("id,title,description,category,image\n1,Shirt,,Tops,a.jpg\n")
    assert main(["demo", "--data", str(one)]) == EXIT_FAILED
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2] == (
        f"embaug: raw_products failed: {one}: no usable product: 1 rows read, 1 rejected "
        "(1 missing image); for example line 2: missing image: no such file a.jpg; "
        "nothing was stored"
    )
    assert err[-1] == "(--verbose shows the whole error)" and len(err) <= 4


@pytest.mark.slow  # the whole graph
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
    assert "is under the floor 1.01. So the production model, its predictions and the" in err
    assert "Traceback" not in err and "DagsterAssetCheckFailedError" not in err
    assert not (tmp_path / "home" / "reports" / "labeling_queue.csv").exists()


@pytest.mark.slow  # `embaug demo` as a process
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


def test_a_champion_without_an_auc_is_told_why_not_as_nan(tmp_path, monkeypatch, capsys):
    """A catalogue whose trials evaluate one class has a NaN mean AUC: it was told as "a mean
    weighted AUC of nan, under the floor". The cause comes from the check's metadata."""
    from embaug_pipeline.run import graph

    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    results = pd.DataFrame(
        {
            "trial": ["trial_0"] * 2,
            "method": ["control", "logreg"],
            "metric": ["top1_known"] * 2,
            "value": [1.0, 1.0],
            "run_id": ["a", "b"],
        }
    )
    why = (
        "logreg has no mean weighted AUC to hold against the floor 0.9: every trial's evaluated "
        "products hold fewer than two classes (trial_0: 1 product)"
    )
    check = {"passed": False, "champion": "logreg", "mean_weighted_auc": float("nan")}
    check |= {"floor": 0.9, "why_not_served": why}
    monkeypatch.setattr(
        graph, "materialize_graph", lambda _: graph.GraphOutcome(results, {}, check)
    )
    data = tmp_path / "products.csv"
    data.write_text("id,title,category\n")
    assert main(["demo", "--data", str(data), "--trials", "1"]) == EXIT_BELOW_FLOOR
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"The champion {why}. So the production model, its predictions and the labeling queue "
        "were not rebuilt (more labelled products per class give each trial's hold-out several "
        "classes)."
    )


@pytest.fixture
def catalogued(kaggle_slice: Path, tmp_path: Path, monkeypatch) -> list[str]:
    """A home whose store holds the slice's 72 products (raw_products only, nothing
    embedded); their ids."""

    from embaug_pipeline import definitions

    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    assert definitions.materialize(
        selection=["raw_products"],
        run_config={"ops": {"raw_products": {"config": {"path": str(kaggle_slice)}}}},
    ).success
    return sorted(pd.read_csv(kaggle_slice / "styles.csv", dtype=str)["id"])


def test_an_import_that_stores_nothing_says_so(catalogued: list[str], tmp_path: Path, capsys):
    """It said "the next retrain trains on them" after storing nothing."""
    nothing = tmp_path / "nothing.csv"
    pd.DataFrame(
        {"product_id": ["no_such_product", catalogued[0]], "category": ["Watches", ""]}
    ).to_csv(nothing, index=False)
    assert main(["labels", "import", str(nothing)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "Nothing stored: no new usable label (0 of 1 files imported before, 1 rows rejected, "
        "1 left empty); the next `embaug retrain` gets no new label from them."
    )
    good = tmp_path / "good.csv"
    pd.DataFrame({"product_id": catalogued[:2], "category": ["Watches", "Belts"]}).to_csv(
        good, index=False
    )
    assert main(["labels", "import", str(good)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "The next `embaug retrain` (or the retraining automation) trains on the 2 labels stored."
    )
    assert main(["labels", "import", str(good)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].startswith("good.csv: imported before (")
    assert out[-2].endswith(", 2 labels then); nothing new stored")
    assert out[-1].startswith("Nothing stored: no new usable label (1 of 1 files imported")


def test_a_label_written_as_a_spreadsheet_formula_is_refused(
    catalogued: list[str], tmp_path: Path, capsys
):
    """`=HYPERLINK("x")` was stored as a category, then served and written to the next
    spreadsheet as a live formula."""
    from embaug_core.common.home import Home
    from embaug_core.store import Store

    path = tmp_path / "formulas.csv"
    categories = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+cmd", "Watches"]
    pd.DataFrame({"product_id": catalogued[:4], "category": categories}).to_csv(path, index=False)
    assert main(["labels", "import", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "formulas.csv: 1 labels stored, 0 rows left empty, 3 rejected" in out
    assert 'line 2: category \'=HYPERLINK("http://x","y")\' starts like a spreadsheet' in err
    assert "line 3: category '@SUM(A1)' starts like a spreadsheet formula ('@')" in err
    stored = Store(Home.from_env().duckdb_path).human_labels()
    assert stored["category"].tolist() == ["Watches"]


@pytest.fixture
def default_field_limit():
    """Python's csv field limit as a fresh `embaug labels import` has it (earlier tests in
    this process raised it), restored afterwards."""
    previous = csv.field_size_limit(131_072)
    yield
    csv.field_size_limit(previous)


def test_a_long_field_in_a_label_file_rejects_its_line_not_the_import(
    catalogued: list[str], tmp_path: Path, capsys, default_field_limit
):
    """A 200,000-character column name failed the whole import with "field larger than field
    limit (131072)", naming neither the file nor the line."""
    path = tmp_path / "long.csv"
    path.write_text(
        f"product_id,category,note {'n' * 200_000}\n{catalogued[0]},Watches,ok\n"
        f"{catalogued[1]},Belts,{'x' * 9_000_000}\n{catalogued[2]},Belts,fine\n"
    )
    assert main(["labels", "import", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "long.csv: 2 labels stored, 0 rows left empty, 1 rejected" in out
    assert "  line 3: malformed line: field larger than field limit (8388608)" in err


def test_a_label_in_another_unicode_form_joins_its_class(
    catalogued: list[str], tmp_path: Path, caplog
):
    from embaug_core.common.home import Home
    from embaug_core.labels.people import read_label_file
    from embaug_core.store import Store

    composed, decomposed = "Caf\u00e9", "Cafe\u0301"
    path = tmp_path / "cafe.csv"
    pd.DataFrame(
        {"product_id": catalogued[:3], "category": [composed, decomposed, decomposed]}
    ).to_csv(path, index=False)
    with caplog.at_level(logging.WARNING):
        read = read_label_file(path, Store(Home.from_env().duckdb_path))
    assert read.labels["category"].tolist() == [composed] * 3
    assert "cafe.csv: categories written in different Unicode forms are one class" in caplog.text

"""The report's tables from a small hand-made results table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embaug_core.evaluation.comparison import (
    comparison_table,
    paired_differences,
    paired_table,
    per_class_table,
)
from embaug_core.evaluation.figures import threshold_figure
from embaug_core.evaluation.recommendation import Recommendation
from embaug_core.evaluation.report import Figure, Report
from embaug_core.evaluation.verdicts import (
    DEFAULT_AUC_FLOOR,
    ChampionChoice,
    against_peer,
    auc_floor,
    choose_champion,
)


def results() -> pd.DataFrame:
    values = {
        "control": [0.70, 0.60, 0.80],
        "e_mixup": [0.72, 0.63, 0.81],
        "logreg": [0.69, 0.58, 0.83],
    }
    return pd.DataFrame(
        [
            {
                "trial": f"trial_{t}",
                "method": m,
                "metric": "tradeoff_auc",
                "value": v,
                "run_id": f"{m}{t}",
            }
            for m, vs in values.items()
            for t, v in enumerate(vs)
        ]
    )


def test_comparison_shows_mean_and_maximum_deviation_best_first():
    table = comparison_table(results(), metrics=("tradeoff_auc",))
    assert list(table.index) == ["e_mixup", "control", "logreg"]
    assert table.loc["control", "tradeoff_auc"] == "0.7000 ± 0.1000"
    assert table.loc["control", "trials"] == 3


def test_paired_differences_by_hand():
    paired = paired_differences(results(), metrics=("tradeoff_auc",)).set_index("method")
    diffs = np.array([0.02, 0.03, 0.01])
    half = 4.302653 * diffs.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert paired.loc["e_mixup", "mean_diff"] == pytest.approx(0.02)
    assert paired.loc["e_mixup", "ci_low"] == pytest.approx(0.02 - half, abs=1e-5)
    assert paired.loc["e_mixup", "wins"] == 3 and paired.loc["logreg", "wins"] == 1
    cells = paired_table(paired.reset_index())
    assert list(cells.index) == ["e_mixup", "logreg"]
    assert cells.loc["e_mixup", "tradeoff_auc"].endswith("3/3")


def test_report_page_recommends_first_and_escapes_what_it_shows(tmp_path):
    sweep = pd.DataFrame(
        {
            "threshold": [0, 0.5, 1] * 2,
            "overall": [1, 0.5, 0] * 2,
            "none": [0, 0.5, 1] * 2,
            "method": "control",
            "trial": [0] * 3 + [1] * 3,
        }
    )
    per_class = pd.DataFrame(
        {
            "class": ["<b>a</b>", "b", np.nan],
            "kind": ["class", "class", "none"],
            "support": [5, 3, 4],
            "f1": [0.5, 1.0, 0.7],
            "method": "control",
            "trial": 0,
        }
    )
    runs = pd.DataFrame(
        {
            "trial": ["trial_0"],
            "method": ["control"],
            "run_id": ["abcdef123456"],
            "mlflow": ["http://127.0.0.1:5000/#/experiments/1/runs/abcdef123456"],
            "dagster": ["http://127.0.0.1:3000/runs/xyz"],
            "registered_version": [3],
        }
    )
    choice = ChampionChoice("logreg", "tradeoff_auc", "e_mixup's lead is noise", "e_mixup", False)
    recommendation = Recommendation("logreg", 0.42, "tradeoff_auc", choice.rule, False, 3, {})
    report = Report(
        recommendation=recommendation,
        champion=choice,
        comparison=comparison_table(results()),
        paired=paired_table(paired_differences(results())),
        differences=paired_differences(results()),
        per_class=per_class_table(per_class),
        settings={"trials": 3, "training: epochs": "48"},
        runs=runs,
        figures=[Figure("Fig. 3", "how to read it", threshold_figure(sweep, 0.42))],
        facts={"catalogue": {"path": "/data/<script>x</script>", "products": 72}},
        next_steps=["Add trials: 3 ran"],
    )
    page = report.write(tmp_path / "report.html").read_text()
    first_screen = page[: page.index('id="comparison"')]
    assert "Serve logreg at threshold 0.42" in first_screen
    assert "<b>e_mixup</b> has the best mean known-vs-none area, but its lead is" in first_screen
    assert "Add trials: 3 ran" in first_screen
    assert page.count("data:image/png;base64,") == 1
    assert '<a href="http://127.0.0.1:5000/#/experiments/1/runs/abcdef123456">abcdef12</a>' in page
    assert "<th>known-vs-none area</th>" in page and "tradeoff_auc</th>" not in page
    assert "0.7000 ± 0.1000" in page
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;a&lt;/b&gt;" in page and "— none (products of held-out classes) —" in page
    assert "Not run yet." in page  # the studies' section says how to run them
    report.not_served = "logreg's mean weighted AUC 0.812 is under the floor 0.9"
    blocked = report.write(tmp_path / "blocked.html").read_text()
    first_screen = blocked[: blocked.index('id="comparison"')]
    assert "No production model: the champion is under the AUC floor" in first_screen
    assert "Serve logreg" not in first_screen
    assert "mean weighted AUC 0.812 is under the floor 0.9" in first_screen  # escaped ' before


def test_a_comparison_without_a_pair_is_an_empty_table_the_store_keeps(tmp_path):
    from embaug_core.store import Store

    alone = results()[lambda r: r["method"] == "control"]
    for baseline in ("control", "no_such_method"):
        paired = paired_differences(alone, baseline=baseline)
        assert paired.empty and "mean_diff" in paired.columns
        assert paired_table(paired).empty
    store = Store(tmp_path / "embaug.duckdb")
    store.replace_tables({"paired_differences": paired})
    assert store.query("SELECT count(*) AS n FROM paired_differences")["n"][0] == 0


def test_champion_rule_serves_logreg_unless_the_best_clearly_leads_both_baselines():
    noisy = choose_champion(results())
    assert noisy.best == "e_mixup" and noisy.method == "logreg" and not noisy.clear_lead
    assert "lead over control +0.0200 [-0.0048, +0.0448]" in noisy.rule
    assert "logreg, the simplest model within noise of the best" in noisy.rule
    # e_mixup ahead of both by 0.05 +- 0.01: its intervals are above zero, it is served.
    clear = results()
    clear.loc[clear["method"] == "e_mixup", "value"] = [0.75, 0.66, 0.88]
    chosen = choose_champion(clear)
    assert chosen.method == "e_mixup" and chosen.clear_lead
    assert "lead over logreg +0.0633" in chosen.rule and chosen.figure == "tradeoff_auc"
    best_is_peer = results().assign(value=lambda r: r["value"] + (r["method"] == "logreg"))
    assert choose_champion(best_is_peer).method == "logreg"
    no_peer = results()[lambda r: r["method"] != "logreg"]
    assert choose_champion(no_peer).method == "e_mixup"  # nothing simpler to fall back on
    without_none = results().assign(metric="weighted_auc_mean")
    fallback = choose_champion(pd.concat([without_none, results().assign(value=np.nan)]))
    assert fallback.figure == "weighted_auc_mean"
    assert fallback.rule.startswith("the known-vs-none area is undefined without held-out")
    nothing = choose_champion(results(), figure="weighted_auc_mean")  # a hold-out too small
    assert nothing.method == "logreg" and nothing.rule.startswith("no figure could be computed")
    with pytest.raises(ValueError, match="no results for the figure"):
        choose_champion(results().iloc[:0])


def test_per_class_table_keeps_a_class_called_none_apart_from_the_none_row():
    rows = []
    for trial, classes in (("trial_0", ["none", "NA"]), ("trial_1", ["none"])):
        for name in classes:
            rows.append(
                {"class": name, "kind": "class", "support": {"none": 5, "NA": 4}[name], "f1": 0.5}
            )
        rows.append({"class": np.nan, "kind": "none", "support": 6, "f1": 0.9})
        for row in rows[-len(classes) - 1 :]:
            row.update(trial=trial, method="control")
    table = per_class_table(pd.DataFrame(rows))
    assert list(table.index) == [("class", "none"), ("class", "NA"), ("none", "")]
    assert list(table["held out in trials"]) == [0, 1, 0]
    assert table.loc[("none", ""), "control"] == pytest.approx(0.9)


def test_the_auc_floor_is_a_deployment_setting_with_a_clear_error(monkeypatch):
    monkeypatch.delenv("EMBAUG_AUC_FLOOR", raising=False)
    assert auc_floor() == DEFAULT_AUC_FLOOR
    monkeypatch.setenv("EMBAUG_AUC_FLOOR", "0.75")
    assert auc_floor() == 0.75
    monkeypatch.setenv("EMBAUG_AUC_FLOOR", "high")
    with pytest.raises(ValueError, match="EMBAUG_AUC_FLOOR must be a number"):
        auc_floor()


def peer_case() -> pd.DataFrame:
    """A hand-made case over four trials: `winner` leads logreg on the three trade-off figures
    and is within 0.005 (or noise) on top-1, and on macro F1 and overall accuracy at its tuned
    threshold; `loser` leads on two figures and is behind on known classes; `big_loser` has
    the best known-vs-none area of all but is behind on known classes."""
    trials = ["t0", "t1", "t2", "t3"]
    lead = [0.02, 0.03, 0.025, 0.02]
    noise = [0.01, -0.02, 0.01, -0.01]
    behind = [-0.03, -0.031, -0.029, -0.03]
    offsets = {
        "winner": {
            "weighted_auc": lead,
            "equal_acc_point": lead,
            "tradeoff_auc": lead,
            "top1_known": [-0.002] * 4,
            "macro_f1_known_tuned": noise,
            "overall_acc_tuned": noise,
        },
        "loser": {
            "weighted_auc": lead,
            "equal_acc_point": [-0.01, 0.01, -0.005, 0.005],
            "tradeoff_auc": lead,
            "top1_known": behind,
            "macro_f1_known_tuned": behind,
            "overall_acc_tuned": behind,
        },
        "big_loser": {
            "weighted_auc": lead,
            "equal_acc_point": lead,
            "tradeoff_auc": [0.1, 0.12, 0.11, 0.1],
            "top1_known": behind,
            "macro_f1_known_tuned": behind,
            "overall_acc_tuned": behind,
        },
    }
    rows = [
        {"method": "logreg", "trial": t, "metric": m, "value": 0.8}
        for t in trials
        for m in offsets["winner"]
    ]
    rows += [
        {"method": method, "trial": t, "metric": m, "value": 0.8 + delta[i]}
        for method, figures in offsets.items()
        for m, delta in figures.items()
        for i, t in enumerate(trials)
    ]
    return pd.DataFrame(rows)


def test_against_peer_names_the_configuration_that_beats_logreg_on_every_figure_at_once():
    table = against_peer(peer_case())
    assert list(table.index) == ["winner", "big_loser", "loser"]
    assert table.loc["winner", "beats the peer"] and table.loc["winner", "conditions held"] == 6
    assert not table.loc["loser", "beats the peer"]
    assert table.loc["loser", "conditions held"] == 2
    assert table.loc["winner", "top1_known"] == "-0.0020 [-0.0020, -0.0020] equal"
    assert table.loc["loser", "overall_acc_tuned"].endswith("behind")
    assert table.loc["loser", "equal_acc_point"].endswith("equal")


def test_a_configuration_that_beats_the_peer_everywhere_is_the_champion():
    """`big_loser` has the best known-vs-none area but is behind on known classes; `winner`
    beats logreg on every figure: it is served (docs/METHODS.md section 8)."""
    chosen = choose_champion(peer_case())
    assert chosen.method == "winner" and chosen.best == "big_loser" and chosen.clear_lead
    assert chosen.rule.startswith("winner beats logreg on every figure at once")


def test_one_trial_gives_no_interval_and_serves_the_peer():
    one = peer_case()[lambda r: r["trial"] == "t0"]
    table = against_peer(one)
    assert not table["beats the peer"].any()
    assert table.loc["winner", "tradeoff_auc"].endswith("no interval (1 trial)")
    assert "behind" not in " ".join(
        table.drop(columns=["beats the peer"]).astype(str).values.ravel()
    )
    chosen = choose_champion(one)
    assert chosen.method == "logreg" and chosen.rule.startswith("one trial gives no interval")


def test_an_undefined_auc_says_why():
    """A NaN mean AUC was told as "AUC of nan, under the floor"; its cause is in the splits:
    a trial whose evaluated products (role holdout) hold one class, or none, ranks nothing."""
    from embaug_core.evaluation.verdicts import why_auc_undefined

    def split(rows: list[tuple[str, str, bool]]) -> pd.DataFrame:
        frame = pd.DataFrame(rows, columns=["category", "role", "known"])
        return frame.assign(product_id=[f"p{i}" for i in range(len(rows))])

    one_class = split([("Belts", "train", True), ("Watches", "train", True)])
    one_class = pd.concat([one_class, split([("Belts", "holdout", True)] * 3)])
    only_none = split([("Belts", "train", True), ("Socks", "holdout", False)])
    empty = split([("Belts", "train", True), ("Watches", "select", True)])
    splits = {"trial_0": one_class, "trial_1": only_none, "trial_2": empty}
    assert why_auc_undefined(splits, "logreg") == (
        "every trial's evaluated products (H without S) hold fewer than two classes ('none' "
        "counting as one), so no class can be ranked against another (trial_0: 3 products, "
        "all 'Belts'; trial_1: 1 product, all 'none'; trial_2: no product)"
    )
    two = split([("Belts", "holdout", True), ("Socks", "holdout", False)])
    assert why_auc_undefined({"trial_0": two}, "logreg") == (
        "no run of logreg recorded a weighted AUC"
    )

"""The parts of the report a team lead acts on, from hand-made tables: the figures to expect
at the served threshold, what goes wrong class by class, which methods the figures draw, and
settings in words."""

from __future__ import annotations

import pandas as pd
import pytest

from embaug_core.evaluation.expected import expected_figures
from embaug_core.evaluation.mistakes import class_mistakes, worst_confusions
from embaug_core.evaluation.report_parts import methods_drawn, worst_first
from embaug_core.evaluation.report_settings import in_words, short


def test_expected_figures_are_read_off_each_trials_sweep_at_the_served_threshold():
    """At 0.25 (between the sweep's 0.0 and 0.5): trial 0 overall 0.9 + (0.5-0.9)/2 = 0.7,
    trial 1 0.8 + (0.6-0.8)/2 = 0.7; none 0.2 + (0.6-0.2)/2 = 0.4 and 0.0 + 0.2 = 0.2."""
    sweep = pd.DataFrame(
        {
            "method": "logreg",
            "trial": [0, 0, 0, 1, 1, 1],
            "threshold": [0.0, 0.5, 1.0] * 2,
            "overall": [0.9, 0.5, 0.0, 0.8, 0.6, 0.0],
            "none": [0.2, 0.6, 1.0, 0.0, 0.4, 1.0],
        }
    )
    runs = pd.DataFrame(
        {
            "trial": ["trial_0", "trial_1"] * 2,
            "method": "logreg",
            "metric": ["threshold_tuned"] * 2 + ["overall_acc_tuned"] * 2,
            "value": [0.1, 0.4, 0.9, 0.7],
        }
    )
    row = expected_figures(sweep, runs, "logreg", 0.25).iloc[0]
    assert row["overall_acc"] == pytest.approx(0.7)
    assert row["none_acc"] == pytest.approx(0.3)
    assert (row["none_acc_min"], row["none_acc_max"]) == pytest.approx((0.2, 0.4))
    assert row["overall_acc_tuned"] == pytest.approx(0.8)  # the table's: each trial its own
    assert (row["threshold_tuned_min"], row["threshold_tuned_max"]) == (0.1, 0.4)


def _predictions() -> pd.DataFrame:
    """Six products: two Shirts right, a Shirt missed as none, a Top taken for a Shirt,
    a held-out product claimed by Tops, and a held-out product rightly "none"."""
    return pd.DataFrame(
        {
            "trial": "trial_0",
            "product_id": list("abcdef"),
            "truth": ["Shirts", "Shirts", "Shirts", "Tops", "none", "none"],
            "predicted": ["Shirts", "Shirts", "none", "Shirts", "Tops", "none"],
            "probability": [0.9, 0.8, 0.3, 0.7, 0.95, 0.2],
        }
    )


def test_classes_with_the_most_mistakes_come_first_in_whole_numbers():
    table = class_mistakes(_predictions())
    # Two mistakes each (none: e claimed by Tops, and the Shirt c it took): more products first
    assert list(table.index) == ["Shirts", "none", "Tops"]
    shirts = table.loc["Shirts"]
    # 3 products, 2 right, 1 missed as none, 1 other (the Top) taken for a Shirt: 2 mistakes
    assert shirts.tolist() == [2, 3, 2, 1, 0, 1]
    assert table.loc["Tops"].tolist() == [2, 1, 0, 0, 1, 1]  # taken for Shirts; a none for it
    assert all(str(dtype).startswith("int") for dtype in table.dtypes)
    pairs = worst_confusions(_predictions())
    assert len(pairs) == 3 and set(pairs["products"]) == {1}
    tops = pairs[pairs["true class"] == "Tops"].iloc[0]
    assert tops["predicted as"] == "Shirts" and tops["share of the class"] == 1.0


def test_figures_draw_the_champion_the_peer_the_control_and_the_best_few():
    methods = [f"m{i}" for i in range(8)] + ["logreg", "control"]
    runs = pd.DataFrame(
        {
            "method": methods,
            "metric": "tradeoff_auc",
            "value": [0.9, 0.1, 0.8, 0.2, 0.3, 0.4, 0.5, 0.6, 0.0, 0.05],
            "trial": "trial_0",
        }
    )
    drawn = methods_drawn(runs, "m3", "tradeoff_auc")
    assert len(drawn) == 5 and set(drawn) == {"m3", "logreg", "control", "m0", "m2"}


def test_the_per_class_table_puts_the_champions_worst_classes_first():
    index = pd.MultiIndex.from_tuples(
        [("class", "a"), ("class", "b"), ("class", "c"), ("none", "")], names=["kind", "class"]
    )
    table = pd.DataFrame(
        {"support": [22.0, 3.4, 9.0, 4.0], "logreg": [0.9, 0.2, 0.5, 0.1]}, index=index
    )
    ordered = worst_first(table, "logreg")
    assert [key[1] for key in ordered.index] == ["b", "c", "a", ""]
    assert ordered["support"].tolist() == [3, 9, 22, 4]  # whole products, not "22.000"


def test_settings_read_in_words_with_short_fingerprints():
    identity = "minilm-l6:onnx:" + "ab12" * 16
    assert short(identity) == "minilm-l6:onnx:ab12ab12ab12…"
    assert in_words({"train_fraction": 0.1, "seeds": [1, 2]}) == "seeds 1, 2; train_fraction 0.1"
    assert in_words("") == "default" and in_words([]) == "none"


def test_a_model_without_mistakes_has_no_confusions():
    right = _predictions().assign(predicted=lambda p: p["truth"])
    assert worst_confusions(right).empty
    assert class_mistakes(right)["mistakes"].eq(0).all()


def test_the_page_says_what_to_expect_what_goes_wrong_and_what_it_cost(tmp_path):
    from embaug_core.evaluation.comparison import comparison_table, per_class_table
    from embaug_core.evaluation.recommendation import Recommendation
    from embaug_core.evaluation.report import Report
    from embaug_core.evaluation.report_parts import ReportParts
    from embaug_core.evaluation.verdicts import ChampionChoice

    results = pd.DataFrame(
        {"trial": ["trial_0"], "method": ["logreg"], "metric": ["tradeoff_auc"], "value": [0.8]}
    ).assign(run_id="r0")
    per_class = pd.DataFrame(
        {"class": ["Shirts", ""], "kind": ["class", "none"], "support": [22.0, 4.0]}
    ).assign(f1=[0.5, 0.7], method="logreg", trial=0)
    predictions = _predictions()
    confusions = worst_confusions(predictions)
    examples = predictions.iloc[[3]].assign(title="Blue Top", thumbnail="data:image/jpeg;base64,AA")
    parts = ReportParts(
        expected={
            "threshold": 0.42,
            "trials": 3,
            "overall_acc": 0.81,
            "overall_acc_min": 0.78,
            "overall_acc_max": 0.85,
            "none_acc": 0.5,
            "none_acc_min": 0.4,
            "none_acc_max": 0.6,
            "overall_acc_tuned": 0.83,
            "none_acc_tuned": 0.45,
            "threshold_tuned_min": 0.3,
            "threshold_tuned_max": 0.55,
        },
        mistakes=class_mistakes(predictions),
        confusions=confusions,
        examples=examples,
        cost={"core-hours": "0.10 (all cores busy)"},
    )
    choice = ChampionChoice("logreg", "tradeoff_auc", "the rule", "logreg", False)
    report = Report(
        recommendation=Recommendation("logreg", 0.42, "tradeoff_auc", "the rule", False, 3, {}),
        champion=choice,
        comparison=comparison_table(results),
        paired=pd.DataFrame(),
        differences=pd.DataFrame(),
        per_class=worst_first(per_class_table(per_class), "logreg"),
        settings={"trials": 3},
        runs=pd.DataFrame(columns=["method", "trial", "run_id", "mlflow", "dagster"]),
        facts={"catalogue": {"products": 72}},
        parts=parts,
    )
    page = report.write(tmp_path / "report.html").read_text()
    first_screen = page[: page.index('id="comparison"')]
    assert "What to expect at 0.42</b>" in first_screen
    assert "overall accuracy 0.810 [0.780 to 0.850]" in first_screen
    assert "each trial runs at its own threshold" in first_screen
    assert "<td>Shirts</td><td>2</td><td>3</td><td>2</td><td>1</td>" in page  # whole numbers
    assert "a Tops taken for Shirts" in page and 'src="data:image/jpeg;base64,AA"' in page
    assert "<td>22</td>" in page and "22.000" not in page
    assert "core-hours" in page

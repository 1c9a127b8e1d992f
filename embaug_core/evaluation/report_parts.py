"""The parts of the report a team lead acts on, built beside the comparison: what to expect
at the served threshold, what goes wrong class by class (with the worst confusions and a few
mistaken products), which methods the figures draw, and what the run cost."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.evaluation.mistakes import (
    champion_predictions,
    class_mistakes,
    mistaken_examples,
    worst_confusions,
)
from embaug_core.evaluation.run_cost import cost_by_method, cost_facts, run_times
from embaug_core.store import Store
from embaug_core.training.methods import METHODS

#: Drawn in every figure when they ran: the peer and the MLP control.
ALWAYS_DRAWN = ("logreg", "control")
#: Lines per figure: more overlap until none can be told apart.
MOST_DRAWN = 5


@dataclass
class ReportParts:
    expected: dict[str, object] = field(default_factory=dict)
    #: Per true class, the recommended model's mistakes (most first), and the worst pairs.
    mistakes: pd.DataFrame = field(default_factory=pd.DataFrame)
    confusions: pd.DataFrame = field(default_factory=pd.DataFrame)
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)
    cost: dict[str, str] = field(default_factory=dict)
    cost_by_method: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: The methods the figures leave out (drawn: the champion, the peer, the control, the best).
    not_drawn: list[str] = field(default_factory=list)


def methods_drawn(runs: pd.DataFrame, champion: str, figure: str) -> list[str]:
    """The champion, the peer and the control, then the best others by `figure`, at most
    MOST_DRAWN, in the order of the default comparison."""
    means = runs[runs["metric"] == figure].groupby("method")["value"].mean()
    ran = set(runs["method"])
    drawn = [m for m in (champion, *ALWAYS_DRAWN) if m in ran]
    for method in means.sort_values(ascending=False).index:
        if len(drawn) >= MOST_DRAWN:
            break
        if method not in drawn:
            drawn.append(method)
    order = {name: i for i, name in enumerate(METHODS)}
    return sorted(dict.fromkeys(drawn), key=lambda m: (order.get(m, len(order)), m))


def drawn_only(evaluation: dict[str, pd.DataFrame], drawn: list[str]) -> dict[str, pd.DataFrame]:
    """The evaluation tables the figures read, cut to the methods drawn."""
    cut = {name: table[table["method"].isin(drawn)] for name, table in evaluation.items()}
    return {**evaluation, "sweep": cut["sweep"], "roc": cut["roc"]}


def say_what_is_drawn(figures: list, drawn: list[str], not_drawn: list[str]) -> None:
    """Add to the threshold and ROC figures' captions which methods they draw and which they
    leave out (ten overlapping lines could not be told apart)."""
    if not not_drawn:
        return
    note = (
        f" Drawn: {', '.join(drawn)} (the champion, the peer logreg, the MLP control and the "
        f"best others); left out for legibility: {', '.join(not_drawn)}, in the tables above "
        "and on their own MLflow runs."
    )
    for figure in figures[:2]:
        figure.caption += note


def worst_first(per_class: pd.DataFrame, champion: str) -> pd.DataFrame:
    """The per-class F1 table, the champion's worst classes first ("none" last), its mean
    support a whole number of products."""
    table = per_class.assign(support=per_class["support"].round().astype(int))
    if champion not in table:
        return table
    kinds = table.index.get_level_values("kind")
    ordered = [table[kinds != "none"].sort_values(champion, kind="stable"), table[kinds == "none"]]
    return pd.concat(ordered)


def team_lead_parts(
    runs: pd.DataFrame,
    method: str,
    threshold: float,
    store: Store,
    vectors: ProductVectors | None,
    tracking_uri: str,
    stage_seconds: dict[str, float],
) -> ReportParts:
    """Mistakes (when the vectors are given), confusions, examples and cost."""
    parts = ReportParts()
    if vectors is not None:
        predictions = champion_predictions(runs, method, store, vectors, tracking_uri, threshold)
        parts.mistakes = class_mistakes(predictions)
        parts.confusions = worst_confusions(predictions)
        parts.examples = mistaken_examples(predictions, parts.confusions, store)
    times = run_times(runs["run_id"].unique().tolist(), tracking_uri)
    parts.cost = cost_facts(times, stage_seconds)
    parts.cost_by_method = cost_by_method(runs, times)
    return parts

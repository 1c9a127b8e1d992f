"""What the comparison decides (docs/METHODS.md section 7): the champion, whether a configuration
beats the simple peer on every figure at once, and the weighted-AUC floor under which the
production model is not rebuilt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from embaug_core.common.environment import AUC_FLOOR, number
from embaug_core.evaluation.comparison import FIGURES, paired_differences

#: The figure the champion is chosen on (docs/METHODS.md section 7) and the methods it must beat.
CHAMPION_FIGURE = "tradeoff_auc"
CHAMPION_BASELINES = ("control", "logreg")
#: The simplest model within noise of the best: served when no method clearly leads.
FALLBACK = "logreg"
#: The champion's mean weighted AUC under which the production model is not rebuilt.
DEFAULT_AUC_FLOOR = 0.9


#: "At least equal" to the peer: within this margin, or a paired interval that includes zero.
EQUAL_MARGIN = 0.005
#: What beating the peer means (docs/METHODS.md 7): ahead on these, interval above zero ...
MUST_LEAD = ("weighted_auc", "equal_acc_point", "tradeoff_auc")
#: ... and at least equal on these, where logistic regression is strong.
MUST_MATCH = ("top1_known", "macro_f1_known")


def _verdict(row, margin: float) -> str:
    if row.ci_low > 0:
        return "ahead"
    if abs(row.mean_diff) <= margin or row.ci_low <= 0 <= row.ci_high:
        return "equal"
    return "behind"


def against_peer(
    results: pd.DataFrame, peer: str = FALLBACK, margin: float = EQUAL_MARGIN
) -> pd.DataFrame:
    """Each method paired with `peer` on the same trials: per figure the difference [95%
    interval] and ahead / equal / behind, and whether it beats the peer on every figure at
    once (ahead on MUST_LEAD, at least equal on MUST_MATCH). Rows: the winners first, then
    by how many of the five conditions hold."""
    figures = MUST_LEAD + MUST_MATCH
    differences = paired_differences(results, peer, figures)
    if differences.empty:
        return pd.DataFrame()
    verdict = [_verdict(row, margin) for row in differences.itertuples()]
    differences = differences.assign(
        verdict=verdict,
        cell=[
            f"{r.mean_diff:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}] {v}"
            for r, v in zip(differences.itertuples(), verdict, strict=True)
        ],
    )
    table = differences.pivot(index="method", columns="metric", values="cell")
    table = table[[f for f in figures if f in table.columns]]
    verdicts = differences.pivot(index="method", columns="metric", values="verdict")
    held = (verdicts.reindex(columns=list(MUST_LEAD)) == "ahead").sum(axis=1) + (
        verdicts.reindex(columns=list(MUST_MATCH)).isin(["ahead", "equal"])
    ).sum(axis=1)
    table.insert(0, "beats the peer", held == len(figures))
    table.insert(1, "conditions held", held.astype(int))
    return table.sort_values(["beats the peer", "conditions held"], ascending=False)


def auc_floor() -> float:
    """EMBAUG_AUC_FLOOR, else DEFAULT_AUC_FLOOR: a deployment's floor, which the runs that
    Dagster's automation and schedule launch (with default config) follow too."""
    return number(AUC_FLOOR, DEFAULT_AUC_FLOOR)


def why_auc_undefined(splits: Mapping[str, pd.DataFrame], champion: str) -> str:
    """Why the champion has no mean weighted AUC (NaN), in words: the AUC ranks each class
    (and "none") against the rest, so a trial whose evaluated products (H without S) hold
    fewer than two of them has none, and a mean over such trials is undefined."""
    found = []
    for trial, split in sorted(splits.items()):
        evaluated = split[split["role"] == "holdout"]
        counts = evaluated["category"].where(evaluated["known"], "none").value_counts()
        if len(counts) > 1:
            return f"no run of {champion} recorded a weighted AUC"
        if not len(counts):
            found.append(f"{trial}: no product")
        else:
            count, name = int(counts.iloc[0]), counts.index[0]
            found.append(f"{trial}: {count} product{'s' * (count > 1)}, all {name!r}")
    return (
        "every trial's evaluated products (H without S) hold fewer than two classes ('none' "
        f"counting as one), so no class can be ranked against another ({'; '.join(found)})"
    )


#: The figure used when H holds no "none" product (no class held out).
FIGURE_WITHOUT_NONE = "weighted_auc_mean"


@dataclass(frozen=True)
class ChampionChoice:
    """The method to serve, the figure it was chosen on, and the rule that decided."""

    method: str
    figure: str
    rule: str
    best: str
    clear_lead: bool


def choose_champion(
    results: pd.DataFrame,
    figure: str = CHAMPION_FIGURE,
    baselines: tuple[str, ...] = CHAMPION_BASELINES,
    fallback: str = FALLBACK,
) -> ChampionChoice:
    """The method with the best mean `figure` over trials when its paired lead over every
    baseline present has a 95% interval above zero; otherwise `fallback` (docs/METHODS.md 7)."""
    means = results[results["metric"] == figure].groupby("method")["value"].mean().dropna()
    if means.empty and figure != FIGURE_WITHOUT_NONE:
        # No "none" product in H (no class held out): the trade-off figures are undefined.
        chosen = choose_champion(results, FIGURE_WITHOUT_NONE, baselines, fallback)
        note = (
            f"the {FIGURES[figure][0]} is undefined without held-out classes, so the "
            f"{FIGURES[FIGURE_WITHOUT_NONE][0]} decided: "
        )
        return replace(chosen, rule=note + chosen.rule)
    if means.empty:
        methods = sorted(results["method"].unique())
        if not methods:
            raise ValueError(f"no results for the figure {figure!r}; cannot choose a champion")
        method = fallback if fallback in methods else methods[0]
        rule = f"no figure could be computed on so small a hold-out: {method}, the simplest"
        return ChampionChoice(method, figure, rule, method, False)
    best = str(means.idxmax())
    name = FIGURES.get(figure, (figure,))[0]
    if best == fallback:
        return ChampionChoice(best, figure, f"{best} has the best mean {name}", best, False)
    leads = []
    for baseline in (b for b in baselines if b != best and b in means.index):
        row = paired_differences(results, baseline, (figure,)).set_index("method").loc[best]
        leads.append((baseline, row))
    clear = all(row.ci_low > 0 for _, row in leads)
    described = "; ".join(
        f"lead over {b} {r.mean_diff:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]" for b, r in leads
    )
    if clear:
        rule = f"{best} has the best mean {name} and its {described or 'lead'}: above zero"
        return ChampionChoice(best, figure, rule, best, True)
    if fallback not in means.index:
        rule = f"{best} has the best mean {name}; no {fallback} run to fall back on"
        return ChampionChoice(best, figure, rule, best, False)
    rule = (
        f"{best} has the best mean {name} but its {described} includes zero: "
        f"{fallback}, the simplest model within noise of the best"
    )
    return ChampionChoice(fallback, figure, rule, best, False)

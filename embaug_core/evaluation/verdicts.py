"""What the comparison decides (docs/METHODS.md sections 7 and 8): whether a configuration beats
the simple peer on every figure at once (at the point a team deploys: its own tuned threshold),
the champion, and the weighted-AUC floor under which the production model is not rebuilt."""

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
#: What beating the peer means (docs/METHODS.md 8): ahead on these, interval above zero ...
MUST_LEAD = ("weighted_auc", "equal_acc_point", "tradeoff_auc")
#: ... and at least equal on these, where logistic regression is strong: top-1, and macro F1
#: and overall accuracy at each configuration's own threshold tuned on S (the paper's fixed
#: 0.6 stays in the comparison tables).
MUST_MATCH = ("top1_known", "macro_f1_known_tuned", "overall_acc_tuned")
#: The verdict on a figure when one trial gives no interval.
UNDEFINED = "no interval (1 trial)"


def _verdict(row, margin: float) -> str:
    if row.trials < 2:
        return UNDEFINED
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
    by how many of the six conditions hold. With one trial no interval exists: no figure is
    ahead or behind, and nothing beats the peer."""
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


def peer_beaters(results: pd.DataFrame, peer: str = FALLBACK) -> list[str]:
    """The configurations that beat `peer` on every figure at once."""
    table = against_peer(results, peer)
    return [] if table.empty else list(table.index[table["beats the peer"].astype(bool)])


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


def below_floor(
    champion: str, mean_auc: float, floor: float, splits: Mapping[str, pd.DataFrame]
) -> str:
    """Why the champion is not served (its mean weighted AUC is under `floor`, or undefined),
    in one sentence; "" when it clears the floor."""
    if mean_auc >= floor:
        return ""
    if mean_auc != mean_auc:  # NaN
        return f"{champion} has no mean weighted AUC to hold against the floor {floor}: " + (
            why_auc_undefined(splits, champion)
        )
    return f"{champion}'s mean weighted AUC {mean_auc:.3f} is under the floor {floor}"


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
    """The champion (docs/METHODS.md section 8): when configurations beat `fallback` (the
    peer) on every figure at once, the best of them by mean `figure`. Otherwise section 7's
    rule: the method with the best mean `figure` when its paired lead over every baseline
    present has a 95% interval above zero, else `fallback`. One trial gives no interval, so
    it serves `fallback` and says why."""
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
    if results["trial"].nunique() < 2 and fallback in means.index:
        rule = (
            f"one trial gives no interval to tell a lead from noise ({best} has the best mean "
            f"{name}): {fallback}, the simplest, until more trials run"
        )
        return ChampionChoice(fallback, figure, rule, best, False)
    winners = [m for m in peer_beaters(results, fallback) if m in means.index]
    if winners:
        chosen = str(means[winners].idxmax())
        rule = (
            f"{chosen} beats {fallback} on every figure at once and has the best mean {name} "
            f"of the {len(winners)} that do"
        )
        return ChampionChoice(chosen, figure, rule, best, True)
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

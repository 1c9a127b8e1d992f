"""When Dagster's automation retrains an asset (declarative automation, evaluated by the
`retraining_automation` sensor): once, after any of its inputs changed, for the partitions that
exist (a trial a user never ran is not trained because it is missing), when no input is running
or still waiting to be retrained itself, so each level waits for the one before it, whatever the
run grouping. Updates made by the command line's own runs (tagged embaug/trigger=demo) do not
count: `embaug demo` runs the whole graph itself."""

from __future__ import annotations

import dagster as dg

from embaug_core.common.environment import evidence_after_labels

AC = dg.AutomationCondition
TRIGGER_TAG, DEMO = "embaug/trigger", "demo"


def inputs_updated(ignore: tuple[str, ...] = ()) -> dg.AutomationCondition:
    """any_deps_updated(), except updates of the command line's in-process runs (and of the
    inputs named in `ignore`)."""
    updated = AC.any_deps_updated()
    if ignore:
        updated = updated.ignore(dg.AssetSelection.assets(*ignore))
    return updated.replace(
        "newly_updated_without_root",
        (
            AC.newly_updated()
            & ~AC.executed_with_root_target()
            & ~AC.all_new_updates_have_run_tags(tag_values={TRIGGER_TAG: DEMO})
        ).with_label("newly updated, not by the command line"),
    )


def stale_not_yet_requested() -> dg.AutomationCondition:
    """On an input: it changed since it was last handled, it exists, and it is not requested in
    this very tick beside the target."""
    return (
        inputs_updated().since_last_handled() & ~AC.missing() & ~AC.will_be_requested()
    ).with_label("stale, not yet requested")


def retrain(ignore: tuple[str, ...] = ()) -> dg.AutomationCondition:
    """Rematerialise an existing partition once after its inputs changed (those in `ignore`
    excepted), when every input is fresh and none is running."""
    return (
        inputs_updated(ignore).since_last_handled()
        & ~AC.missing()
        & ~AC.in_progress()
        & ~AC.any_deps_in_progress()
        & ~AC.any_deps_match(stale_not_yet_requested()).with_label("an input is still stale")
    ).with_label("retrain existing partitions")


def retrain_after_checks(ignore: tuple[str, ...] = ()) -> dg.AutomationCondition:
    """`retrain` (inputs in `ignore` excepted), and only when the inputs' blocking checks
    passed (the champion's floor)."""
    return (retrain(ignore) & AC.all_deps_blocking_checks_passed()).with_label(
        "retrain after blocking checks"
    )


def evidence_inputs_ignored() -> tuple[str, ...]:
    """The trials' splits ignore new people's labels when the evidence waits for the weekly
    schedule (EMBAUG_EVIDENCE_AFTER_LABELS=schedule): the production model learns them at
    once, the trials at the next catalogue refresh."""
    return ("human_labels",) if evidence_after_labels() == "schedule" else ()

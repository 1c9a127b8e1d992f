"""Partitions: one per trial, and one per trial x method for training. Keys are plain words
(`trial_0`, method names: Dagster forbids `, | [ ]` in keys).

Both sets are dynamic: they live in the Dagster instance, not in the code, so nothing is read
from the environment when the definitions load. The command line adds the trials and methods
it runs (`embaug demo --trials 10 --methods ...`); the first catalogue load adds the default
grid for people who start from the Dagster UI, where more can be added by hand."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from embaug_core.labels.splits import DEFAULT_TRIALS, trial_names
from embaug_core.training.methods import METHODS, get_method

TRIALS, METHOD_KEYS = "trials", "methods"

trial_partitions = dg.DynamicPartitionsDefinition(name=TRIALS)
method_partitions = dg.DynamicPartitionsDefinition(name=METHOD_KEYS)
trial_method_partitions = dg.MultiPartitionsDefinition(
    {"trial": trial_partitions, "method": method_partitions}
)


def trial_method_key(trial: str, method: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"trial": trial, "method": method})


def add_partitions(
    instance: dg.DagsterInstance, trials: Sequence[str], methods: Sequence[str] = ()
) -> None:
    """Make these trials and methods partitions of the instance (those it lacks); a method
    must be registered."""
    for method in methods:
        get_method(method)
    for name, keys in ((TRIALS, trials), (METHOD_KEYS, methods)):
        known = set(instance.get_dynamic_partitions(name))
        missing = [key for key in keys if key not in known]
        if missing:
            instance.add_dynamic_partitions(name, missing)


def add_default_partitions(instance: dg.DagsterInstance) -> None:
    """The default grid (DEFAULT_TRIALS trials x the default methods), when the instance has
    no trial yet: what someone who starts from the Dagster UI sees to materialise."""
    if not instance.get_dynamic_partitions(TRIALS):
        add_partitions(instance, trial_names(DEFAULT_TRIALS), list(METHODS))

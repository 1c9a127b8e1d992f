"""Partition keys are plain words: `trial_0` and method names (no `, | [ ]`). The number of
trials (EMBAUG_TRIALS, default 5) and the methods (EMBAUG_METHODS, default every registered
one) are read when the definitions load."""

import dagster as dg

from embaug_core.methods import ALL_METHODS, method_names
from embaug_core.splits import trial_names

TRIALS = trial_names()
#: Every registered method is a partition (the default comparison and the candidates), unless
#: EMBAUG_METHODS narrows them; `embaug demo` runs the default comparison.
METHOD_KEYS = method_names(default=ALL_METHODS)

trial_partitions = dg.StaticPartitionsDefinition(TRIALS)
method_partitions = dg.StaticPartitionsDefinition(METHOD_KEYS)
trial_method_partitions = dg.MultiPartitionsDefinition(
    {"trial": trial_partitions, "method": method_partitions}
)


def trial_method_key(trial: str, method: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"trial": trial, "method": method})

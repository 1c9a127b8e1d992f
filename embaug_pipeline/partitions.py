"""Partition keys are plain words: `trial_0` and method names (no `, | [ ]`)."""

import dagster as dg

from embaug_core.methods import METHODS

TRIALS = [f"trial_{i}" for i in range(5)]

trial_partitions = dg.StaticPartitionsDefinition(TRIALS)
method_partitions = dg.StaticPartitionsDefinition(list(METHODS))
trial_method_partitions = dg.MultiPartitionsDefinition(
    {"trial": trial_partitions, "method": method_partitions}
)


def trial_method_key(trial: str, method: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"trial": trial, "method": method})

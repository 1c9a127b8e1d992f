"""embaug_pipeline: the Dagster factory around embaug_core (assets, resources, CLI)."""

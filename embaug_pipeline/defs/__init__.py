"""The Dagster definitions, one folder per asset group in the graph's order: `catalog`,
`embeddings`, `labels`, `training`, `evaluation`, `serving`; resources and automation beside
them. `embaug_pipeline.definitions` loads them all."""

"""Evaluation: figures with a "none" category (`metrics`, `roc`, `scores`), statistics over
trials (`comparison`), what they decide (`verdicts`, `recommendation`), and the report
(`report`, `report_facts`, `figures`, `templates/`), assembled in one call (`assemble`)."""

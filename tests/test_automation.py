"""The retraining schedule and the sensors, evaluated against a real raw_products
materialisation of a small catalogue in the real layout."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from embaug_pipeline import definitions
from embaug_pipeline.automation import (
    DOWNSTREAM,
    catalogue_changed,
    catalogue_refresh,
    retrain_downstream,
    weekly_retraining,
)
from embaug_pipeline.partitions import METHOD_KEYS, TRIALS
from tests.conftest import write_kaggle_slice


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A catalogue of 12 real products, loaded once by raw_products at a 0.5 sample."""
    catalogue = tmp_path / "catalogue"
    write_kaggle_slice(catalogue, per_class=4, classes=("Watches", "Belts", "Socks"))
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    with dg.instance_for_test() as instance:
        settings = {"path": str(catalogue), "sample_fraction": 0.5}
        dg.materialize(
            definitions.ASSETS,
            selection=["raw_products"],
            instance=instance,
            resources=definitions.RESOURCES,
            run_config={"ops": {"raw_products": {"config": settings}}},
        )
        yield catalogue, instance


def _sensor(instance: dg.DagsterInstance, cursor: str | None = None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return context, catalogue_changed(context)


def test_sensor_waits_for_a_first_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path))
    with dg.instance_for_test() as instance:
        _, result = _sensor(instance)
        assert isinstance(result, dg.SkipReason) and "never materialised" in result.skip_message


def test_unchanged_or_touched_catalogue_requests_nothing(loaded):
    catalogue, instance = loaded
    context, result = _sensor(instance)
    assert isinstance(result, dg.SkipReason) and "unchanged" in result.skip_message
    image = next((catalogue / "images").iterdir())
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched_context, touched = _sensor(instance, context.cursor)
    assert isinstance(touched, dg.SkipReason)
    assert touched_context.cursor != context.cursor  # the new stat signature is remembered


def test_new_content_requests_one_refresh_with_the_last_settings(loaded):
    catalogue, instance = loaded
    first, _ = _sensor(instance)
    (catalogue / "images" / "unreferenced.jpg").write_bytes(b"no row names this file")
    _, nothing = _sensor(instance, first.cursor)
    assert isinstance(nothing, dg.SkipReason)  # only what the catalogue refers to counts
    image = next((catalogue / "images").glob("[0-9]*.jpg"))
    with Image.open(image) as photo:
        photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(image)
    context, request = _sensor(instance, first.cursor)
    assert isinstance(request, dg.RunRequest)
    settings = request.run_config["ops"]["raw_products"]["config"]
    assert settings["path"] == str(catalogue) and settings["sample_fraction"] == 0.5
    _, again = _sensor(instance, context.cursor)
    assert again.run_key == request.run_key  # Dagster launches one run per key
    assert context.cursor and first.cursor != context.cursor


def test_schedule_requests_a_refresh_with_the_last_settings(loaded):
    catalogue, instance = loaded
    assert weekly_retraining.cron_schedule == "0 3 * * 1"
    assert weekly_retraining.job_name == catalogue_refresh.name
    context = dg.build_schedule_context(instance=instance)
    request = weekly_retraining(context)
    assert request.run_config["ops"]["raw_products"]["config"]["path"] == str(catalogue)


def test_schedule_without_a_load_uses_the_defaults(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path))
    with dg.instance_for_test() as instance:
        request = weekly_retraining(dg.build_schedule_context(instance=instance))
        assert request.run_config == {}


def test_each_successful_refresh_continues_as_one_backfill_of_everything_downstream(loaded):
    _, instance = loaded
    repository = definitions.defs.get_repository_def()

    def evaluate(cursor: str | None = None):
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, repository_def=repository
        )
        return context, retrain_downstream(context)

    assert isinstance(evaluate()[1], dg.SkipReason)  # no refresh yet
    run = dg.DagsterRun(job_name=catalogue_refresh.name, status=dg.DagsterRunStatus.SUCCESS)
    instance.add_run(run)
    context, request = evaluate()
    subset = request.asset_graph_subset
    assert {key.to_user_string() for key in subset.asset_keys} == set(DOWNSTREAM)
    partitions = [p.asset_key.to_user_string() for p in subset.iterate_asset_partitions()]
    assert {name: partitions.count(name) for name in DOWNSTREAM} == {
        "trial_splits": len(TRIALS),
        "label_sets": len(TRIALS),
        "trained_models": len(TRIALS) * len(METHOD_KEYS),
        "evaluation_report": 1,
        "labeling_queue": 1,
    }
    assert request.tags["embaug/refresh_run"] == run.run_id
    assert isinstance(evaluate(context.cursor)[1], dg.SkipReason)  # continued once only

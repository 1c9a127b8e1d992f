"""The retraining schedule and the sensors, evaluated against a real raw_products
materialisation of a small catalogue in the real layout."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from embaug_core.labels.splits import trial_names
from embaug_pipeline import definitions
from embaug_pipeline.defs.automation import catalogue_changed, catalogue_refresh, weekly_retraining
from embaug_pipeline.partitions import add_partitions
from embaug_pipeline.run.graph import SERVING_ASSETS as SERVING
from tests.conftest import write_kaggle_slice


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A catalogue of 12 real products, loaded once by raw_products at a 0.5 sample."""
    catalogue = tmp_path / "catalogue"
    write_kaggle_slice(catalogue, per_class=4, classes=("Watches", "Belts", "Socks"))
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    with dg.instance_for_test() as instance:
        settings = {"path": str(catalogue), "sample_fraction": 0.5}
        definitions.materialize(
            selection=["raw_products"],
            instance=instance,
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


def _materialised(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> None:
    """Record a materialisation without running the asset (the conditions read only events)."""
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=partition))
    if key == "evaluation_report":  # its blocking check passed
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey(key),
                check_name="champion_weighted_auc_above_floor",
                passed=True,
            )
        )


def test_a_catalogue_change_retrains_each_existing_partition_once_in_order():
    """The automation's conditions ticked in-process on a demo's state (two trials, two
    methods; everything else never materialised): a refresh of the catalogue retrains exactly
    those partitions, once each, every level after the one before, the report after every
    model, and the production model, predictions and queue after the report."""
    trials, methods = trial_names(2), ["control", "logreg"]
    models = [f"{m}|{t}" for t in trials for m in methods]
    demo = [("raw_products", None), ("text_embeddings", None), ("image_embeddings", None)]
    demo += [("human_labels", None)]
    demo += [(key, t) for t in trials for key in ("trial_splits", "label_sets")]
    demo += [("trained_models", m) for m in models]
    demo += [(key, None) for key in ("evaluation_report", *SERVING)]
    graph = definitions.load().resolve_asset_graph()
    with dg.instance_for_test() as instance:
        add_partitions(instance, trials, methods)
        for key, partition in demo:
            _materialised(instance, key, partition)

        def tick(cursor):
            result = dg.evaluate_automation_conditions(
                defs=definitions.load(), instance=instance, cursor=cursor
            )
            requested = [
                (key.to_user_string(), partition)
                for key in graph.get_all_asset_keys()
                for partition in (result.get_requested_partitions(key) or [])
            ]
            return result.cursor, requested

        cursor, first = tick(None)
        assert first == []  # a daemon starting on a demo's state relaunches nothing
        for key in ("raw_products", "text_embeddings", "image_embeddings"):
            _materialised(instance, key)
        order: list[tuple[str, str | None]] = []
        when: dict[tuple[str, str | None], int] = {}
        for number in range(12):
            cursor, requested = tick(cursor)
            order += requested
            for key, partition in requested:
                when[(key, partition)] = number
                _materialised(instance, key, partition)
    expected = {("human_labels", None)}
    expected |= {(key, t) for t in trials for key in ("trial_splits", "label_sets")}
    expected |= {("trained_models", m) for m in models}
    expected |= {(key, None) for key in ("evaluation_report", *SERVING)}
    assert sorted(order, key=str) == sorted(expected, key=str)  # each once, nothing missing
    # Steps requested in the same tick with the same partitions run together, in dependency
    # order, in one run; a step of another partitions definition waits for a later tick.
    tick_of = when
    for trial in trials:
        assert tick_of[("trial_splits", trial)] <= tick_of[("label_sets", trial)]
        for method in methods:
            assert tick_of[("label_sets", trial)] < tick_of[("trained_models", f"{method}|{trial}")]
    last_model = max(tick_of[("trained_models", m)] for m in models)
    assert last_model < tick_of[("evaluation_report", None)]
    assert tick_of[("evaluation_report", None)] <= tick_of[("production_model", None)]
    assert tick_of[("production_model", None)] <= tick_of[("predictions", None)]
    assert tick_of[("predictions", None)] <= tick_of[("labeling_queue", None)]


@pytest.mark.slow  # reads the automation in fresh interpreters
def test_automation_is_off_unless_a_person_turns_it_on():
    """Every schedule and sensor started on by default; now only with EMBAUG_AUTOMATION=on
    (what `embaug ui --automation` sets), each one still switchable in the Dagster UI."""
    import subprocess
    import sys

    probe = (
        "from embaug_pipeline.defs import automation as a\n"
        "print(a.weekly_retraining.default_status.value, a.catalogue_changed.default_status.value,"
        " a.labels_dropped.default_status.value, a.retraining_automation.default_status.value)"
    )
    for chosen, expected in (("", "STOPPED"), ("on", "RUNNING")):
        env = {**os.environ, "EMBAUG_AUTOMATION": chosen}
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        )
        assert done.stdout.split() == [expected] * 4, done.stderr[-1000:]

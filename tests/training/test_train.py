"""Training: the paper's loop learns, follows its schedule, and its models round-trip."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from embaug_core.tracking.pyfunc import load_classifier, log_classifier, save_classifier
from embaug_core.training.mixup import get_augmenter
from embaug_core.training.model import build_head
from embaug_core.training.train import (
    TrainConfig,
    augmented_logits,
    fit_logreg,
    split_first_layer,
    train_classifier,
)


def blobs(n: int = 400, classes: int = 4, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (classes, dim)) + 50  # far from zero: standardisation matters
    labels = rng.integers(0, classes, n)
    return (centres[labels] + rng.normal(0, 1, (n, dim))).astype(np.float32), labels


@pytest.mark.parametrize("method", ["control", "soft_e_stitchup", "zeta_mixup"])
def test_mlp_learns_separable_classes_with_every_kind_of_batch(method):
    x, y = blobs()
    history = []
    classifier = train_classifier(
        x,
        y,
        ["a", "b", "c", "d"],
        get_augmenter(method),
        TrainConfig(epochs=12, batch_size=32),
        on_epoch=lambda epoch, loss, lr, model: history.append((epoch, loss, lr)),
    )
    x_test, y_test = blobs(seed=0)
    assert (classifier.predict_proba(x_test).argmax(1) == y_test).mean() > 0.95
    assert [h[0] for h in history] == list(range(1, 13))
    assert history[-1][1] < history[0][1]


@pytest.mark.parametrize("kind", ["mlp", "linear"])
@pytest.mark.parametrize("batch", [1, 7, 128])
def test_zeta_mixup_after_the_first_layer_equals_mixing_the_inputs(kind, batch):
    """The training loop mixes zeta-mixup batches after the head's first layer: the logits,
    targets and every parameter's gradient must be those of mixing the inputs themselves."""
    x = torch.randn(batch, 40, generator=torch.Generator().manual_seed(batch)) * 3 + 5
    y = torch.nn.functional.one_hot(torch.arange(batch) % 6, 6).float()
    zeta = get_augmenter("zeta_mixup")
    results = []
    for mix_inputs in (True, False):
        torch.manual_seed(0)  # the same parameters, and the same dropout masks
        head = build_head(kind, 40, 6).train()
        generator = torch.Generator().manual_seed(3)
        torch.manual_seed(1)
        if mix_inputs:
            mixed_x, targets = zeta(x, y, generator)
            logits = head(mixed_x)
        else:
            logits, targets = augmented_logits(split_first_layer(head), zeta, x, y, generator)
        torch.nn.functional.binary_cross_entropy_with_logits(logits, targets).backward()
        results.append((logits, targets, [p.grad for p in head.parameters()]))
    (logits_a, targets_a, grads_a), (logits_b, targets_b, grads_b) = results
    torch.testing.assert_close(logits_b, logits_a, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(targets_b, targets_a)
    for grad_b, grad_a in zip(grads_b, grads_a, strict=True):
        torch.testing.assert_close(grad_b, grad_a, rtol=1e-4, atol=1e-6)


def test_cyclic_learning_rate_peaks_after_the_step_size():
    x, y = blobs(n=64)
    rates = []
    train_classifier(
        x,
        y,
        list("abcd"),
        get_augmenter("control"),
        TrainConfig(epochs=24, batch_size=16, step_epochs=12),
        on_epoch=lambda epoch, loss, lr, model: rates.append(lr),
    )
    assert rates[11] == pytest.approx(3e-3) and rates[23] == pytest.approx(3e-4)
    assert rates[5] == pytest.approx(3e-4 + (3e-3 - 3e-4) / 2)


def test_same_seed_same_model():
    x, y = blobs(n=100)
    config = TrainConfig(epochs=3, batch_size=16, seed=4)
    a = train_classifier(x, y, list("abcd"), get_augmenter("soft_e_mixup"), config)
    b = train_classifier(x, y, list("abcd"), get_augmenter("soft_e_mixup"), config)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))


def test_logreg_peer_matches_scikit_learn_probabilities():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = blobs(n=200)
    peer = fit_logreg(x, y, list("abcd"))
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(max_iter=1000, random_state=0).fit(scaler.transform(x), y)
    np.testing.assert_allclose(
        peer.predict_proba(x), reference.predict_proba(scaler.transform(x)), atol=1e-4
    )
    two = fit_logreg(x[y < 2], y[y < 2], ["a", "b"])
    assert two.predict_proba(x[:3]).shape == (3, 2)


def test_models_round_trip_through_files_and_mlflow(tmp_path: Path):
    x, y = blobs(n=80)
    classifier = train_classifier(
        x, y, list("abcd"), get_augmenter("control"), TrainConfig(epochs=2)
    )
    again = load_classifier(save_classifier(classifier, tmp_path / "model"))
    np.testing.assert_allclose(again.predict_proba(x), classifier.predict_proba(x), atol=1e-6)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("t", (tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        uri = log_classifier(fit_logreg(x, y, list("abcd"))).model_uri
    loaded = mlflow.pyfunc.load_model(uri)
    frame = loaded.predict(x[:5])
    assert list(frame.columns) == list("abcd")
    np.testing.assert_allclose(frame.to_numpy().sum(1), 1, atol=1e-5)


def test_bad_training_input_is_refused():
    with pytest.raises(ValueError, match="as many labels as rows"):
        train_classifier(
            np.zeros((3, 2), np.float32), np.zeros(2, int), ["a"], get_augmenter("control")
        )
    with pytest.raises(ValueError, match="at least one training row"):
        fit_logreg(np.zeros((3, 2), np.float32), np.zeros(3, int), ["a", "b"])


def test_methods_registry_refuses_unknown_trainers_and_labels():
    from embaug_core.training.methods import METHODS, PAPERS, Method, get_method

    assert get_method("knn_aug__soft_e_stitchup").labels == "knn_aug"
    assert len(PAPERS) == 10
    extra = ["logreg__knn_distance", "logreg__mahalanobis", "logreg__energy"]
    assert list(METHODS) == [*PAPERS, *extra]
    assert get_method("logreg__energy").parts == ("logreg",)
    with pytest.raises(ValueError, match="trainer must be one of"):
        Method("svm", trainer="svm")
    with pytest.raises(ValueError, match="open_set method names one method"):
        Method("logreg__lof", trainer="open_set", parts=("logreg",), scorer="lof")
    with pytest.raises(ValueError, match="choose among control"):
        get_method("cutmix")


def test_candidate_methods_train_and_round_trip(tmp_path):
    """Every candidate configuration of issue 17 fits and saves; the hybrid takes its class
    from logistic regression and its confidence from the MLP."""
    from embaug_core.training.experiment import fit_method
    from embaug_core.training.methods import CANDIDATES, get_method
    from embaug_core.training.model import HybridClassifier

    x, y = blobs(n=90, classes=3)
    classes = ["a", "b", "c"]
    config = TrainConfig(epochs=2)
    for name, method in CANDIDATES.items():
        if method.labels != "seeds":
            continue
        model = fit_method(method, x, y, classes, config)
        probs = model.predict_proba(x)
        assert probs.shape == (len(x), 3) and np.isfinite(probs).all(), name
        assert load_classifier(save_classifier(model, tmp_path / name)).predict_proba(
            x
        ) == pytest.approx(probs, abs=1e-6), name
    hybrid = fit_method(get_method("hybrid__logreg__e_stitchup"), x, y, classes, config)
    assert isinstance(hybrid, HybridClassifier)
    probs = hybrid.predict_proba(x)
    peer = hybrid.classes_from.predict_proba(x)
    assert (probs.argmax(1) == peer.argmax(1)).all()
    assert probs.max(1) == pytest.approx(hybrid.confidence_from.predict_proba(x).max(1), abs=1e-6)
    softmax = fit_method(get_method("softmax_control"), x, y, classes, config)
    assert softmax.output == "softmax"
    assert softmax.predict_proba(x).sum(1) == pytest.approx(np.ones(len(x)), abs=1e-5)


def test_the_curve_is_scored_every_few_epochs_and_at_the_methods_own_last():
    """A method with its own epoch count (6 here, the config says 3) is scored at 4 and at its
    last epoch, 6: not at the config's 3."""
    from embaug_core.training.experiment import CurveSettings, TrialData, run_method
    from embaug_core.training.methods import Method

    x, y = blobs(n=120)
    data = TrialData(list("abcd"), x[:80], y[:80], x[80:], y[80:], np.arange(40), x[:0], y[:0])
    scored = []

    def on_epoch(epoch: int, values: dict[str, float]) -> None:
        if "overall_acc" in values:
            scored.append(epoch)

    method = Method("control_6", epochs=6)
    run_method(method, data, 0.5, TrainConfig(epochs=3), on_epoch=on_epoch, curve=CurveSettings())
    assert scored == [4, 6]

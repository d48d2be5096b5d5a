import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from transferkit.strategies.linear_head import LinearHead, fit_head


def blobs(n_classes, seed=0, n=60, d=5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, d)) * 3
    y = np.arange(n) % n_classes
    return centres[y] + rng.normal(size=(n, d)), y


@pytest.mark.parametrize("n_classes", [2, 3])
def test_probabilities_match_sklearn_and_survive_save_load(tmp_path, n_classes):
    X, y = blobs(n_classes)
    head = fit_head(X, y, X[:20], y[:20], standardize=False)
    reference = LogisticRegression(C=head.C, max_iter=3000, random_state=0).fit(X, y)
    np.testing.assert_allclose(head.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    head.save(tmp_path)
    loaded = LinearHead.load(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(X), head.predict_proba(X), atol=1e-5)
    assert head.selection == "dev accuracy"


def test_without_dev_uses_cross_validation_or_a_default():
    X, y = blobs(2)
    assert fit_head(X, y).selection == "5-fold cross-validation"
    assert fit_head(X[:3], np.array([0, 1, 0])).selection.startswith("default")


def test_a_fixed_C_stands_in_for_cross_validation_only_without_dev():
    X, y = blobs(3)
    fixed = fit_head(X, y, without_dev_C=3.0)
    assert (fixed.C, fixed.selection) == (3.0, "fixed (no dev data)")
    assert fit_head(X, y, X[:20], y[:20], without_dev_C=3.0).selection == "dev accuracy"


def multi_hot_blobs(seed=0, n=90, d=5):
    """Three labels, each decided by one input direction; the third carried by every row."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, np.stack([X[:, 0] > 0, X[:, 1] > 0.5, np.ones(n, dtype=bool)], axis=1).astype(np.int64)


def test_one_vs_rest_head_is_a_logistic_regression_per_label_and_survives_save_load(tmp_path):
    X, Y = multi_hot_blobs()
    head = fit_head(X, Y, X[:30], Y[:30], standardize=False, metric="micro_f1")
    assert head.one_vs_rest and head.coef.shape == (3, 5) and head.selection == "dev micro-F1"
    probs = head.predict_proba(X)
    assert probs.shape == (90, 3)
    for j in range(2):  # each label's own binary model, as scikit-learn fits it alone
        reference = LogisticRegression(C=head.C, max_iter=3000, random_state=0).fit(X, Y[:, j])
        np.testing.assert_allclose(probs[:, j], reference.predict_proba(X)[:, 1], atol=1e-6)
    # a label every row carries has nothing to separate: the smoothed training rate, (90.5 / 0.5)
    np.testing.assert_allclose(probs[:, 2], 90.5 / 91, atol=1e-9)
    head.save(tmp_path)
    assert json.loads((tmp_path / "head.json").read_text())["one_vs_rest"] is True
    loaded = LinearHead.load(tmp_path)
    assert loaded.one_vs_rest
    np.testing.assert_allclose(loaded.predict_proba(X), probs, atol=1e-5)


def test_one_vs_rest_without_dev_cross_validates_on_micro_f1_and_weighs_each_label():
    X, Y = multi_hot_blobs()
    assert fit_head(X, Y, metric="micro_f1").selection == "5-fold cross-validation (micro-F1)"
    weighted = fit_head(X, Y[:, :2], without_dev_C=1.0, class_weight="balanced")
    reference = LogisticRegression(C=1.0, max_iter=3000, random_state=0, class_weight="balanced").fit((X - X.mean(0)) / (X.std(0) + 1e-6), Y[:, 1])
    np.testing.assert_allclose(weighted.coef[1], reference.coef_[0], atol=1e-6)

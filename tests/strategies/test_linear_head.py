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

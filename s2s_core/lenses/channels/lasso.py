"""The μ-lasso of Oramas et al. (seed 004): a sparse W with X W ≈ L, one column per class, ‖w_c‖₁ ≤ μ.

``X`` ``(N, P)`` holds the pooled channel responses of N labelled images (:func:`~s2s_core.lenses.channels.probe.
pooled_responses`), ``L`` ``(N, K)`` their one-hot labels. For each class c,

    w_c = argmin ‖X w − L_c‖²   subject to   ‖w‖₁ ≤ μ

(with X and L centred, i.e. with an intercept). The solver is scikit-learn's LARS in its lasso variant
(``lars_path(method="lasso")``): it returns the exact solution path, piecewise linear, on which ‖w‖₁ grows
monotonically as the penalty shrinks, so the constrained solution for any μ is an exact interpolation between
two break points of the path. One μ serves every class, as in the paper.

**How μ is chosen** (when not given): ``folds``-fold cross-validation over a grid of μ (``grid`` values,
log-spaced from 1/1000 of the largest to the largest L1 norm the class paths reach, the paths being run down
to ``alpha_min_ratio`` of their first break point), scoring the squared error of predicting the held-out
one-hot labels, summed over classes; then the **one-standard-error rule** (Hastie, Tibshirani & Friedman,
ESL Sec. 7.10): the smallest μ whose error is within one standard error (over folds) of the best. That
favours the sparser W among those that predict equally well. The fit reports the resulting sparsity.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lars_path

from s2s_core.errors import ConfigError

MU_RULE = ("5-fold cross-validation of the held-out squared error of the one-hot labels over a log grid of mu, "
           "then the one-standard-error rule (smallest mu within 1 SE of the best)")


@dataclass
class LassoFit:
    """W ``(P, K)``, the intercept ``(K,)``, the μ used, how it was chosen, and the cross-validation curve."""

    W: np.ndarray
    intercept: np.ndarray
    mu: float
    rule: str
    cv: dict = field(default_factory=dict)

    def sparsity(self) -> dict:
        """Non-zero weights: per class (mean, min, max), in all, the fraction of W, and the channels any class uses."""
        nz = np.abs(self.W) > 0
        per_class = nz.sum(axis=0)
        return {"nonzero": int(nz.sum()), "fraction_nonzero": float(nz.mean()),
                "per_class_mean": float(per_class.mean()), "per_class_min": int(per_class.min()),
                "per_class_max": int(per_class.max()), "channels_used": int(nz.any(axis=1).sum()),
                "channels": int(self.W.shape[0])}


class _Path:
    """One class's exact lasso path: L1 norms at the break points and the coefficients there."""

    def __init__(self, X: np.ndarray, y: np.ndarray, gram: np.ndarray, alpha_min_ratio: float, max_steps: int):
        xy = X.T @ y
        alpha_max = float(np.abs(xy).max()) / X.shape[0]
        if alpha_max <= 0:
            self.norms, self.coefs = np.zeros(1), np.zeros((X.shape[1], 1))
            return
        with warnings.catch_warnings():
            # With fewer images than channels the path can end early (the residues vanish) or drop degenerate
            # regressors; LARS warns, and a mu beyond the path's end then takes its last point (see ``at``).
            warnings.simplefilter("ignore", ConvergenceWarning)
            _, _, coefs = lars_path(X, y, Xy=xy, Gram=gram, method="lasso", alpha_min=alpha_max * alpha_min_ratio,
                                    max_iter=max_steps)
        self.coefs = coefs
        self.norms = np.maximum.accumulate(np.abs(coefs).sum(axis=0))  # monotone; guards round-off

    @property
    def top(self) -> float:
        return float(self.norms[-1])

    def at(self, mu: float) -> np.ndarray:
        """The coefficients with ‖w‖₁ = μ (or the path's end, if μ lies beyond it)."""
        if mu >= self.norms[-1]:
            return self.coefs[:, -1].copy()
        j = int(np.searchsorted(self.norms, mu, side="right"))  # norms[j-1] <= mu < norms[j]
        lo, hi = self.norms[j - 1], self.norms[j]
        t = 0.0 if hi == lo else (mu - lo) / (hi - lo)
        return (1 - t) * self.coefs[:, j - 1] + t * self.coefs[:, j]


def _paths(X: np.ndarray, Y: np.ndarray, alpha_min_ratio: float, max_steps: int) -> tuple[list[_Path], np.ndarray,
                                                                                           np.ndarray]:
    xm, ym = X.mean(axis=0), Y.mean(axis=0)
    Xc, Yc = X - xm, Y - ym
    # A channel whose response does not vary over the images carries no information: its centred column is
    # round-off noise, on which LARS would put arbitrarily large weights. Such columns are set to zero.
    scale = np.abs(X).max(axis=0)
    Xc[:, np.abs(Xc).max(axis=0) <= 1e-9 * np.maximum(scale, 1e-30)] = 0.0
    gram = Xc.T @ Xc
    return [_Path(Xc, Yc[:, c], gram, alpha_min_ratio, max_steps) for c in range(Y.shape[1])], xm, ym


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    """``(N,)`` int labels -> ``(N, K)`` float64 one-hot rows."""
    out = np.zeros((len(labels), classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def fit_mu_lasso(X: np.ndarray, labels: np.ndarray, classes: int, *, mu: float | None = None, folds: int = 5,
                 grid: int = 30, alpha_min_ratio: float = 1e-3, max_steps: int = 500, seed: int = 0) -> LassoFit:
    """Solve the μ-lasso for every class (see the module docstring); ``mu=None`` chooses μ by the documented rule.

    Args:
        X: ``(N, P)`` pooled responses. labels: ``(N,)`` ints in ``[0, classes)``.
        mu: the L1 bound of every column; ``None``: cross-validated with the one-standard-error rule.
        folds, grid, alpha_min_ratio, max_steps: the rule's folds and μ grid, and how far each LARS path runs.
        seed: the fold assignment.
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if X.ndim != 2 or X.shape[0] != labels.shape[0] or X.shape[0] < 2:
        raise ConfigError(f"need responses (N, P) and N labels with N >= 2, got {X.shape} and {labels.shape}")
    if labels.min() < 0 or labels.max() >= classes:
        raise ConfigError(f"labels must lie in [0, {classes}), got {labels.min()}..{labels.max()}")
    if mu is not None and not mu > 0:
        raise ConfigError(f"--mu must be positive, got {mu}")
    Y = one_hot(labels, classes)
    paths, xm, ym = _paths(X, Y, alpha_min_ratio, max_steps)
    cv: dict = {}
    rule = "given"
    if mu is None:
        mu, cv = _choose_mu(X, Y, paths, folds, grid, alpha_min_ratio, max_steps, seed)
        rule = MU_RULE
    W = np.stack([p.at(mu) for p in paths], axis=1)
    intercept = ym - xm @ W
    return LassoFit(W=W, intercept=intercept, mu=float(mu), rule=rule, cv=cv)


def _choose_mu(X, Y, full, folds, grid, alpha_min_ratio, max_steps, seed) -> tuple[float, dict]:
    n = X.shape[0]
    folds = max(2, min(folds, n))
    top = max(p.top for p in full)
    if top <= 0:
        raise ConfigError("the responses do not vary with the labels: no channel can be relevant")
    mus = np.geomspace(top * 1e-3, top, grid)
    fold_of = np.random.default_rng(seed).permutation(n) % folds
    errors = np.zeros((folds, grid))
    for f in range(folds):
        train, test = fold_of != f, fold_of == f
        paths, xm, ym = _paths(X[train], Y[train], alpha_min_ratio, max_steps)
        Xt = X[test] - xm
        for g, mu in enumerate(mus):
            W = np.stack([p.at(mu) for p in paths], axis=1)
            errors[f, g] = ((Xt @ W + ym - Y[test]) ** 2).sum() / test.sum()
    mean, se = errors.mean(axis=0), errors.std(axis=0, ddof=1) / np.sqrt(folds)
    best = int(np.argmin(mean))
    chosen = int(np.flatnonzero(mean <= mean[best] + se[best])[0])
    return float(mus[chosen]), {"mu_grid": mus.tolist(), "cv_error": mean.tolist(), "cv_se": se.tolist(),
                                "best_mu": float(mus[best]), "folds": folds}

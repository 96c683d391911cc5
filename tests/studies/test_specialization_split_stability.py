"""The split-stability analysis (:mod:`attnlab.studies.specialization.split_stability`): its algebra against
explicit vectors, its force against the ODE drift, and its verdict where the answer is known: the
unspecialized plateau is unstable along every head's flip (the plateau's exit), the relaxed even split of
the fixed-value student is stable (the SGD attractor of most seeds)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from attnlab.studies.specialization import split_stability as S
from attnlab.studies.specialization.config import PRESETS, SpecializationConfig
from attnlab.studies.specialization.experiments import FLIP1, replica_seeds, setup_for
from attnlab.studies.specialization.theory import FieldSampler, drift, integrate_ode, mirrored
from attnlab.studies.specialization.train import init_weights, order_parameters


def _setup(n=3000, batches=4):
    cfg = dataclasses.replace(SpecializationConfig(**PRESETS["smoke"]), student_values="fixed", fixed_value="1/H")
    setup = setup_for(cfg, FLIP1, cfg.D, cfg.H, cfg.nu, "softmax")
    W, b = init_weights(setup, replica_seeds(cfg, "split", 1, cfg.D))
    A0, Q0 = order_parameters(W, setup.T)
    mc = lambda k: mirrored(FieldSampler(FLIP1, cfg.nu, cfg.L, cfg.noise, n // 2, 900 + k, H=cfg.H).fields, 1)
    return cfg, A0[0], S.consistent(A0[0], Q0[0]), b[0].double(), [mc(k) for k in range(batches)]


def test_moving_a_key_along_k_star_matches_explicit_vectors():
    g = torch.Generator().manual_seed(3)
    H, D = 4, 9
    W = torch.randn(2 * H, D, generator=g, dtype=torch.float64) * 0.3
    W[H:] = 0.0
    W[H:, 1] = 0.25                                   # fixed values along v* (teacher coordinate 1)
    A, Q = W[:, :2].clone(), W @ W.T
    A2, Q2 = S.with_keys_along(A, Q, 2, -0.7)
    W[2, 0] = -0.7
    assert torch.allclose(A2, W[:, :2], atol=1e-13) and torch.allclose(Q2, W @ W.T, atol=1e-13)


def test_flip_force_is_the_ode_drift_of_m():
    cfg, A, Q, b, batches = _setup(batches=1)
    A, Q = S.pattern_state(A, Q, (1, 1, 1, -1))
    f, var = S.flip_force(batches[0], A, Q, b, 1, cfg.lr)
    dA = drift(batches[0], A, Q, b, "softmax", cfg.lr, values="fixed")[0]
    assert math.isclose(f, float(dA[1, 0]), rel_tol=1e-12, abs_tol=1e-15) and var > 0


def test_verdict_unstable_on_the_plateau_and_stable_at_the_even_split():
    cfg, A0, Q0, b, batches = _setup()
    # the unspecialized plateau: every key orthogonal to k* -> every head's flip grows (the plateau's exit)
    A, Q = S.pattern_state(A0, Q0, (0, 0, 0, 0), 1.0)
    lam, se = S.flip_rate(batches, A, Q, b, 0, cfg.lr)
    assert S.verdict(True, lam, se) == "unstable", (lam, se)
    # the even split, relaxed: a head moved along the flip returns
    A, Q = S.pattern_state(A0, Q0, (1, 1, -1, -1))
    out = integrate_ode(batches[0], A, Q, b, "softmax", cfg.lr, 100.0, 0.5, 100.0, values="fixed")
    Af, Qf = torch.as_tensor(out["A"][-1]), torch.as_tensor(out["Q"][-1])
    assert np.isnan(S.first_switch(out["t"], out["A"][:, :4, 0])[0])
    lam, se = S.flip_rate(batches, Af, Qf, b, 0, cfg.lr)
    assert S.verdict(True, lam, se) == "stable", (lam, se)
    assert S.verdict(False, lam, se) == "unstable"     # a relaxation that changed the split is unstable


def test_first_switch_finds_a_head_that_changes_mode():
    t = np.arange(5.0)
    M = np.array([[0.5, 0.5], [0.4, 0.6], [0.1, 0.7], [-0.4, 0.8], [-0.6, 0.9]])
    assert S.first_switch(t, M) == (3.0, 0) and np.isnan(S.first_switch(t, np.abs(M))[0])

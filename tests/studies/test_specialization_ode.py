"""The `ode_matches_sgd` claim on synthetic plateau tables (where it must pass and where it must fail), and
the antithetic MC sample set that keeps the ODE's drift exactly symmetric on the M = 0 manifold."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from attnlab.studies.specialization import analysis
from attnlab.studies.specialization import claims as C
from attnlab.studies.specialization.config import SpecializationConfig
from attnlab.studies.specialization.data import Prior
from attnlab.studies.specialization.theory import FieldSampler, drift, mirrored

H, NT, T_EXIT = 4, 60, 40.0


def _base(rng):
    """Deterministic 'ODE' curves on t = 0..NT-1: dict name -> (NT, n) array, and the risk (NT,)."""
    t = np.arange(NT, dtype=float)[:, None]
    m0 = rng.normal(0, 0.01, H)
    ramp = np.clip((t - T_EXIT + 5) / 10, 0.0, 1.0)                       # |M| crosses 0.5 at t = T_EXIT
    M = m0 * np.exp(t / 20) * (1 - ramp) + np.array([1, -1, 1, -1]) * 0.9 * ramp
    N = np.repeat(0.3 * (1 - np.exp(-t / 10)), H, 1)
    return dict(M=M, N=N, Pvv=N ** 2 + 0.01, Rkk=0.01 + 0.001 * np.repeat(t, H, 1)), 1.0 - 0.3 * (1 - np.exp(-t[:, 0] / 10))


def _rows(curves, risk, source, D, seed):
    t = np.arange(NT, dtype=float)
    parts = []
    for name, v in curves.items():
        parts.append(pd.DataFrame(dict(t=np.repeat(t, H), risk=np.repeat(risk, H), name=name,
                                       head=np.tile(np.arange(H), NT), feature=0 if name in ("M", "N") else -1,
                                       value=v.reshape(-1))))
    df = pd.concat(parts, ignore_index=True)
    return df.assign(experiment="plateau", source=source, activation="softmax", D=D, seed=seed, nu=16.0, H=H)


def _table(noise=0.5, offset=0.0, risk_offset=0.0, seeds=4, Ds=(100, 400, 1600), seed=0):
    """SGD = ODE + noise / sqrt(D) (i.i.d. per time and quantity) + a constant offset on N that does not shrink."""
    rng = np.random.default_rng(seed)
    frames = []
    for D in Ds:
        for s in range(seeds):
            curves, risk = _base(rng)
            frames.append(_rows(curves, risk, "ode", D, s))
            noisy = {k: v + noise / np.sqrt(D) * rng.normal(size=v.shape) for k, v in curves.items()}
            noisy["N"] = noisy["N"] + offset
            r = risk + risk_offset + noise / np.sqrt(D) * rng.normal(size=risk.shape)
            frames.append(_rows(noisy, r, "sgd", D, s))
    return {"dynamics": pd.concat(frames, ignore_index=True)}


CFG = SpecializationConfig(ode_D=400)


def _final(tables):
    """Task tables plus the analysis' derived tables (as finalize leaves them)."""
    return {**tables, **analysis.derive(tables, CFG)}


def test_ode_claim_passes_when_deviations_shrink_like_inverse_sqrt_D():
    v = C.check_ode(_final(_table()), CFG)
    assert v.passed is True, v.detail
    b, se = v.value["slope"], v.value["slope SE"]
    assert abs(b + 0.5) < 3 * se and "plateau window 0 < t <= 29" in v.detail


def test_ode_claim_fails_on_offset_that_does_not_shrink():
    v = C.check_ode(_final(_table(offset=0.1)), CFG)          # beyond the 0.05 tolerance: (a) and (b) both fail
    assert v.passed is False
    assert "NOT all" in v.detail and "NOT consistent" in v.detail
    v = C.check_ode(_final(_table(offset=0.04)), CFG)         # within the tolerance, but the deviation floors: (b) fails
    assert v.passed is False and "NOT consistent" in v.detail and "NOT all" not in v.detail
    v = C.check_ode(_final(_table(noise=0.0, offset=0.1)), CFG)   # pure offset: e_D flat in D
    assert v.passed is False and "does NOT shrink" in v.detail


def test_ode_claim_fails_on_risk_offset_at_largest_D():
    v = C.check_ode(_final(_table(risk_offset=0.1)), CFG)
    assert v.passed is False and "NOT all" in v.detail


def test_ode_claim_undecided_without_replicas_or_window():
    assert C.check_ode(_final(_table(seeds=1)), CFG).passed is None
    assert C.check_ode(_final(_table(Ds=(400,))), CFG).passed is None
    assert C.check_ode(_final({"dynamics": _table()["dynamics"].query("source == 'sgd'")}), CFG).passed is None


def test_mirrored_fields_make_the_M_drift_vanish_at_M_zero():
    prior = Prior.flipped((0.0,), (1.0,))
    fs = FieldSampler(prior, 16.0, 4, 0.1, 1000, 3, H=2).fields
    A = torch.zeros(4, 2, dtype=torch.float64)
    A[2:, 1] = 0.2                                     # values partly aligned with v*, keys at M = 0
    Q = 0.05 * torch.eye(4, dtype=torch.float64) + A @ A.T
    b = torch.zeros(2, dtype=torch.float64)
    dA_plain = drift(fs, A, Q, b, "softmax", 0.3)[0]
    dA_anti = drift(mirrored(fs, 1), A, Q, b, "softmax", 0.3)[0]
    assert dA_plain[:2, 0].abs().max() > 1e-4         # the plain MC estimate breaks k -> -k by O(1/sqrt(N))
    assert dA_anti[:2, 0].abs().max() < 1e-12
    # the other drifts are unbiased estimates of the same thing: close to the plain ones
    assert (dA_anti[2:, 1] - dA_plain[2:, 1]).abs().max() < 0.05


def test_mirrored_each_makes_a_feature_block_invariant():
    """Mirrored per feature, the drift of A[:, 1] vanishes exactly at A[:, 1] = 0 even with feature 0 learned,
    and the feature-1 Jacobian there matches a finite step of the drift."""
    from attnlab.studies.specialization.theory import feature_jacobian, mirrored_each, project_out
    prior = Prior.gaussian((0.0, 0.0), (1.0, 0.5))
    fs = FieldSampler(prior, 16.0, 4, 0.1, 1000, 5, H=2).fields
    A = torch.zeros(4, 3, dtype=torch.float64)
    A[0, 0], A[1, 0], A[0, 1] = 0.8, -0.7, 0.05        # feature 0 learned, a little of feature 1
    A[2:, 2] = 0.6
    Q = 0.05 * torch.eye(4, dtype=torch.float64) + A @ A.T
    b = torch.zeros(2, dtype=torch.float64)
    A0, Q0 = project_out(A, Q, [1])
    assert float(A0[:, 1].abs().max()) == 0.0 and torch.allclose(Q0 - A0 @ A0.T, Q - A @ A.T)
    fm = mirrored_each(fs, [0, 1])
    assert fm.u.shape[0] == 4 * fs.u.shape[0]
    assert drift(fs, A0, Q0, b, "softmax", 0.3)[0][:, 1].abs().max() > 1e-4
    assert drift(fm, A0, Q0, b, "softmax", 0.3)[0][:, 1].abs().max() < 1e-12
    J = feature_jacobian(fm, A0, Q0, b, "softmax", 0.3, 1)
    e = torch.zeros(4, dtype=torch.float64)
    e[1] = 1e-4
    A1 = A0.clone()
    A1[:, 1] = e
    d1 = drift(fm, A1, Q0, b, "softmax", 0.3)[0][:, 1].numpy()
    assert np.allclose(d1, J @ e.numpy(), atol=1e-8)

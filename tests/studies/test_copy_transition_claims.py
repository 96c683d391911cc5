"""copy-transition claims: each check passes on a synthetic table built to satisfy it and fails on one built
to violate it."""
import functools
import math

import numpy as np
import pandas as pd
import pytest

from attnlab.config import build_config
from attnlab.studies.copy_transition import STUDY
from attnlab.studies.copy_transition import claims as C

CFG = build_config(STUDY.config_cls, STUDY.presets, "quick")
LS = (32, 64, 128, 256, 512)


def _pstar(L):
    return 0.7 * L * math.log(L) ** 2 * (1 + 0.02 * math.log(L))


def tables(**mods):
    t = {k: v.copy() for k, v in _base_tables().items()}
    for name, fn in mods.items():
        t[name] = fn(t[name])
    return t


@functools.lru_cache(maxsize=1)
def _base_tables():
    rng = np.random.default_rng(0)
    trans, curve, onset = [], [], []
    for L in LS:
        Ps = _pstar(L)
        trans.append(dict(attention="softmax", L=L, P_star=Ps, P_spinodal_low=0.95 * Ps, P_spinodal_high=1.1 * Ps,
                          P_c=np.nan, m_low=1 / L + 0.002, m_high=0.15, residual_low=0.95, residual_high=0.45))
        trans.append(dict(attention="linear", L=L, P_star=np.nan, P_spinodal_low=np.nan, P_spinodal_high=np.nan,
                          P_c=float(L), m_low=np.nan, m_high=np.nan, residual_low=np.nan, residual_high=np.nan))
        P = np.geomspace(0.05 * L, 500 * L, 60)
        m_s = np.where(P < Ps, 1 / L + 0.002 * P / Ps, 0.15 + 0.1 * np.log(P / Ps))
        curve.append(pd.DataFrame(dict(attention="softmax", L=L, P=P, m=m_s, residual=np.where(P < Ps, 0.95, 0.4),
                                       n_minima=1)))
        x = np.clip((P - L) / L, 0, None)
        m_l = x / (1 + x)
        curve.append(pd.DataFrame(dict(attention="linear", L=L, P=P, m=m_l, residual=1 - m_l**1.5 * (P > L),
                                       n_minima=1)))
        dP = np.geomspace(1e-3, 0.3, 12) * L
        onset.append(pd.DataFrame(dict(L=L, P=L + dP, P_minus_Pc=dP, a=0.9 * (dP / L) ** 0.5)))
    rows = []
    L = CFG.sample_L
    Ps, Pc = _pstar(L), float(L)
    for att, ref in (("softmax", Ps), ("linear", Pc)):
        for f in (0.1, 0.3, 0.6, 0.97, 1.05, 1.3, 2.0, 4.0):
            P = round(f * ref)
            for init in ("uniform", "copy"):
                for seed in range(4):
                    if att == "softmax":
                        th = 1 / L if P < Ps else 0.2
                        m = (1 / L if P < 1.1 * Ps else 0.2) if init == "uniform" else (0.2 if P > 0.95 * Ps else 1 / L)
                    else:
                        th = m = max(0.0, (P - Pc) / P)
                    rows.append(dict(method="mala", init=init, attention=att, L=L, P=P, seed=seed,
                                     m=m + rng.normal(0, 0.003), residual=1 - 3 * th + rng.normal(0, 0.003),
                                     m_theory=th, residual_theory=1 - 3 * th))
        for f in np.geomspace(0.3, 3.0, 21):
            P = round(f * ref)
            for seed in range(4):
                if att == "softmax":
                    m = 1 / L if P < 1.1 * Ps else 0.2 + 0.02 * math.log(P / Ps)
                else:
                    m = max(0.0, 1 - Pc / P)
                rows.append(dict(method="adam", init="uniform", attention=att, L=L, P=P, seed=seed,
                                 m=m + rng.normal(0, 0.002), residual=0.5, m_theory=m, residual_theory=0.5))
    return dict(transition=pd.DataFrame(trans), theory_curve=pd.concat(curve, ignore_index=True),
                linear_onset=pd.concat(onset, ignore_index=True), sampling=pd.DataFrame(rows))


def _set(mask_fn, col, value_fn):
    def f(df):
        mask = mask_fn(df)
        df.loc[mask, col] = value_fn(df.loc[mask])
        return df
    return f


FAILS = {
    "softmax_transition_is_first_order": dict(transition=_set(lambda d: d.attention == "softmax", "m_high",
                                                              lambda d: d.m_low)),
    "linear_transition_is_second_order_then_crossover": dict(linear_onset=_set(lambda d: d.a > -1, "a",
                                                                               lambda d: d.P_minus_Pc / d.L)),
    "critical_data_scales_as_L_log2_L": dict(transition=_set(lambda d: d.attention == "softmax", "P_star",
                                                             lambda d: 3.0 * d.L)),
    "sampling_matches_theory_away_from_transition": dict(sampling=_set(
        lambda d: (d.method == "mala") & (d.attention == "softmax") & (d.P > 2 * _pstar(32)), "m",
        lambda d: d.m + 0.2)),
    "hysteresis_inside_coexistence_window": dict(sampling=_set(
        lambda d: (d.method == "mala") & (d.init == "copy"), "m",
        lambda d: d.m_theory)),
    "adam_shows_abrupt_emergence": dict(sampling=_set(
        lambda d: (d.method == "adam") & (d.attention == "softmax"), "m",
        lambda d: np.sqrt(np.clip(d.P / _pstar(32) - 1, 0, None)))),
    "no_precursor_below_transition": dict(transition=_set(lambda d: d.attention == "softmax", "m_low",
                                                          lambda d: d.m_high - 0.01)),
    "linear_onset_precedes_softmax_jump": dict(transition=_set(lambda d: d.attention == "linear", "P_c",
                                                               lambda d: 0.5 * d.L * np.log(d.L) ** 2)),
}


def _claim(cid):
    return {c.id: c for c in STUDY.claims()}[cid]


def test_every_issue_claim_is_registered():
    assert [c.id for c in STUDY.claims()] == list(FAILS)


@pytest.mark.parametrize("cid", list(FAILS))
def test_claim_passes_on_a_table_that_satisfies_it(cid):
    v = _claim(cid).check(tables(), CFG)
    assert v.passed is True, v.detail


@pytest.mark.parametrize("cid", list(FAILS))
def test_claim_fails_on_a_table_that_violates_it(cid):
    v = _claim(cid).check(tables(**FAILS[cid]), CFG)
    assert v.passed is False, v.detail


@pytest.mark.parametrize("cid", list(FAILS))
def test_claim_undecided_without_tables(cid):
    v = _claim(cid).check({}, CFG)
    assert v.passed is None and v.detail


def test_sqrt_onset_bound_is_respected_by_a_sqrt_onset():
    P = np.geomspace(10, 100, 21)
    b = C.sqrt_onset_step_ratio(P)
    assert 1.0 < b < 4.0
    d = np.sort(np.diff(np.sqrt(np.clip(P - 31.0, 0, None))))
    assert d[-1] / d[-2] <= b

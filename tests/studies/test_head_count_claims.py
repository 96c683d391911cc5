"""head-count: every claim check passes on a table where the claim holds and fails where it does not."""
import numpy as np
import pandas as pd
import pytest

from attnlab.claims import evaluate
from attnlab.studies.head_count import analysis as A
from attnlab.studies.head_count import claims as C
from attnlab.studies.head_count.config import HeadCountConfig

CFG = HeadCountConfig()
# paper Table 2 (T = 16, 64), the shape the claims describe
PAPER = {1: (1.09e-1, 1.14e-1), 2: (8.4e-3, 1.31e-2), 3: (6.4e-4, 1.31e-3), 4: (4.4e-5, 8.8e-6), 5: (1.1e-5, 4.2e-6)}


def nmse_table(grid, seeds=2, spread=1.02, D=4):
    """grid {h: (nmse at T=16, nmse at T=64)} -> an nmse table with `seeds` seeds (the second slightly worse)."""
    rows = []
    for h, vals in grid.items():
        for T, v in zip((16, 64), vals):
            for s in range(seeds):
                rows.append({"experiment": "main", "D": D, "h": h, "T": T, "n": 8, "N": 32, "layers": 1,
                             "width_mode": "per_head", "seed": s, "nmse_val": v * spread ** s,
                             "params_ffn": 1, "params_total": 1})
    return A.analyse(CFG, {"nmse": pd.DataFrame(rows)})


def test_sharp_drop_pass_and_fail():
    assert C.check_sharp_drop(nmse_table(PAPER), CFG).passed is True
    flat = {h: (v[0] * 0 + 0.1 / h, 0.1 / h) for h, v in PAPER.items()}          # smooth 1/h decay
    v = C.check_sharp_drop(nmse_table(flat), CFG)
    assert v.passed is False and min(v.value.values()) == pytest.approx(4 / 3)
    early = {**PAPER, 3: (4.4e-5, 8.8e-6)}                                      # drop at 2 -> 3 instead
    assert C.check_sharp_drop(nmse_table(early), CFG).passed is False
    assert C.check_sharp_drop(A.analyse(CFG, {"nmse": nmse_table(PAPER)["nmse"].query("h != 3")}), CFG).passed is None


def test_monotone_pass_and_fail():
    assert C.check_monotone(nmse_table(PAPER), CFG).passed is True
    slow = {**PAPER, 2: (7e-2, 8e-2)}                                           # 1 -> 2 only 1.6x
    assert C.check_monotone(nmse_table(slow), CFG).passed is False
    blowup = {**PAPER, 5: (1e-7, 1e-7)}                                         # keeps falling above D
    assert C.check_monotone(nmse_table(blowup), CFG).passed is False


def test_T_trend_pass_fail_undecided():
    assert C.check_T_trend(nmse_table(PAPER), CFG).passed is True
    no_growth = {**PAPER, 3: (1.3e-3, 1.31e-3)}
    v = C.check_T_trend(nmse_table(no_growth), CFG)
    assert v.passed is False and v.value["h=3"] == pytest.approx(1.31 / 1.3, rel=1e-6)
    grows_at_D = {**PAPER, 4: (1e-5, 1e-4)}
    assert C.check_T_trend(nmse_table(grows_at_D), CFG).passed is False
    noisy = nmse_table(PAPER, spread=6.0)                                        # seeds 6x apart: inside Z se
    assert C.check_T_trend(noisy, CFG).passed is None
    one_T = A.analyse(CFG, {"nmse": nmse_table(PAPER)["nmse"].query("T == 16")})
    assert evaluate([C.CLAIMS[2]], one_T, CFG)[0]["status"] == "undecided"


def construction_table(slope=-1.0, violations=0):
    rows = []
    for beta in (10.0, 100.0, 1000.0):
        rows.append({"beta": beta, "feature": 0, "samples": 100, "max_excess": 0.5 * beta ** slope, "mean_excess": 0.1,
                     "upper_bound": 1.0, "violations_upper": violations, "violations_lower": 0,
                     "log_max_excess_se": 0.01, "set_size": 16, "T": 64, "D": 3, "d": 2})
    return {"construction_rate": A.construction_rate_table(pd.DataFrame(rows))}


def test_construction_pass_and_fail():
    assert C.check_construction(construction_table(-1.1), CFG).passed is True
    assert C.check_construction(construction_table(-0.8), CFG).passed is False     # slower than 1/beta
    assert C.check_construction(construction_table(-1.1, violations=3), CFG).passed is False


def test_memorization_pass_and_fail():
    ok = pd.DataFrame({"T": [4, 8], "max_abs_err": [0.0, 1e-8], "dtype": ["float32"] * 2})
    assert C.check_memorization({"memorization": ok}, CFG).passed is True
    bad = ok.assign(max_abs_err=[0.0, 1e-3])
    assert C.check_memorization({"memorization": bad}, CFG).passed is False


def bound_table(shift=0.0, first=140):
    from attnlab.studies.head_count import theory
    rows = []
    for n, s, D in [(8, 3, 4), (8, 1, 4), (2, 3, 4)]:
        for T in range(4, 301, 4):
            rows.append({"n": n, "s": s, "D": D, "T": T, "k": theory.bound_exponent(T, n, s, D) + shift,
                         "first_T": first if (n, s, D) == (8, 3, 4) else 0, "experiment_T": T in (16, 64)})
    return {"bound_exponent": pd.DataFrame(rows)}


def test_bound_exponent_pass_and_fail():
    assert C.check_bound_exponent(bound_table(), CFG).passed is True
    assert C.check_bound_exponent(bound_table(shift=0.05), CFG).passed is False   # e.g. a wrong +1
    assert C.check_bound_exponent(bound_table(first=136), CFG).passed is False


def variance_tables(v8=0.372, v128=0.171, decreasing=True, diff=1e-16):
    rows = [{"kind": "single_max", "D": 1, "T": 8, "var": v8, "se": 0.002},
            {"kind": "single_max", "D": 1, "T": 128, "var": v128, "se": 0.002}]
    tv = [1.5, 1.2, 0.75] if decreasing else [1.5, 1.6, 0.75]
    rows += [{"kind": "target", "D": 4, "T": T, "var": v, "se": 0.01} for T, v in zip((8, 16, 128), tv)]
    ident = pd.DataFrame({"trial": [0], "nmse": [0.5], "one_minus_r2": [0.5], "abs_diff": [diff]})
    return {"target_variance": pd.DataFrame(rows), "nmse_identity": ident}


def test_nmse_normalization_pass_and_fail():
    assert C.check_nmse_normalization(variance_tables(), CFG).passed is True
    assert C.check_nmse_normalization(variance_tables(v8=0.30), CFG).passed is False   # e.g. unbiased var of T=16
    assert C.check_nmse_normalization(variance_tables(decreasing=False), CFG).passed is False
    assert C.check_nmse_normalization(variance_tables(diff=1e-3), CFG).passed is False


def test_every_claim_undecided_on_empty_tables():
    for r in evaluate(C.CLAIMS, {}, CFG):
        assert r["status"] == "undecided" and r["detail"].startswith("missing table"), r


def test_claim_values_are_numbers_or_flat_dicts():
    tables = {**nmse_table(PAPER), **variance_tables(), **bound_table(), **construction_table(-1.1),
              "memorization": pd.DataFrame({"T": [4], "max_abs_err": [0.0], "dtype": ["float32"]})}
    for r in evaluate(C.CLAIMS, tables, CFG):
        assert r["status"] == "pass", r
        v = r["value"]
        assert isinstance(v, (int, float)) or (isinstance(v, dict) and all(isinstance(x, (int, float))
                                                                             for x in v.values())), r
        assert isinstance(r["threshold"], (str, int, float)), r
    kinds = {c.id: c.kind for c in C.CLAIMS}
    assert kinds["sharp_drop_at_h_equals_D"] == "finding" and kinds["memorization_head_averages_sequence"] == "consistency"

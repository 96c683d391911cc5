"""Shared claim statistics: the needs guard, the slope fit against scipy, the confidence policy."""
import math

import numpy as np
import pandas as pd
from scipy import stats

from attnlab.claims import CONFIDENCE, Z, Claim, Verdict, diff_z, evaluate, missing, slope_fit


def test_confidence_policy_is_one_number():
    assert CONFIDENCE == 0.99 and math.isclose(Z, stats.norm.ppf(0.995), rel_tol=1e-12)


def test_slope_fit_matches_scipy_linregress():
    g = np.random.default_rng(0)
    x = np.linspace(1, 10, 12)
    y = 2.0 - 0.7 * x + g.normal(0, 0.3, x.size)
    fit = slope_fit(x, y)
    ref = stats.linregress(x, y)
    assert math.isclose(fit.slope, ref.slope, rel_tol=1e-12)
    assert math.isclose(fit.se, ref.stderr, rel_tol=1e-10)
    t = stats.t.ppf(0.995, x.size - 2)
    assert math.isclose(fit.high - fit.slope, t * ref.stderr, rel_tol=1e-10)
    logfit = slope_fit(x, np.exp(y), log_x=False, log_y=True)
    assert math.isclose(logfit.slope, fit.slope, rel_tol=1e-10)
    assert math.isnan(slope_fit([1.0], [2.0]).slope)


def test_needs_guard_makes_undecided_without_running_the_check():
    ran = []

    def check(tables, config):
        ran.append(1)
        return Verdict(True, 1.0)

    c = Claim("c", "s", "paper", check, needs={"t": ("a", "b")})
    assert missing({}, c.needs) == "missing table t"
    res = evaluate([c], {"t": pd.DataFrame({"a": [1]})}, None)[0]
    assert res["status"] == "undecided" and "missing columns b of table t" in res["detail"] and not ran
    res = evaluate([c], {"t": pd.DataFrame({"a": [1], "b": [2]})}, None)[0]
    assert res["status"] == "pass" and res["kind"] == "finding" and ran


def test_diff_z():
    assert diff_z(1.0, 0.3, 0.0, 0.4) == 2.0
    assert diff_z(1.0, 0.0, 1.0, 0.0) == 0.0

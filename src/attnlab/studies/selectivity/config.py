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
    critical_fracs: the N grid of the KS critical-N scan as fractions of L (N = max(1, round(f L))); it runs up to
                 0.95 L so that the scan finds the critical N wherever it lies (on SmolLM2/MiniLM it is near 0.8 L).
    ks_alphas:   KS significance levels (paper: 0.01 in the text, 0.05 in Algorithm 3).
    max_rows:    query rows per head (evenly spaced; all when L <= max_rows) of the L and N sweeps.
    mc_rows, mc_subsets: query rows per head (evenly spaced) and random N-subsets per row for the Monte-Carlo
                 E[d~] of the L and N sweeps; crit_rows rows per head enter the critical-N scan (true d~ and its
                 Monte-Carlo expectation on the same rows).
    critical_expectation: "mc" (Monte-Carlo E[d~], default) or "main" (closed-form main term) as the KS's
                 "expected distance" sample (brief, open question 6).
    sep_L, sep_Ns: context length and N grid of the separability experiment (Fig. 3).
    grad_L, grad_rows, grad_Ts, grad_eps: gradient-sensitivity experiment (Fig. 4) on raw q.k logits.
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
    critical_fracs: tuple[float, ...] = (0.01, 0.02, 0.04, 0.06, 0.08, 0.12, 0.18, 0.25, 0.35, 0.5, 0.65, 0.8, 0.9,
                                         0.95)
    ks_alphas: tuple[float, ...] = (0.01, 0.05)
    max_rows: int = 256
    crit_rows: int = 16
    critical_expectation: str = "mc"
    mc_rows: int = 16
    mc_subsets: int = 16
    sep_L: int = 256
    sep_Ns: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    grad_L: int = 256
    grad_rows: int = 32
    grad_Ts: tuple[float, ...] = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
                                  20.0, 50.0, 100.0)
    grad_eps: tuple[float, ...] = (1e-3, 1e-1, 10.0)
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
        self.check_positive("chunks", "Ls", "N_fixed", "L_fixed", "Ns", "critical_fracs", "ks_alphas",
                            "max_rows", "crit_rows", "mc_rows", "mc_subsets", "sep_L", "sep_Ns", "grad_L", "grad_rows",
                            "grad_Ts", "grad_eps", "norm_L", "norm_Ns", "syn_d", "syn_Ls", "syn_lemma_Ls",
                            "syn_Ts", "syn_reps", "syn_mc_subsets", "syn_sep_reps")
        for a in self.ks_alphas:
            if not 0 < a < 1:
                raise ConfigError("ks_alphas", f"each level must be in (0, 1), got {a}")
        for f in self.critical_fracs:
            if not 0 < f < 1:
                raise ConfigError("critical_fracs", f"each fraction must be in (0, 1), got {f}")
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
                  critical_fracs=(0.02, 0.05, 0.1, 0.2, 0.3), crit_rows=16, mc_rows=8, mc_subsets=16,
                  sep_L=128, sep_Ns=(1, 2, 4, 8, 16, 32), grad_L=64, grad_rows=8,
                  grad_Ts=(1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0), norm_L=64, syn_Ls=(32, 64, 128, 256),
                  syn_lemma_Ls=(32, 256, 2048), syn_reps=6, syn_mc_subsets=64, syn_sep_reps=6),
    # minutes on 2 cores: synthetic + SmolLM2 (L up to 1024) + MiniLM (L up to 512)
    "quick": dict(),
    # paper-like: GPT-2 (when the user has it) + the offline models, more chunks, every 2nd row
    "paper": dict(models=(("gpt2",) if _gpt2_available() else ()) + ("smollm2", "minilm"), chunks=6, crit_rows=128, mc_rows=64, mc_subsets=100,
                  sep_L=512, grad_rows=128, syn_reps=60),
}

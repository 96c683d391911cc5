"""gd-heads: optimization and generalization of single-layer multi-head attention trained by full-batch GD
(Deora, Ghaderi, Taheri, Thrampoulidis, arXiv 2310.12680).  See docs/studies/gd-heads.md.

Rooms: study.py (the Study object), config.py, data.py (tokenized mixture), models.py (the multi-head
classifier), train.py (GD, one-step inits, linearized GD), curvature.py (NTK features, Hessian norms,
lambda_min), theory.py (bounds and margins), experiments.py (one function per task kind), analysis.py
(derived tables), claims.py, figures.py, matrix.py, bench.py."""
from __future__ import annotations

from .config import PRESETS, GDHeadsConfig
from .curvature import hessian_norms, ntk_features, risk_lambda_min
from .data import MixtureSpec, sample
from .experiments import EXPERIMENTS
from .models import ModelSpec, init_params, phi, phi_flat
from .study import STUDY, GDHeadsStudy
from .theory import realizability_lambda, stability_proxy, svm_dual_margin, training_bound
from .train import gd, gd_linearized, make_init, risk

__all__ = ["STUDY", "GDHeadsStudy", "GDHeadsConfig", "PRESETS", "MixtureSpec", "sample", "ModelSpec",
           "init_params", "phi", "phi_flat", "gd", "gd_linearized", "make_init", "risk", "ntk_features",
           "hessian_norms", "risk_lambda_min", "svm_dual_margin", "realizability_lambda", "training_bound",
           "stability_proxy", "EXPERIMENTS"]

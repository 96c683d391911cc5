"""Study `specialization`: staged head specialization under online SGD, softmax-1 and Bayes-softmax
(Sagitova, Duranthon, Zdeborova, arXiv 2603.03993).  Docs: docs/studies/specialization.md.

The public surface, re-exported from the study's rooms (study, config, data, models, train, theory)."""
from .config import PRESETS, SpecializationConfig
from .data import Prior, sample_batch
from .models import ACTIVATIONS, MultiHeadSLR, attention, entry_of, forward_backward, learns_bias
from .study import STUDY, SpecializationStudy
from .theory import (FieldSampler, bayes_softmax_construction, drift, integrate_ode, posterior_mean, risk)
from .train import SGDSetup, run_sgd

__all__ = ["STUDY", "SpecializationStudy", "SpecializationConfig", "PRESETS", "Prior", "sample_batch",
           "ACTIVATIONS", "MultiHeadSLR", "attention", "entry_of", "forward_backward", "learns_bias",
           "SGDSetup", "run_sgd", "FieldSampler", "bayes_softmax_construction", "drift", "integrate_ode",
           "posterior_mean", "risk"]

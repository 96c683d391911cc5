"""copy-transition: Bayesian theory of copy-head emergence (arXiv 2606.12058).

Softmax attention learns the shift-by-one copy pattern through a first-order transition in the number of
training sequences P; linear attention through a second-order transition and a crossover.  See
docs/studies/copy-transition.md.
"""
from .config import PRESETS, CopyTransitionConfig
from .data import one_hot, sample_tokens, statistics
from .experiments import EXPERIMENTS, adam_Ps, hyper, sample_Ps
from .models import CopyHeads
from .posterior import Geometry, ReducedPosterior, order_parameters
from .study import STUDY, CopyTransitionStudy
from .theory import (Hyper, global_minimum, linear_map_onset, locate_linear, locate_softmax, softmax_action,
                     softmax_barriers, linear_action)
from .train import adam, langevin, mala

__all__ = ["STUDY", "CopyTransitionStudy", "CopyTransitionConfig", "PRESETS", "EXPERIMENTS", "sample_tokens",
           "statistics", "one_hot", "CopyHeads", "Geometry", "ReducedPosterior", "order_parameters", "Hyper",
           "softmax_action", "linear_action", "locate_softmax", "locate_linear", "global_minimum",
           "linear_map_onset", "softmax_barriers", "hyper", "sample_Ps", "adam_Ps", "mala", "langevin", "adam"]

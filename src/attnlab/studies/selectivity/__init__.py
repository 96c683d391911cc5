"""Study `selectivity`: limits of softmax normalization (arXiv 2508.17821). See docs/studies/selectivity.md."""
from .config import PRESETS, SelectivityConfig
from .experiments import (EXPERIMENTS, distance_table, gradient_table, jacobian_table, lemma1_table,
                          separability_table)
from .pretrained import load_model
from .study import SelectivityStudy
from .theory import (corollary1_bounds, jacobian_spectral_bound, lemma1_constants, multihead_coverage,
                     printed_bound, softmax_jacobian, sqrt5_pair)

STUDY = SelectivityStudy()

__all__ = ["STUDY", "SelectivityStudy", "SelectivityConfig", "PRESETS", "EXPERIMENTS", "load_model",
           "lemma1_table", "jacobian_table", "distance_table", "separability_table", "gradient_table",
           "corollary1_bounds", "lemma1_constants", "softmax_jacobian", "jacobian_spectral_bound", "printed_bound",
           "sqrt5_pair", "multihead_coverage"]

"""Study ``head-count``: approximation with h heads on generalized D-retrieval tasks (arXiv 2510.06662).

A one-layer transformer whose classification token is the only query approximates y = sum_{i<=D} max_t
a_i^T x_t; the validation NMSE drops sharply at h = D heads. Theory: the h = D construction, the one-wide-head
memorization construction, the lower-bound exponent k(T, n, s, D). See docs/studies/head-count.md.
"""
from __future__ import annotations

from .config import PRESETS, VARIANT_SETTINGS, HeadCountConfig
from .data import make_dataset, make_retrieval_instance, nmse, sum_of_maxima, task_vectors
from .experiments import EXPERIMENTS, train_point, training_points
from .models import ClsQueryAttention, HeadCountModel
from .study import STUDY, HeadCountStudy
from .theory import (bound_exponent, construction_attention, construction_bounds, first_nonvacuous_T,
                     memorization_attention, reversal_score)
from .train import TrainResult, TrainSettings

__all__ = ["STUDY", "HeadCountStudy", "HeadCountConfig", "PRESETS", "VARIANT_SETTINGS", "EXPERIMENTS",
           "make_dataset", "make_retrieval_instance", "nmse", "sum_of_maxima", "task_vectors",
           "ClsQueryAttention", "HeadCountModel", "TrainSettings", "TrainResult", "train_point",
           "training_points", "bound_exponent", "first_nonvacuous_T", "construction_attention",
           "construction_bounds", "memorization_attention", "reversal_score"]

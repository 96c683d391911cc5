"""copy-transition: Bayesian theory of copy-head emergence (arXiv 2606.12058).

Softmax attention learns the shift-by-one copy pattern through a first-order transition in the number of
training sequences P; linear attention through a second-order transition and a crossover.  See
docs/studies/copy-transition.md.
"""
from .study import STUDY, CopyTransitionStudy

__all__ = ["STUDY", "CopyTransitionStudy"]

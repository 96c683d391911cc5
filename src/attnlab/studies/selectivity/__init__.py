"""Study `selectivity`: limits of softmax normalization (arXiv 2508.17821). See docs/studies/selectivity.md."""
from .study import SelectivityStudy

STUDY = SelectivityStudy()

__all__ = ["STUDY", "SelectivityStudy"]

"""The one scorer of the benchmarks that compare features: `self_supervised.evaluation.score_features` (kNN with k=20,
cosine distance, distance-weighted; logistic regression on standardized features; scikit-learn, fit on the training
features, scored on the held-out ones). Kept as a module so that the bench scripts import it by this name."""
from self_supervised.evaluation import score_features, KNN_K

__all__ = ['score_features', 'KNN_K']

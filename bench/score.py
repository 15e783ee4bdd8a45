"""The one scorer of the benchmarks that compare features: kNN and logistic regression, both scikit-learn, fit on the
training features and scored on the held-out ones.

  - kNN: k=20, cosine distance, neighbours weighted by inverse distance (`KNeighborsClassifier(20, weights='distance',
    metric='cosine')`);
  - linear: `LogisticRegression` (L-BFGS, C=1, up to 1000 iterations) on features standardized with the training
    features' mean and standard deviation (`StandardScaler`).
"""
from __future__ import annotations
import numpy as np

KNN_K = 20

def score_features(train_feats, train_labels, test_feats, test_labels, seed:int=0) -> dict:
    "`dict(knn=%, linear=%)`: top-1 accuracy of the two scorers, fit on the training features, on the test features"
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    xt, xv = (np.asarray(o, dtype=np.float64) for o in (train_feats, test_feats))
    yt, yv = np.asarray(train_labels), np.asarray(test_labels)
    knn = KNeighborsClassifier(KNN_K, weights='distance', metric='cosine').fit(xt, yt)
    sc = StandardScaler().fit(xt)
    lin = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(sc.transform(xt), yt)
    acc = lambda pred: round(float(100 * (pred == yv).mean()), 2)
    return dict(knn=acc(knn.predict(xv)), linear=acc(lin.predict(sc.transform(xv))))

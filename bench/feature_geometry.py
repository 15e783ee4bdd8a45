"""Why a cell's kNN is what it is: the one scorer's kNN (k=20, cosine, distance-weighted) of features kept by
`vs_lightly_methods.py --keep-features DIR`, recomputed after transformations that a kNN is sensitive to and a linear
probe on standardized features is not: centering, standardizing, removing the first principal components, whitening
the first 64. With the covariance's effective rank (participation ratio of its eigenvalues) and the variance share of
its first component. If none of them moves the kNN, the features do not hold the classes' neighbourhoods.

    python bench/feature_geometry.py DIR/<cell>.npz [...] [--out bench/results/feature_geometry.json]
"""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import score_features

def knn(tx, ty, ex, ey) -> float:
    "The one scorer's kNN, top-1 %"
    return score_features(tx, ty, ex, ey, linear=False)['knn']

def geometry(f:Path) -> dict:
    d = np.load(f); tx, ty, ex, ey = (d[k].astype(np.float64) if k.endswith('_x') else d[k] for k in ('train_x', 'train_y', 'eval_x', 'eval_y'))
    mu, sd = tx.mean(0), tx.std(0) + 1e-6
    w, V = np.linalg.eigh(np.cov((tx - mu).T)); w, V = w[::-1].clip(0), V[:, ::-1]
    out = dict(cell=f.stem, knn=knn(tx, ty, ex, ey), centered=knn(tx - mu, ty, ex - mu, ey),
               standardized=knn((tx - mu) / sd, ty, (ex - mu) / sd, ey))
    for k in (1, 3, 10):
        P = V[:, :k]; r = lambda x: (x - mu) - (x - mu) @ P @ P.T
        out[f'first_{k}_removed'] = knn(r(tx), ty, r(ex), ey)
    W = V[:, :64] / np.sqrt(w[:64] + 1e-6)
    out['whitened_64'] = knn((tx - mu) @ W, ty, (ex - mu) @ W, ey)
    out['effective_rank'] = round(float(w.sum() ** 2 / (w ** 2).sum()), 1)
    out['first_share'] = round(float(w[0] / w.sum()), 3)
    return out

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('files', nargs='+'); p.add_argument('--out', default=None)
    a = p.parse_args(argv)
    rows = [geometry(Path(f)) for f in a.files]
    for r in rows: print(json.dumps(r))
    if a.out: Path(a.out).write_text(json.dumps(dict(command='python bench/feature_geometry.py ' + ' '.join(argv or sys.argv[1:]), rows=rows), indent=1) + '\n')

if __name__ == '__main__': main()

"""One trial run of ours, trained and scored as a cell of bench/vs_lightly_methods.py (the same validation folders, the
schedule stretched over the budget, one scorer), appended as a line to a JSONL file of bench/results/: what the trial
scripts (bench/local_views.py, bench/view_size.py) share. Not a cell: its settings are not in a cell's cache key, so a
trial never overwrites the table's cells."""
from __future__ import annotations
import json, shutil, sys, tempfile, time
import numpy as np
from pathlib import Path
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from datasets import folders
from score import score_features
from vs_lightly_methods import ours_features, version, _load

def trial(method:str, dataset:str, budget:float, seed:int, out:str, fields:dict, **kwargs) -> dict:
    "Train `pretrain(method=..., **kwargs)` for `budget` s on `dataset`'s validation training folder, score it, append a line with `fields` to bench/results/`out`"
    train, ev = folders(dataset, 'val', None)
    work, load0 = Path(tempfile.mkdtemp(prefix='trial-')), _load()
    try:
        tr, va, info = ours_features(method, train, ev, budget, seed, 1, work, **kwargs)
        finite = bool(np.isfinite(tr[0]).all() and np.isfinite(va[0]).all())   # a run that diverged: no score, as the table's cells
        s = score_features(*tr, *va, seed=seed) if finite else dict(knn=None, linear=None)
    finally: shutil.rmtree(work, ignore_errors=True)
    row = dict(method=method, dataset=dataset, **fields, budget=budget, seed=seed, knn=s['knn'], linear=s['linear'], diverged=not finite,
               **info, load=[load0, _load()], version=version('ours'), when=time.strftime('%Y-%m-%d %H:%M'))
    with open(BENCH/'results'/out, 'a') as f: f.write(json.dumps(row) + '\n')
    print(json.dumps(row), flush=True)
    return row

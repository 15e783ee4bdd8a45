"""How much the multi-crop methods' local views give on small images: DINO or SwAV through our `pretrain(method=...)`
with every default (its small-image preset) but `n_local` local views instead of its preset's, trained and scored as
a cell of bench/vs_lightly_methods.py (the same folders, schedule stretched over the budget, one scorer).

    python bench/local_views.py --method swav --datasets digits,colorcrops,graytex [--n-local 0] [--budget 300] [--seed 0]

The registry declares 2 global and 6 local views for DINO and SwAV, whose callbacks take any number of views (the
global ones first); the run passes `transform_args=dict(views=[{}] * (2 + n_local))`, which keeps the first `2 +
n_local` views of the method's small-image preset (and makes new ones like its last local view): the local views are
copies of one another, so the run is the preset's with another number of local crops. Appends one line per run to
bench/results/local_views.jsonl and prints it: the method's kNN / linear and epochs, to be read beside its row of
bench/results/vs_lightly_methods_val.md.
"""
from __future__ import annotations
import argparse, sys
from pathlib import Path
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from trials import trial

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--method', choices=['dino', 'swav'], required=True)
    p.add_argument('--datasets', default='digits,colorcrops,graytex')
    p.add_argument('--n-local', type=int, default=0)
    p.add_argument('--budget', type=float, default=300)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    if a.n_local < 0: raise SystemExit('--n-local is a number of local views: 0 or more')
    for ds in a.datasets.split(','):
        trial(a.method, ds, a.budget, a.seed, 'local_views.jsonl', dict(n_local=a.n_local), transform_args=dict(views=[{}] * (2 + a.n_local)))

if __name__ == '__main__': main()

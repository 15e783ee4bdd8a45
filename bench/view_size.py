"""Progressive resizing for self-supervised pretraining: our `pretrain(method=...)` with every default (its small-image
preset), its views made at `--frac` of their side until `--at` of the budget, then at their own side, trained and scored
as a cell of bench/vs_lightly_methods.py (bench/trials.py).

    python bench/view_size.py --method simclr --frac 0.75 --at 0.75 [--datasets digits,colorcrops,graytex] [--budget 300] [--seed 0]

Smaller views cost less per step (a 24 px view of a 32 px image: about 0.75x the step's time with the small-image
stem), so the run sees more images in the same seconds; the last part of the budget at full size lets BatchNorm and
the features settle at the side the encoder is evaluated at. `--at 1` keeps the small views to the end (as
`--ours transform_args.views.0.image_size=0.75 transform_args.views.1.image_size=0.75` in bench/vs_lightly_methods.py
does for a two-view method). Appends one line per run to bench/results/view_size.jsonl and prints it.
"""
from __future__ import annotations
import argparse, sys
from pathlib import Path
from fastai.callback.core import Callback
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from trials import trial
from self_supervised.vision.core import MultiViewMethod

class ViewSize(Callback):
    "Make the method's views at `frac` of their side until `pct_train` reaches `at` (from the next batch on: the method makes a batch's views before this runs), then at their own"
    order = 60   # after the budget's clock sets `pct_train`
    def __init__(self, frac:float, at:float): self.frac, self.at, self.small, self.full = frac, at, False, None
    def _set(self, small:bool):
        pipes = next(c for c in self.learn.cbs if isinstance(c, MultiViewMethod)).aug_pipelines
        if self.full is None: self.full = [p.size for p in pipes]
        for p, full in zip(pipes, self.full):
            p.size = tuple(max(8, round(o * self.frac)) for o in full) if small else full
            for t in p.augs:
                if 'size' in getattr(t, 'flags', {}): t.flags['size'] = p.size   # the crop's output side
        self.small = small
    def before_fit(self): self._set(True)
    def before_batch(self):
        if self.training and self.small and self.learn.pct_train >= self.at: self._set(False)
    def after_fit(self):
        if self.small: self._set(False)   # the pipelines as the run built them

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--method', default='simclr')
    p.add_argument('--datasets', default='digits,colorcrops,graytex')
    p.add_argument('--frac', type=float, default=0.75, help='side of the views, as a fraction of their own, until --at')
    p.add_argument('--at', type=float, default=0.75, help='fraction of the budget after which the views are full size')
    p.add_argument('--budget', type=float, default=300)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    if not 0 < a.frac <= 1 or not 0 <= a.at <= 1: raise SystemExit('--frac is in (0, 1], --at in [0, 1]')
    for ds in a.datasets.split(','):
        trial(a.method, ds, a.budget, a.seed, 'view_size.jsonl', dict(frac=a.frac, at=a.at), cbs=[ViewSize(a.frac, a.at)])

if __name__ == '__main__': main()

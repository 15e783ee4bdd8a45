"""Where a method's 300 s go: the features of our `pretrain(method=...)` scored at points of its time budget, as
bench/vs_lightly_methods.py trains and scores it (the same folders, preset, schedule stretched over the budget, one
scorer), so that a method that ends low can be told apart as one that never learns, one that dips below its random
features and climbs back, or one that learns and then drifts.

    python bench/curves.py --method moco --dataset digits [--budget 300] [--at 0,0.1,0.25,0.5,0.75] [--seed 0]
                           [--ours key=value ...]

At each fraction of `--at` the online encoder (`model.encoder`: DINO's student, which its small-image preset exports; with `method_args.export=teacher` the last point is the teacher) is
copied, put in eval mode and scored (kNN k=20 cosine distance-weighted /
logistic regression on standardized features, bench/score.py) on the `val_train/` and `val/` folders; the clock of the
budget stops while it does, so the schedule and the training seconds are those of a cell of the table. Fraction 0 is
before the first step (BatchNorm's running statistics at their init; the table's 'init' rows are after one). The last point is
the exported backbone after the whole budget, scored as the table scores it. Writes
bench/results/curves/<method>-<dataset>[-settings].json and prints one line per point: fraction, epochs, kNN, linear.
"""
from __future__ import annotations
import argparse, copy, json, subprocess, sys, tempfile, shutil, time
from pathlib import Path
from fastai.callback.core import Callback
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from datasets import folders
from score import score_features
from quality import TimeBudget, pretrain_for, eval_inputs
from vs_lightly_methods import _tag, folder_tensors, embed_folders
from self_supervised.runs import backbone_config
from self_supervised.settings import parse_args

def _score(enc, data, inputs, seed):
    (tf, tl), (vf, vl) = embed_folders(enc, data, inputs)
    return score_features(tf, tl, vf, vl, seed=seed)

class Probe(Callback):
    "Score a copy of the online encoder when the fit's `TimeBudget` passes each elapsed fraction of `at`; the budget's clock stops meanwhile"
    order = TimeBudget.order + 1
    def __init__(self, at, data, run:Path, seed:int): self.at, self.data, self.run, self.seed, self.points = sorted(at), data, run, seed, []
    def before_fit(self):
        self.budget = next(c for c in self.learn.cbs if isinstance(c, TimeBudget))
        self.inputs, self.todo = eval_inputs(json.loads((self.run/'config.json').read_text())), list(self.at)
    def _probe(self, frac, done:int):
        t = time.perf_counter()
        enc = copy.deepcopy(self.learn.model.encoder).eval()
        s = _score(enc, self.data, self.inputs, self.seed)
        self.points.append(dict(fraction=frac, epochs=round(self.epoch + done / self.n_iter, 2), knn=s['knn'], linear=s['linear']))
        print(self.points[-1], flush=True)
        self.budget.start += time.perf_counter() - t       # the time spent scoring is not training time
    def before_batch(self):
        if self.training and self.todo and self.todo[0] == 0 and self.iter == 0 and self.epoch == 0: self.todo.pop(0); self._probe(0., 0)
    def after_batch(self):
        if self.training and self.todo and self.budget._pct() >= self.todo[0]: self._probe(self.todo.pop(0), self.iter + 1)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--method', default='simclr'); p.add_argument('--dataset', default='digits')
    p.add_argument('--budget', type=float, default=300); p.add_argument('--at', default='0,0.1,0.25,0.5,0.75')
    p.add_argument('--seed', type=int, default=0); p.add_argument('--ours', nargs='*', default=[])
    a = p.parse_args(argv)
    train, ev = folders(a.dataset, 'val')
    data = (folder_tensors(train), folder_tensors(ev))
    work = Path(tempfile.mkdtemp(prefix='curve-'))
    try:
        at = [float(f) for f in a.at.split(',')]
        if not all(0 <= f < 1 for f in at): p.error(f"--at takes fractions in [0, 1) (the end is always scored), not {a.at}")
        probe = Probe(at, data, work/'run', a.seed)
        enc, epochs = pretrain_for(a.budget, sorted(Path(train).rglob('*.png')), work/'run', seed=a.seed, method=a.method,
                                   num_workers=1, cbs=[probe], **parse_args(list(a.ours)))
        final = _score(enc, data, eval_inputs(backbone_config(work/'run')), a.seed)
        points = probe.points + [dict(fraction=1.0, epochs=round(epochs, 2), knn=final['knn'], linear=final['linear'])]
        print(points[-1])
    finally: shutil.rmtree(work, ignore_errors=True)
    out = BENCH/'results'/'curves'/f"{a.method}-{a.dataset}{_tag(a.ours)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = 'python bench/curves.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=BENCH, capture_output=True, text=True).stdout.strip()
    out.write_text(json.dumps(dict(command=cmd, commit=commit, when=time.strftime('%Y-%m-%d %H:%M'), budget=a.budget, seed=a.seed,
                                   epochs=round(epochs, 2), points=points), indent=1) + '\n')

if __name__ == '__main__': main()

"""BYOL's small-image preset: a few settings at equal wall-clock on a validation split of the demo digits.

    python bench/tune_byol.py [--budget 150]

Each trial is `pretrain(method='byol')` for `--budget` seconds (bench/methods.py's `method_row`), on 3500 of the 4000
training digits, scored on the other 500 (never on the 1000 held out) with bench/score.py's kNN and logistic
regression; SimCLR's preset for reference. Figures and the choice: bench/results/tune_byol.md.
"""
import argparse, shutil, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from quality import digits, write_pngs
from methods import method_row

TRIALS = [('momentum 0.99, lr 2e-3', dict(method_args=dict(momentum=0.99), lr=2e-3)),   # each pins both: the preset has changed since
          ('momentum 0.9, lr 2e-3', dict(method_args=dict(momentum=0.9), lr=2e-3)),
          ('momentum 0.96, lr 2e-3', dict(method_args=dict(momentum=0.96), lr=2e-3)),
          ('momentum 0.96, lr 5e-3', dict(method_args=dict(momentum=0.96), lr=5e-3))]

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--budget', type=float, default=150)
    p.add_argument('--keep', action='store_true', help="keep the runs' folder (printed)")
    a = p.parse_args(argv)
    train, valid = digits('tune', 0)
    work = Path(tempfile.mkdtemp(prefix='tune-byol-'))
    print(f'work folder: {work}', flush=True)
    try:
        files = write_pngs(train[0], work/'images')
        for i, (name, kw) in enumerate(TRIALS):
            print('TRIAL byol', name, method_row('byol', a.budget, files, train, valid, work/f'byol{i}', 0, **kw), flush=True)
        print('TRIAL simclr preset', method_row('simclr', a.budget, files, train, valid, work/'simclr', 0), flush=True)
    finally:
        if not a.keep: shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__': main()

"""Search the small-image SimCLR recipe on the demo digits (the library's 28-32 px preset comes from here).

    python bench/tune_small.py --grid bench/tune_grid.json --epochs 15 [--out bench/results/tune_<device>.json]

Tuning uses a validation split carved out of the 4000 training digits (3500 train / 500 validation, seeded,
stratified); the 1000 held-out digits are never looked at. Each configuration trains a resnet18 with a fastai
Learner and the `SimCLR` callback (the path `pretrain` uses) for a fixed number of epochs, then scores the encoder's
features with the weighted kNN (k=200, temp=0.1) and a linear probe on the validation split.
Runs on GPU when there is one (the search), and on CPU to check the chosen recipe's time.
"""
import argparse, itertools, json, sys, time
from pathlib import Path
import numpy as np, torch
from sklearn.model_selection import train_test_split
from fastai.vision.all import Learner, DataLoaders, DataLoader, Adam, SGD
from self_supervised.data import mnist_arrays, mnist_split
from self_supervised.layers import create_encoder
from self_supervised.augmentations import get_simclr_aug_pipelines
from self_supervised.vision.simclr import create_simclr_model, SimCLR
from self_supervised.evaluation import embed, knn_accuracy, linear_probe

def tuning_split(seed=0):
    "3500/500 split of the 4000 training digits, as uint8 tensors (N,1,28,28) and labels"
    X, y = mnist_arrays()
    tr, _ = mnist_split()
    a, b = train_test_split(tr, test_size=500, random_state=seed, stratify=y[tr])
    t = lambda i: (torch.from_numpy(X[i])[:, None], torch.from_numpy(y[i]))
    return t(a), t(b)

DEFAULTS = dict(arch='resnet18', small_input=False, pool_type='avg', bs=256, lr=2e-3, wd=1e-4, temp=0.2,
                min_scale=0.2, hidden_size=512, projection_size=128, flip=False, blur_p=0.0, jitter=True,
                rotate=False, epochs=15, pct_start=0.1, opt='adam', size=28)

def run(cfg, train, valid, dev, verbose=False):
    c = {**DEFAULTS, **cfg}
    torch.manual_seed(0)
    (xt, yt), (xv, yv) = train, valid
    to_float = lambda b: b.float() / 255
    dls = DataLoaders(DataLoader([(o,) for o in xt], bs=c['bs'], shuffle=True, drop_last=True, after_batch=to_float),
                      DataLoader([(o,) for o in xt[:c['bs']]], bs=c['bs'], after_batch=to_float), device=dev)
    enc = create_encoder(c['arch'], n_in=1, small_input=c['small_input'], pool_type=c['pool_type'])
    model = create_simclr_model(enc, hidden_size=c['hidden_size'], projection_size=c['projection_size'])
    augs = get_simclr_aug_pipelines(size=c['size'], resize_scale=(c['min_scale'], 1.0), flip=c['flip'], blur=c['blur_p'] > 0,
                                    blur_p=c['blur_p'] or 0.5, jitter=c['jitter'], rotate=c['rotate'], stats=None)
    opt = Adam if c['opt'] == 'adam' else SGD
    learn = Learner(dls, model, cbs=SimCLR(augs, temp=c['temp']), opt_func=opt, wd=c['wd'])
    t = time.time()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(c['epochs'], c['lr'], pct_start=c['pct_start'])
    train_s = time.time() - t
    ev = lambda x, y: [(x[i:i+512].float().div(255).to(dev), y[i:i+512]) for i in range(0, len(x), 512)]
    ft, lt = embed(model.encoder, ev(xt, yt)); fv, lv = embed(model.encoder, ev(xv, yv))
    knn = knn_accuracy(ft, lt, fv, lv, k=200, temp=0.1)['top1']
    lin = linear_probe(ft, lt, fv, lv)
    lin = lin['top1'] if isinstance(lin, dict) else lin
    return dict(cfg=cfg, knn=knn, linear=lin, train_s=train_s, loss=float(learn.recorder.values[-1][0]))

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--grid', help='JSON list of configs (dicts overriding DEFAULTS)')
    p.add_argument('--epochs', type=int, default=None)
    p.add_argument('--out', default=None)
    a = p.parse_args()
    print('command: python', ' '.join(sys.argv), flush=True)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    grid = json.loads(Path(a.grid).read_text()) if a.grid else [{}]
    if a.epochs: grid = [{**g, 'epochs': g.get('epochs', a.epochs)} for g in grid]
    train, valid = tuning_split()
    res = []
    out = Path(a.out or Path(__file__).parent/'results'/f'tune_{dev}.json')
    for cfg in grid:
        r = run(cfg, train, valid, dev)
        res.append(r)
        print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)
        out.write_text(json.dumps(res, indent=1))
    best = max(res, key=lambda r: min(r['knn'], r['linear']))
    print('best:', json.dumps(best))

if __name__ == '__main__': main()

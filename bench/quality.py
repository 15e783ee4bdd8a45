"""Results table: how good are the features? kNN and linear-probe accuracy on the demo digits, one row per method.

    python bench/quality.py [--budget 600] [--split test|tune] [--no-simclr] [--no-finetune] [--ft-epochs 5]

Data: the demo MNIST digits, the fixed seeded split every result of this library uses (`mnist_split`: 4000 training
images, 1000 held out). `--split tune` instead carves a validation split out of the 4000 training digits (3500 / 500,
seeded, stratified, as `bench/tune_small.py` does) and writes `*_tune.*` files: tune on that, never on the held-out 1000.

Rows (each: kNN top-1 and linear-probe top-1 on the evaluation images, features fit/indexed on the training images):
  - raw pixels (784 values)
  - PCA50: the first 50 principal components of the training pixels (sklearn PCA, fit on train only)
  - random-init resnet18, built as `pretrain` builds it for 28 px images (`SMALL_IMAGE_PRESET`), features of `embed`
  - SimCLR resnet18: `pretrain` (the library's small-image preset) run for `--budget` seconds of wall-clock
    (`pretrain_for`, below), its exported backbone's features
Every row uses ONE kNN setting, the weighted cosine kNN of InstDisc/lightly/solo-learn with k=200, temp=0.1
(`knn_accuracy`), and one linear probe: scikit-learn L-BFGS logistic regression, C=1, on standardized features.
Optionally, fine-tuning with 100 labels per class: pretrained vs random-init encoder, same schedule, mean of 3 seeds.

Writes bench/results/quality.json and bench/results/quality.md (the table, the command and the wall-clock).
"""
from __future__ import annotations
import argparse, copy, json, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.schedule import ParamScheduler

from host import cpu_model, usable_cores
from self_supervised.data import mnist_arrays, mnist_split
from self_supervised.evaluation import embed, evaluate_features, baselines, cls_learner
from self_supervised.train import pretrain, build_encoder
from self_supervised.config import resolve_config
from self_supervised.settings import norm_stats
from self_supervised.runs import load_backbone, backbone_config

RESULTS = Path(__file__).parent/'results'
KNN = dict(k=200, temp=0.1)                       # the one kNN setting of every row
PROBE = dict(method='lbfgs', C=1.0, max_iter=1000)  # the one linear probe of every row
# Every learned row is a resnet18 seeing the digits as `pretrain` feeds them: the size and normalization of the resolved
# configuration (`resolve_config`), which `backbone.json` records beside an exported backbone (`eval_inputs`).

# ---------------------------------------------------------------------------------------------------------------- data

def digits(split:str='test', seed:int=0):
    "`((x_train, y_train), (x_eval, y_eval))`: uint8 `(N,1,28,28)` images and int labels"
    X, y = mnist_arrays()
    tr, va = mnist_split()
    if split == 'tune':
        from sklearn.model_selection import train_test_split
        tr, va = train_test_split(tr, test_size=500, random_state=seed, stratify=y[tr])
    elif split != 'test': raise ValueError(f"split must be 'test' or 'tune', not {split!r}")
    t = lambda i: (torch.from_numpy(X[i])[:, None], torch.from_numpy(y[i]))
    return t(tr), t(va)

def prepare(x, size:int, stats=None):
    "uint8 images -> float inputs of the encoders: [0, 1], resized to `size`, normalized by `stats` when given"
    x = x.float() / 255
    if size and x.shape[-1] != size: x = F.interpolate(x, size=(size, size), mode='bilinear', align_corners=False)
    if stats is not None:
        mean, std = (torch.tensor(o, dtype=torch.float32).view(1, -1, 1, 1) for o in stats)
        x = (x - mean) / std
    return x

def batches(x, y, bs=500, **kwargs):
    "Batches `(inputs, labels)` for `embed`"
    return [(prepare(x[i:i+bs], **kwargs), y[i:i+bs]) for i in range(0, len(x), bs)]

# ---------------------------------------------------------------------------------------------------------------- rows

def eval_inputs(cfg:dict):
    "`dict(size, stats)` of the inputs an encoder of `cfg` (a resolved config or a `backbone.json`) was trained on"
    size = cfg.get('size') or cfg['image_size']
    normalize = cfg['transform_args']['normalize'] if 'transform_args' in cfg else cfg.get('normalize')
    return dict(size=size, stats=norm_stats(normalize, cfg.get('n_in') or cfg['model_args']['n_in']))

def encoder_row(encoder, train, valid, inputs:dict, device='cpu'):
    "kNN and linear-probe accuracy of an encoder's features (inputs prepared with `inputs`: size, stats) on `device`"
    encoder = encoder.to(device)
    tf, tl = embed(encoder, batches(*train, **inputs))
    vf, vl = embed(encoder, batches(*valid, **inputs))
    return dict(dim=tf.shape[1], **evaluate_features(tf, tl, vf, vl, **KNN, **PROBE))

def pixel_rows(train, valid, n_components=50):
    "Rows for the raw pixels and their first `n_components` principal components"
    (xt, yt), (xv, yv) = train, valid
    rows = baselines(xt.float() / 255, yt, xv.float() / 255, yv, n_components=n_components, **KNN, **PROBE)
    for name, r in rows.items(): r['dim'] = 784 if name == 'raw pixels' else n_components
    return rows

# ------------------------------------------------------------------------------------------------------------ SimCLR

class TimeBudget(Callback):
    "Run the schedule on wall-clock time: `pct_train` is the elapsed fraction of `seconds`, and the fit stops when it is spent"
    order = ParamScheduler.order - 1  # sets the position the lr schedule reads
    def __init__(self, seconds:float): self.seconds = seconds
    def before_fit(self): self.start, self.epochs = time.perf_counter(), 0.
    def after_epoch(self): self.epochs = self.epoch + 1.
    def _pct(self): return (time.perf_counter() - self.start) / self.seconds
    def before_batch(self):
        if self.training: self.learn.pct_train = min(self._pct(), 1.)
    def after_batch(self):
        if self.training and self._pct() >= 1:
            self.epochs = self.epoch + (self.iter + 1) / self.n_iter  # epochs trained, the last one partly
            raise CancelFitException()

def write_pngs(x, dest):
    "uint8 images `(N,1,H,W)` as PNG files in `dest` (the form `pretrain` reads); returns the sorted files"
    from PIL import Image
    dest = Path(dest); dest.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(x[:, 0].numpy()): Image.fromarray(im, mode='L').save(dest/f'{i:05d}.png')
    return sorted(dest.glob('*.png'))

MAX_EPOCHS = 100  # the fit's epoch count when a time budget drives the schedule: only an upper bound
WARMUP_FRACTION = 0.1  # linear warmup, then cosine: about the preset's 1 warmup epoch of the 7-9 epochs that 10 minutes of 2 CPU cores train

def pretrain_files(files, out, seed:int=0, **kwargs):
    "`pretrain(out, data=files, ...)` as the benches run it (a new run, decoding in the main process, no bars); its backbone's path"
    return pretrain(out, data=files, seed=seed, **{**dict(overwrite=True, num_workers=0, progress=False), **kwargs})

def pretrain_for(budget_s:float, files, out, seed:int=0, device='cpu', cbs=(), **kwargs):
    """The encoder `pretrain` exports after `budget_s` seconds of training on the image `files`, in the run folder `out`.
    `pretrain` itself runs (Learner + the method's callback, its small-image preset, checkpoints and logs included; SimCLR
    unless `method=` is in `kwargs`),
    with a `TimeBudget` that stretches the preset's schedule (its warmup fraction, then cosine) over the budget, and the
    callbacks `cbs` beside it. Returns `(encoder, epochs trained)`."""
    opt = {**dict(warmup_epochs=WARMUP_FRACTION * MAX_EPOCHS), **kwargs.pop('optim_args', {})}
    budget = TimeBudget(budget_s)
    path = pretrain_files(files, out, seed, epochs=MAX_EPOCHS, optim_args=opt, cbs=[budget, *cbs], **kwargs)
    return load_backbone(path).to(device), budget.epochs

# ------------------------------------------------------------------------------------------------------- fine-tuning

def _per_class(y, n, seed):
    g = np.random.default_rng(seed)
    return np.sort(np.concatenate([g.choice(np.flatnonzero(y.numpy() == c), n, replace=False) for c in np.unique(y.numpy())]))

def finetune_accuracy(encoder_factory, # called once per seed: returns a fresh encoder (a copy, for a pretrained one)
                      train, valid, # `digits()` splits: labels are drawn from `train`, accuracy measured on `valid`
                      inputs:dict, # how images are prepared for the encoders (`eval_inputs`)
                      n_per_class:int=100, seeds=(0, 1, 2), epochs:int=5, freeze_epochs:int=1, lr:float=2e-3,
                      lr_mult:float=100, # `fine_tune`'s ratio of head to encoder lr (fastai's default 100 suits pretrained encoders)
                      bs:int=32, # small batches: enough steps for BatchNorm's running statistics to follow the weights
                      device='cpu'):
    "Accuracy (%) on `valid` after `learn.fine_tune(epochs, lr, lr_mult=lr_mult)` on `n_per_class` labels per class, per seed"
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.torch_core import set_seed
    (xt, yt), (xv, yv) = train, valid
    accs = []
    for seed in seeds:
        set_seed(seed)
        idx = _per_class(yt, n_per_class, seed)
        xs = prepare(xt[idx], **inputs)
        dls = DataLoaders(DataLoader(list(zip(xs, yt[idx])), bs=bs, shuffle=True, drop_last=True),
                          DataLoader(list(zip(prepare(xv, **inputs), yv)), bs=256), device=device)
        learn = cls_learner(dls, encoder_factory(), n_out=int(yt.max()) + 1)
        with learn.no_bar(), learn.no_logging():
            learn.fine_tune(epochs, lr, freeze_epochs=freeze_epochs, lr_mult=lr_mult)
            accs.append(100 * float(learn.validate()[1]))
    return dict(mean=float(np.mean(accs)), seeds=accs)

def finetune_compare(pretrained_factory, random_factory, train, valid, **kwargs):
    "Fine-tuned accuracy of a pretrained encoder and of a random-init one, same schedule: `{name: finetune_accuracy(...)}`"
    return {'pretrained': finetune_accuracy(pretrained_factory, train, valid, **kwargs),
            'random init': finetune_accuracy(random_factory, train, valid, **kwargs)}

# ---------------------------------------------------------------------------------------------------------------- main

def _timed(f, *args, **kwargs):
    start = time.perf_counter()
    res = f(*args, **kwargs)
    return res, time.perf_counter() - start

def markdown(res):
    lines = [f"Features of the demo digits ({res['n_train']} training / {res['n_eval']} {res['eval_name']} images), "
             f"top-1 accuracy (%). kNN: weighted cosine, k={KNN['k']}, temp={KNN['temp']} (one setting for every row); "
             f"linear: L-BFGS logistic regression (C={PROBE['C']}) on standardized features.", "",
             "| features | dim | kNN | linear | time (s) |", "|---|---:|---:|---:|---:|"]
    for name, r in res['rows'].items():
        if r.get('skipped'): lines.append(f"| {name} | | not run | not run | ({r['skipped']}) |")
        else: lines.append(f"| {name} | {r['dim']} | {r['knn_top1']:.1f} | {r['linear_top1']:.1f} | {r['seconds']:.0f} |")
    ft = res.get('finetune')
    if ft:
        lines += ["", f"Fine-tuned with {ft['n_per_class']} labels per class (`learn.fine_tune({ft['epochs']}, lr_mult={ft['lr_mult']:g})`, same schedule, "
                  f"mean of {len(ft['seeds'])} seeds), accuracy (%) on the {res['eval_name']} images:", "",
                  "| encoder | accuracy | per seed |", "|---|---:|---|"]
        for name, r in ft['results'].items():
            lines.append(f"| {name} | {r['mean']:.1f} | {', '.join(f'{a:.1f}' for a in r['seeds'])} |")
    lines += ["", f"Command: `{res['command']}`; wall-clock {res['wall_clock_s']:.0f} s on {res['machine']}."]
    return '\n'.join(lines) + '\n'

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--budget', type=float, default=600, help='SimCLR pretraining wall-clock budget, seconds')
    p.add_argument('--split', default='test', choices=['test', 'tune'], help="'tune': 3500/500 of the training digits")
    p.add_argument('--no-simclr', action='store_true', help='skip the SimCLR row')
    p.add_argument('--no-finetune', action='store_true', help='skip the fine-tuning comparison')
    p.add_argument('--ft-epochs', type=int, default=5, help='fine-tuning epochs (after 1 frozen epoch)')
    p.add_argument('--ft-lr-mult', type=float, default=100, help="fine_tune's lr_mult (head lr / encoder lr)")
    p.add_argument('--device', default='cpu', help="'cpu' (the table's setting) or 'cuda'")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--keep', action='store_true', help="keep the pretraining run's folder (printed)")
    p.add_argument('--out', default=None, help='output stem (default bench/results/quality[_tune])')
    a = p.parse_args(argv)
    start = time.perf_counter()
    torch.manual_seed(a.seed)
    train, valid = digits(a.split, a.seed)
    rows = {}
    pix, secs = _timed(pixel_rows, train, valid)
    for name, r in pix.items(): rows[name] = dict(r, seconds=secs / len(pix))
    work = Path(tempfile.mkdtemp(prefix='quality-'))
    files = write_pngs(train[0], work/'images')
    cfg = resolve_config(files)  # what `pretrain` resolves for 28 px digits: `SMALL_IMAGE_PRESET`
    inputs = eval_inputs(cfg)
    random_init = lambda: (torch.manual_seed(a.seed), build_encoder(cfg))[1]
    r, secs = _timed(encoder_row, random_init(), train, valid, inputs, a.device)
    rows['random-init resnet18'] = dict(r, seconds=secs)
    simclr = None
    if a.no_simclr: rows['SimCLR resnet18'] = dict(skipped='--no-simclr')
    else:
        run = work/'run'
        (simclr, epochs), secs = _timed(pretrain_for, a.budget, files, run, seed=a.seed, device=a.device)
        inputs_bb = eval_inputs(backbone_config(run))
        assert inputs_bb['size'] == inputs['size'], (inputs_bb, inputs)
        r, esecs = _timed(encoder_row, simclr, train, valid, inputs_bb, a.device)
        rows[f'SimCLR resnet18 ({a.budget:.0f} s)'] = dict(r, seconds=secs + esecs, pretrain_s=secs, epochs=round(epochs, 2),
                                                           config=json.loads((run/'config.json').read_text()))
    res = dict(command='python ' + ' '.join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
               split=a.split, n_train=len(train[1]), n_eval=len(valid[1]),
               eval_name='held-out' if a.split == 'test' else 'validation', knn=KNN, probe=PROBE,
               encoder=dict(cfg['model_args'], arch=cfg['model']), inputs=inputs, rows=rows,
               machine=f"{cpu_model()}, {torch.get_num_threads()} torch threads, {len(usable_cores())} cores"
                       + (f", {torch.cuda.get_device_name()}" if a.device.startswith('cuda') else ''), device=a.device,
               torch=torch.__version__)
    if simclr is not None and not a.no_finetune:
        print('fine-tuning ...', flush=True)
        ft = finetune_compare(lambda: copy.deepcopy(simclr), random_init, train, valid, inputs=inputs, epochs=a.ft_epochs,
                              lr_mult=a.ft_lr_mult, device=a.device)
        res['finetune'] = dict(n_per_class=100, epochs=a.ft_epochs, lr_mult=a.ft_lr_mult, seeds=[0, 1, 2], results=ft)
    res['wall_clock_s'] = time.perf_counter() - start
    stem = Path(a.out) if a.out else RESULTS/('quality' + ('_tune' if a.split == 'tune' else ''))
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix('.json').write_text(json.dumps(res, indent=1) + '\n')
    md = markdown(res)
    stem.with_suffix('.md').write_text(md)
    print(md)
    if not a.keep: shutil.rmtree(work, ignore_errors=True)
    else: print(f'run kept in {work}')
    return res

if __name__ == '__main__': main()

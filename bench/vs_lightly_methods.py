"""Each method of this library against lightly's own implementation of the same method, at equal wall-clock on the same
folders, both scored by the one scorer, each also at its initial weights: the final figures and what training added.

    python bench/vs_lightly_methods.py [--budget 300] [--methods simclr,moco,...] [--datasets digits,colorcrops,graytex]
                                       [--split val|test] [--seeds 0] [--libs ours,lightly] [--limit N] [--workers 1] [--noise] [--reuse] [--cached]
                                       [--ours key=value ...] [--peer-stem stock|small] [--keep-features DIR] [--cells DIR]

Data: bench/datasets.py (digits 28 px gray, colorcrops 48 px colour, graytex 32 px gray; `--split val` trains on
`val_train/` and scores on `val/`, the split for choosing defaults; `test` is the held-out comparison, run once).
  - ours: `pretrain(method=M)` on the training folder with every default (the method's small-image preset), its schedule
    stretched over `--budget` seconds of wall-clock (bench/quality.py `pretrain_for`), decoding in `--workers` processes;
    its exported backbone embeds both folders as `embed` would (its `backbone.json`: size and normalization).
  - lightly: lightly 1.6's own implementation of M as its examples write it (bench/peers/lightly_methods.py: heads, loss,
    transforms, torchvision resnet18, a plain loop, batches of 128, `--workers` loader processes), for the same seconds,
    in its own venv (bench/venv_lightly, made on first use: lightly 1.6 with our torch pins).
  - at init: the same, stopped after its first training step (the seeded weights, BatchNorm's statistics of one batch).
Every row is scored by bench/score.py (`score_features`): kNN (k=20, cosine, distance-weighted) and logistic regression
on standardized features, fit on the training features, top-1 % on the evaluation images.
A loop that diverged (features not finite) is recorded as diverged instead of scored; the table says so.

Each cell (library, data set, split, method, budget or init, seed, limit) is cached in
bench/results/vs_lightly_methods/cells/ under a version: for ours a hash of the library's source (self_supervised/*.py)
and of the bench scripts it runs through; for lightly a hash of the peer script and lightly's version. A rerun computes
only the cells whose version changed or that are missing, so the table fills over several sittings. `--noise` measures
the spread of a cell: SimCLR on colorcrops, seeds 0, 1, 2, both libraries (written beside the table).
`--ours key=value ...` runs a variant of ours (settings of `pretrain`, e.g. `model_args.small_input=False`): its cells and its
table carry the settings in their names; the peer's cells are shared.
`--peer-stem small` runs the peer's loops on the network of our small-image preset (torchvision's resnet18 without its
max-pool, as `small_input=2`), so that both libraries' gains start from the same architecture: its cells and table
carry `-peerstem_small`.
`--reuse` takes every cached cell whatever version it ran at (to assemble the table of several sittings after a change
of the library that does not touch training, e.g. a new setting that is off by default); the table then says which
versions and dates its cells come from.
`--cached` takes cached cells as `--reuse` does and runs nothing: a missing cell is '-' (a variant's table when its cells cover a few rows).
`--seeds 0,1` runs (or reads) every cell once per seed; the table then has a seed column and a row per seed.
`--cells DIR` reads and writes the cells in DIR instead (e.g. one machine's side by side: both libraries' cells run on it,
ours under the preset's names); the table's files carry DIR's name.
Writes bench/results/vs_lightly_methods[_<split>][_limitN].json and .md, and prints the table; a table that holds
cells the run did not read (a sitting that ran a few cells under a table's arguments) is left as it is and the run says
so (its new cells are kept): `--cached` with arguments that cover its cells and the new ones writes it.
Timings mean something only on a quiet machine: each cell records the load average before and after, and its machine
(`machine`, PyTorch's CPU `capability`, `bf16`: native bfloat16); the table's JSON gives the cells' capability and,
apart, the machine that assembled it (`assembled_on`), which with `--cached` may be another.
"""
from __future__ import annotations
import argparse, hashlib, itertools, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from datasets import DATASETS, SIZES, folders, load_folder
from host import cpu_model, usable_cores
from score import score_features, KNN_K
from self_supervised.settings import parse_args
from self_supervised.config import cpu_bf16

REPO, RESULTS = BENCH.parent, BENCH/'results'
CELLS = RESULTS/'vs_lightly_methods'/'cells'
PEER = BENCH/'peers'/'lightly_methods.py'
VENV = BENCH/'venv_lightly'
PIN = 'lightly==1.6.*'
METHODS = ('simclr', 'moco', 'byol', 'simsiam', 'barlow_twins', 'vicreg', 'dino', 'swav')   # what lightly implements of ours

def _sha(*paths) -> str:
    h = hashlib.sha1()
    for p in paths:
        for f in sorted(Path(p).rglob('*.py')) if Path(p).is_dir() else [Path(p)]: h.update(f.read_bytes())
    return h.hexdigest()[:12]

def version(lib:str) -> str:
    if lib == 'ours': return _sha(REPO/'self_supervised', BENCH/'quality.py', Path(__file__))
    return _sha(PEER) + '-' + PIN

def lightly_python() -> Path:
    "The peer venv's python, made on first use"
    py = VENV/'bin'/'python'
    if not py.exists():
        subprocess.run([sys.executable, '-m', 'venv', str(VENV)], check=True)
        pins = [l.strip() for l in (REPO/'constraints.txt').read_text().splitlines() if l.startswith(('torch==', 'torchvision=='))]
        subprocess.run([str(py), '-m', 'pip', 'install', '-q', *pins, PIN, 'scikit-learn', 'numpy', 'pillow'], check=True)
    return py

def _load() -> float: return round(os.getloadavg()[0], 2)

# ---------------------------------------------------------------------------------------------------------- one cell

class _OneStep(__import__('fastai.callback.core', fromlist=['Callback']).Callback):
    "Stop the fit after its first training step"
    order = 100
    def after_step(self): raise __import__('fastai.callback.core', fromlist=['CancelFitException']).CancelFitException()

def folder_tensors(d:Path) -> tuple:
    "`(uint8 images (N,C,H,W), labels)` of an image folder, as tensors"
    x, y, _ = load_folder(d)
    return torch.from_numpy(x if x.ndim == 4 else x[..., None]).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y)

def embed_folders(enc, data, inputs:dict) -> list:
    "`[(features, labels)]` as numpy arrays of each `(images, labels)` of `data` (`folder_tensors`), prepared with `inputs` as `embed` reads them"
    from quality import batches
    from self_supervised.evaluation import embed
    return [tuple(o.numpy() for o in embed(enc, batches(x, y, **inputs))) for x, y in data]

def ours_features(method:str, train:Path, ev:Path, budget:float|None, seed:int, workers:int, work:Path, **kwargs) -> tuple:
    "`(features train, eval, info)` of our `pretrain(method=..., **kwargs)` after `budget` seconds (None: after one step)"
    from quality import pretrain_for, pretrain_files, eval_inputs
    from self_supervised.runs import load_backbone, backbone_config
    files = sorted(Path(train).rglob('*.png'))
    t = time.perf_counter()
    if budget is None:
        enc = load_backbone(pretrain_files(files, work/'run', seed, method=method, epochs=1, cbs=[_OneStep()], num_workers=workers, **kwargs)); epochs = None
    else: enc, epochs = pretrain_for(budget, files, work/'run', seed=seed, method=method, num_workers=workers, **kwargs)
    secs = time.perf_counter() - t
    tr, va = embed_folders(enc, [folder_tensors(train), folder_tensors(ev)], eval_inputs(backbone_config(work/'run')))
    return tr, va, dict(seconds=round(secs, 1), epochs=None if epochs is None else round(epochs, 2))

def lightly_features(method:str, train:Path, ev:Path, budget:float|None, seed:int, workers:int, work:Path, size:int, stem:str='stock') -> tuple:
    cmd = [str(lightly_python()), str(PEER), method, str(train), str(ev), str(work/'peer'), '--size', str(size), '--seed', str(seed),
           '--workers', str(workers), '--stem', stem] + (['--steps', '1'] if budget is None else ['--budget', str(budget)])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: raise RuntimeError(f"the peer's {method} failed:\n{r.stderr[-3000:]}")
    d, info = np.load(work/'peer'/'features.npz'), json.loads((work/'peer'/'run.json').read_text())
    return (d['train_x'], d['train_y']), (d['eval_x'], d['eval_y']), dict(seconds=round(info['seconds'], 1), epochs=round(info['epochs'], 2), steps=info['steps'])

def _tag(ours) -> str:
    "The suffix of a variant's cells and tables: its settings, sorted"
    return ''.join(f'-{o}' for o in sorted(ours)).replace('/', '_')

def _stem_tag(stem:str) -> str: return '' if stem == 'stock' else f'-peerstem_{stem}'

def _machine() -> dict:
    "The CPU a cell runs on: its name and the cores this process may use, PyTorch's kernel capability, and whether it computes bfloat16 natively"
    return dict(machine=f"{cpu_model()}, {len(usable_cores())} CPUs", capability=torch.backends.cpu.get_cpu_capability(),
                bf16=cpu_bf16())

def cell(lib, dataset, split, method, budget, seed, limit, workers, reuse=False, ours=(), peer_stem='stock', cached=False, keep=None, cells=CELLS) -> dict|None:
    "One cell of the table, from the cache when its version is current (any version with `reuse`); `ours`: `key=value` settings of our `pretrain`; `peer_stem`: the peer's network; `cached`: None instead of running a missing cell; `keep`: a folder to write the features of a cell that runs to (`<key>.npz`); `cells`: the folder of the cells"
    ver, ours, peer_stem = version(lib), tuple(ours) if lib == 'ours' else (), peer_stem if lib == 'lightly' else 'stock'
    key = f"{lib}-{dataset}-{split}-{method}-{'init' if budget is None else int(budget)}-s{seed}" + (f'-limit{limit}' if limit else '') + _tag(ours) + _stem_tag(peer_stem)
    f = cells/f'{key}.json'
    if f.exists() and ((c := json.loads(f.read_text())).get('version') == ver or reuse or cached): return c
    if cached: return None
    train, ev = folders(dataset, split, limit)
    work = Path(tempfile.mkdtemp(prefix='vslm-'))
    try:
        load0, t0 = _load(), time.perf_counter()
        if lib == 'ours': tr, va, info = ours_features(method, train, ev, budget, seed, workers, work, **parse_args(list(ours)))
        else: tr, va, info = lightly_features(method, train, ev, budget, seed, workers, work, SIZES[dataset], peer_stem)
        if keep: Path(keep).mkdir(parents=True, exist_ok=True); np.savez(Path(keep)/f'{key}.npz', train_x=tr[0], train_y=tr[1], eval_x=va[0], eval_y=va[1])
        finite = bool(np.isfinite(tr[0]).all() and np.isfinite(va[0]).all())   # a loop that diverged leaves NaN features: no score
        scores = score_features(*tr, *va, seed=seed) if finite else dict(knn=None, linear=None, diverged=True)
        c = dict(scores, **info, key=key, version=ver, total_seconds=round(time.perf_counter() - t0, 1),
                 load=[load0, _load()], dim=int(tr[0].shape[1]), when=time.strftime('%Y-%m-%d %H:%M'), **_machine())
    finally: shutil.rmtree(work, ignore_errors=True)
    f.parent.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(c, indent=1) + '\n')
    print(key, {k: c[k] for k in ('knn', 'linear', 'seconds', 'epochs')}, flush=True)
    return c

# ---------------------------------------------------------------------------------------------------------- the table

def table(rows:dict, datasets, methods, noise:dict|None, seeds=(0,)) -> str:
    "Markdown: for each method, data set and seed, final kNN / linear and the gain over the initial weights, ours and lightly's"
    ok_ = lambda c: c and not c.get('diverged')
    f = lambda c: (f"{c['knn']:.1f} / {c['linear']:.1f}" if ok_(c) else 'diverged (NaN features)') if c else '-'
    g = lambda a, b: f"{a['knn'] - b['knn']:+.1f} / {a['linear'] - b['linear']:+.1f}" if ok_(a) and ok_(b) else '-'
    many = len(seeds) > 1                       # a seed column: one row per seed
    out = ['| method | data |' + (' seed |' if many else '') + ' ours: final (epochs) | ours: gain over init | lightly: final (epochs) | lightly: gain over init | ahead on final and on gain |',
           '|---|---|' + ('---|' if many else '') + '---|---|---|---|---|']
    for m, d, seed in itertools.product(methods, datasets, seeds):
        o, oi, l, li = (rows.get((lib, d, m, b, seed)) for lib in ('ours', 'lightly') for b in ('final', 'init'))
        ok = '-'
        if o and oi and l and li:
            learned = o['knn'] >= oi['knn'] and o['linear'] >= oi['linear'] if ok_(o) and ok_(oi) else None
            if learned is None: ok = 'no'
            elif not (ok_(l) and ok_(li)): ok = 'yes (the peer diverged)' if learned else 'no'   # ahead if ours learned at all
            else:
                go, gl = (o['knn'] - oi['knn'], o['linear'] - oi['linear']), (l['knn'] - li['knn'], l['linear'] - li['linear'])
                ok = 'yes' if o['knn'] >= l['knn'] and o['linear'] >= l['linear'] and go[0] >= gl[0] and go[1] >= gl[1] else 'no'
        out.append(f"| {m} | {d} |" + (f" {seed} |" if many else '') + f" {f(o)} ({o['epochs'] if o else '-'}) | {g(o, oi)} | {f(l)} ({l['epochs'] if l else '-'}) | {g(l, li)} | {ok} |")
    if noise: out += ['', 'Noise (SimCLR, colorcrops, seeds ' + ', '.join(map(str, noise['seeds'])) + '): standard deviation of kNN / linear: ' +
                      '; '.join(f"{lib} {v['knn']:.2f} / {v['linear']:.2f}" for lib, v in noise['std'].items())]
    return '\n'.join(out)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--budget', type=float, default=300); p.add_argument('--methods', default=','.join(METHODS))
    p.add_argument('--datasets', default=','.join(DATASETS)); p.add_argument('--split', default='val', choices=['val', 'test'])
    p.add_argument('--seeds', default='0'); p.add_argument('--libs', default='ours,lightly')
    p.add_argument('--limit', type=int, default=None); p.add_argument('--workers', type=int, default=1)
    p.add_argument('--noise', action='store_true', help='SimCLR on colorcrops with seeds 0, 1, 2: the spread of a cell')
    p.add_argument('--reuse', action='store_true', help='cached cells of any version (the table names their versions)')
    p.add_argument('--cached', action='store_true', help="only cached cells, of any version: a missing one is '-' in the table, nothing runs")
    p.add_argument('--ours', nargs='*', default=[], help="key=value settings of our pretrain (a variant: its own cells and table, e.g. model_args.small_input=False)")
    p.add_argument('--keep-features', default=None, metavar='DIR', help="write the features of every cell that runs to DIR/<cell>.npz (for looking into a score)")
    p.add_argument('--peer-stem', default='stock', choices=['stock', 'small'], help="the peer's resnet18: stock, or without its max-pool as our small-image preset")
    p.add_argument('--cells', type=Path, default=CELLS, metavar='DIR', help="read and write the cells in DIR instead of bench/results/vs_lightly_methods/cells (the table's files carry its name)")
    a = p.parse_args(argv)
    methods, datasets, libs = a.methods.split(','), a.datasets.split(','), a.libs.split(',')
    rows, seeds = {}, [int(s) for s in a.seeds.split(',')]
    for seed, m, d, lib, b in itertools.product(seeds, methods, datasets, libs, ('init', 'final')):   # a method's rows fill first: a sitting cut short leaves whole rows
        rows[(lib, d, m, b, seed)] = cell(lib, d, a.split, m, None if b == 'init' else a.budget, seed, a.limit, a.workers, a.reuse, a.ours, a.peer_stem, a.cached, a.keep_features, a.cells)
    rows = {k: c for k, c in rows.items() if c is not None}
    noise = None
    if a.noise:
        noise_seeds = (0, 1, 2)                 # not the table's seeds
        got = {lib: [cell(lib, 'colorcrops', a.split, 'simclr', a.budget, s, a.limit, a.workers, a.reuse, a.ours, a.peer_stem, a.cached, cells=a.cells) for s in noise_seeds] for lib in libs}
        got = {lib: cs for lib, cs in got.items() if None not in cs}
        if got: noise = dict(seeds=noise_seeds, std={lib: {k: float(np.std([c[k] for c in cs], ddof=1)) for k in ('knn', 'linear')} for lib, cs in got.items()})
    md = table(rows, datasets, methods, noise, seeds)
    vers = {}
    for c in rows.values(): vers.setdefault(c['version'], []).append(c['when'])
    if len(vers) > 1: md += '\n\nCells from ' + '; '.join(f"version {v} ({min(w)} to {max(w)}, {len(w)} cells)" for v, w in sorted(vers.items(), key=lambda o: min(o[1])))
    stem = RESULTS/('vs_lightly_methods' + (f'_{a.split}' if a.split != 'test' else '') + (f'_limit{a.limit}' if a.limit else '') + _tag(a.ours) + _stem_tag(a.peer_stem) + (f'-{a.cells.name}' if a.cells.resolve() != CELLS else ''))
    cmd = 'python bench/vs_lightly_methods.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    caps = sorted({c.get('capability', 'not recorded') for c in rows.values()})   # the cells' machines: cells written before 0390015 do not say
    info = dict(command=cmd, budget=a.budget, split=a.split, seeds=seeds, capability=caps[0] if len(caps) == 1 else caps,
                assembled_on=dict(_machine(), torch=torch.__version__), noise=noise)
    out = lambda ext: stem.parent/(stem.name + ext)   # not with_suffix: a variant's settings hold dots
    cells = {'|'.join(map(str, k)): v for k, v in rows.items()}
    old = json.loads(out('.json').read_text()) if out('.json').exists() else {}
    lost = sorted({c['key'] for c in old.get('cells', {}).values()} - {c['key'] for c in rows.values()})   # by the cells' own keys: older tables' row keys have no seed
    print(md)
    if lost: print(f"\n{out('.md').name} is not written: it holds {len(lost)} cells this run did not read ({lost[0]}, ...); the cells "
                   f"this run made are kept. To write it, run with --cached and arguments that cover its cells and this run's (it was "
                   f"made by: {old.get('command', 'not recorded')}), or remove it first", file=sys.stderr); return
    out('.json').write_text(json.dumps(dict(info, cells=cells), indent=1) + '\n')
    out('.md').write_text(f"# Each method against lightly's, {a.budget:.0f} s, split {a.split}\n\nCommand: `{cmd}`\n\n{md}\n")

if __name__ == '__main__': main()

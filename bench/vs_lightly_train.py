"""This library against LightlyTrain, side by side: the same folder, the same wall-clock, each library's own defaults and
its own `embed`, one scorer for both. A benchmark, not a test.

    python bench/vs_lightly_train.py [--datasets digits,colorcrops,graytex] [--epochs 5] [--split val|test]
                                     [--out bench/results/vs_lightly_train.json] [--limit N] [--keep]
                                     [--ours KEY=VALUE ...] [--no-lightly]

Data (bench/datasets.py, which documents the sources and the split rules): `digits`, the demo MNIST digits (4000/1000,
28 px gray); `colorcrops`, 48 px color crops of 10 photos labelled by photo (3000/1000); `graytex`, 32 px gray crops of
10 textures and documents labelled by image (3000/1000). `--split test` trains on `train/` and scores on the held-out
`test/` (the comparison, run once); `--split val` trains on `val_train/` and scores on `val/`, carved out of `train/`
(for choosing defaults). `--limit N` takes N images of each folder (smoke runs; the figures mean nothing).

Per data set (S: its image side), each a subprocess timed as a whole, Python start-up and imports included:
  - ours: `self-supervised pretrain out=... data=<train> model=resnet18 epochs=<--epochs> size=S`, everything else at its
    defaults; then `self-supervised embed` of the training and the evaluation folders (`size`: the trained one).
  - LightlyTrain (its own venv, bench/venv_lightly_train, made on first use: `lightly-train==0.18.*` with our torch
    pins from constraints.txt; telemetry off, `LIGHTLY_TRAIN_EVENTS_DISABLED=1`), called as its docs show:
    `lightly_train.pretrain(out, data, model="torchvision/resnet18", method="simclr", epochs=E, batch_size=128,
    devices=1, num_workers=1, accelerator="cpu", transform_args={"image_size": (S, S)})`, then `lightly_train.embed(
    out, data, checkpoint=<out>/checkpoints/last.ckpt, image_size=(S, S), num_workers=1, accelerator="cpu")` of both
    folders. Equal wall-clock: a 1-epoch run of the same call gives its seconds per epoch; E = round(our seconds / that),
    at least 1 (E = 1 reuses that run). Both times are printed: the E-epoch run's and, in brackets, the 1-epoch run's.
  - raw pixels: the images' values in [0, 1], flattened; PCA-50: their first 50 principal components (scikit-learn
    `PCA`, fit on the training images only).
Every row is scored by bench/score.py (`score_features`): kNN (k=20, cosine, distance-weighted) and logistic regression
on standardized features, fit on the training features, top-1 % on the evaluation images. Our features are also scored as `embed`'s
other poolings would give them: with `catavgmax` (the default), its two halves are exactly the `avg` and the `max`
features of the same backbone (checked at start), a table of their own in the Markdown.

Writes `--out` (JSON: rows, commands, versions, machine, load average before and after) and the Markdown table beside it
(same stem, `.md`), and prints the table. For the defaults search on the validation splits: `--ours method=vicreg ...`
passes more arguments to our `pretrain` (a candidate default), `--no-lightly` leaves LightlyTrain out (its validation
figures do not depend on our candidate, only its epochs do, through our seconds). Default `--out`: bench/results/vs_lightly_train[_val][_limitN].json.
Timings mean something only on a quiet machine: the JSON records the load average.
"""
from __future__ import annotations
import argparse, functools, json, os, platform, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from datasets import DATASETS, SIZES, folders, load_folder
from score import score_features, KNN_K
from host import cpu_model, usable_cores

REPO = BENCH.parent
RESULTS = BENCH/'results'
LT_VENV = BENCH/'venv_lightly_train'
LT_PIN = 'lightly-train==0.18.*'
LT_ENV = dict(LIGHTLY_TRAIN_EVENTS_DISABLED='1')

# ------------------------------------------------------------------------------------------------------- subprocesses

def _run(cmd:list, log:Path, env:dict|None=None) -> float:
    "Run `cmd` (stdout and stderr to `log`); its wall-clock seconds. Raises with the log's tail if it fails"
    t = time.perf_counter()
    with open(log, 'w') as f: rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, **(env or {})}).returncode
    secs = time.perf_counter() - t
    if rc: raise RuntimeError(f"{' '.join(map(str, cmd[:3]))} ... failed ({rc}); the end of {log}:\n" + ''.join(open(log).readlines()[-30:]))
    return secs

def lt_python() -> Path:
    "The Python of LightlyTrain's venv, made first if missing (`python3 -m venv` + pip, our torch pins)"
    py = LT_VENV/'bin'/'python'
    if not py.exists():
        print(f'making {LT_VENV} ({LT_PIN}, -c constraints.txt) ...', flush=True)
        subprocess.run([sys.executable, '-m', 'venv', str(LT_VENV)], check=True)
        subprocess.run([str(py), '-m', 'pip', 'install', '-q', '-c', str(REPO/'constraints.txt'), LT_PIN, 'scikit-learn'], check=True)
    return py

def _py_snippet(code:str) -> list: return [str(lt_python()), '-c', code]

def ours_cli() -> list:
    exe = Path(sys.executable).parent/'self-supervised'
    return [str(exe)] if exe.exists() else [sys.executable, '-m', 'self_supervised.cli']

def ours(train:Path, evald:Path, size:int, epochs:int, work:Path, extra:list=()) -> dict:
    "Pretrain with our CLI (timed; `extra`: more KEY=VALUE arguments), embed both folders; features and the command"
    run = work/'ours'
    cmd = ours_cli() + ['pretrain', f'out={run}', f'data={train}', 'model=resnet18', f'epochs={epochs}', f'size={size}', *extra]
    secs = _run(cmd, work/'ours_pretrain.log')
    feats = {}
    for k, d in dict(train=train, eval=evald).items():
        out = work/f'ours_{k}.npy'
        _run(ours_cli() + ['embed', f'data={d}', f'checkpoint={run}', f'out={out}'], work/f'ours_embed_{k}.log')
        files = (work/f'ours_{k}.files.txt').read_text().split('\n')
        feats[k] = (np.load(out), [Path(f).parent.name for f in files if f])
    shown = ' '.join([f'self-supervised pretrain out=<out> data=<train> model=resnet18 epochs={epochs} size={size}', *extra])
    from self_supervised.runs import backbone_config
    pool = backbone_config(run)['pool_type']
    return dict(seconds=secs, feats=feats, command=shown, pool_type=pool)

@functools.cache
def _check_halves():
    "Fail unless a `catavgmax` encoder's features are its `avg` features followed by its `max` features"
    import torch
    from self_supervised.layers import create_encoder
    torch.manual_seed(0)
    x, cat = torch.randn(2, 1, 28, 28), create_encoder('resnet18', n_in=1, pool_type='catavgmax', small_input=2).eval()
    with torch.no_grad():
        f = cat(x)
        for i, pt in enumerate(('avg', 'max')):
            one = create_encoder('resnet18', n_in=1, pool_type=pt, small_input=2).eval()
            one.load_state_dict(cat.state_dict())
            assert torch.allclose(f[:, i*512:(i+1)*512], one(x), atol=1e-5), f'catavgmax half {i} is not {pt} pooling'

def pooling_feats(feats:dict, pool_type:str) -> dict:
    """The features of the other poolings `embed` could return from the same backbone, without re-embedding: timm's
    `catavgmax` is `cat(avg, max)`, so its halves are exactly the `avg` and the `max` pooling ({} for other poolings)"""
    if pool_type != 'catavgmax': return {}
    _check_halves()
    half = lambda sl: {k: (x[:, sl], l) for k, (x, l) in feats.items()}
    d = feats['train'][0].shape[1] // 2
    return dict(avg=half(slice(0, d)), max=half(slice(d, None)))

LT_PRETRAIN = ('import lightly_train\n'
               'lightly_train.pretrain(out={out!r}, data={data!r}, model="torchvision/resnet18", method="simclr", epochs={epochs}, '
               'batch_size=128, devices=1, num_workers=1, accelerator="cpu", transform_args={{"image_size": ({size}, {size})}})\n')
LT_EMBED = ('import lightly_train\n'
            'for out, data in {pairs!r}:\n'
            '    lightly_train.embed(out=out, data=data, checkpoint={ckpt!r}, image_size=({size}, {size}), num_workers=1, accelerator="cpu")\n')

def lightly_pretrain(train:Path, size:int, epochs:int, out:Path, log:Path) -> float:
    return _run(_py_snippet(LT_PRETRAIN.format(out=str(out), data=str(train), epochs=epochs, size=size)), log, LT_ENV)

def lightly(train:Path, evald:Path, size:int, ours_s:float, work:Path) -> dict:
    "LightlyTrain for round(ours_s / its seconds per epoch) epochs, at least 1; embed both folders; features"
    one = lightly_pretrain(train, size, 1, work/'lt_e1', work/'lt_pretrain_e1.log')
    epochs = max(1, round(ours_s / one))
    run, secs = work/'lt_e1', one
    if epochs > 1: run, secs = work/f'lt_e{epochs}', lightly_pretrain(train, size, epochs, work/f'lt_e{epochs}', work/f'lt_pretrain_e{epochs}.log')
    pairs = [(str(work/f'lt_{k}.pt'), str(d)) for k, d in dict(train=train, eval=evald).items()]
    _run(_py_snippet(LT_EMBED.format(pairs=pairs, ckpt=str(run/'checkpoints'/'last.ckpt'), size=size)), work/'lt_embed.log', LT_ENV)
    feats = {}
    for k in ('train', 'eval'):
        # torch format: {'filenames': paths relative to the folder, '<class>/<image>.png'; 'embeddings': (N, D)}
        code = (f"import torch, numpy as np; e = torch.load({str(work/f'lt_{k}.pt')!r}, weights_only=True); "
                f"np.save({str(work/f'lt_{k}.npy')!r}, e['embeddings'].float().numpy()); "
                f"open({str(work/f'lt_{k}.files.txt')!r}, 'w').write(chr(10).join(e['filenames']))")
        _run(_py_snippet(code), work/f'lt_load_{k}.log')
        files = (work/f'lt_{k}.files.txt').read_text().split('\n')
        feats[k] = (np.load(work/f'lt_{k}.npy'), [Path(f).parent.name for f in files if f])
    return dict(seconds=secs, one_epoch_s=one, epochs=epochs, feats=feats,
                command=LT_PRETRAIN.format(out='<out>', data='<train>', epochs=epochs, size=size).split('\n')[1])

# ------------------------------------------------------------------------------------------------------------- scoring

def _score(feats:dict, classes:list, seed:int=0) -> dict:
    (xt, lt), (xe, le) = feats['train'], feats['eval']
    yt, ye = (np.array([classes.index(c) for c in o]) for o in (lt, le))
    return dict(score_features(xt, yt, xe, ye, seed), dim=int(xt.shape[1]))

def pixel_rows(train:Path, evald:Path) -> dict:
    from sklearn.decomposition import PCA
    xt, yt, classes = load_folder(train)
    xe, ye, _ = load_folder(evald)
    xt, xe = (o.reshape(len(o), -1).astype(np.float32) / 255 for o in (xt, xe))
    pca = PCA(min(50, *xt.shape), random_state=0).fit(xt)
    return dict(raw=dict(score_features(xt, yt, xe, ye), dim=int(xt.shape[1])),
                pca50=dict(score_features(pca.transform(xt), yt, pca.transform(xe), ye), dim=int(pca.n_components_)))

def dataset_row(name:str, split:str, epochs:int, limit:int|None, work:Path, extra:list=(), with_lightly:bool=True) -> dict:
    train, evald = folders(name, split, limit)
    size = SIZES[name]
    classes = sorted(p.name for p in train.iterdir() if p.is_dir())
    n = lambda d: len(list(d.rglob('*.png')))
    row = dict(size=size, n_train=n(train), n_eval=n(evald), classes=len(classes), train=str(train.relative_to(REPO)),
               eval=str(evald.relative_to(REPO)))
    print(f'{name}: {row["n_train"]} training / {row["n_eval"]} evaluation images, {size} px', flush=True)
    row.update(pixel_rows(train, evald))
    print(f'  raw pixels {row["raw"]}, PCA-50 {row["pca50"]}', flush=True)
    w = work/name; w.mkdir(parents=True)
    o = ours(train, evald, size, epochs, w, extra)
    row['ours'] = dict(_score(o['feats'], classes), seconds=round(o['seconds'], 1), epochs=epochs, command=o['command'],
                       pool_type=o['pool_type'], other_pooling={k: _score(f, classes) for k, f in pooling_feats(o['feats'], o['pool_type']).items()})
    print(f'  ours {row["ours"]}', flush=True)
    if not with_lightly: return row
    l = lightly(train, evald, size, o['seconds'], w)
    row['lightly_train'] = dict(_score(l['feats'], classes), seconds=round(l['seconds'], 1), one_epoch_s=round(l['one_epoch_s'], 1),
                                epochs=l['epochs'], command=l['command'])
    print(f'  LightlyTrain {row["lightly_train"]}', flush=True)
    return row

# ------------------------------------------------------------------------------------------------------------- results

def versions() -> dict:
    import sklearn, torch, self_supervised
    lt = subprocess.run(_py_snippet('import lightly_train, torch, torchvision; print(lightly_train.__version__, torch.__version__, torchvision.__version__)'),
                        capture_output=True, text=True, env={**os.environ, **LT_ENV}).stdout.split()
    git = lambda *a: subprocess.run(['git', *a], capture_output=True, text=True, cwd=REPO).stdout.strip()
    return dict(self_supervised=self_supervised.__version__, git=git('rev-parse', '--short', 'HEAD') + ('+dirty' if git('status', '--porcelain', '--untracked-files=no') else ''),
                torch=torch.__version__, scikit_learn=sklearn.__version__, python=platform.python_version(),
                lightly_train=lt[0] if lt else None, lightly_train_torch=lt[1] if lt else None)

def machine() -> str:
    import torch
    return f"{cpu_model()}, {len(usable_cores())} cores, {torch.get_num_threads()} torch threads, {platform.system()}"

def markdown(res:dict) -> str:
    ev = 'held-out test' if res['split'] == 'test' else 'validation (carved out of train)'
    L = [f"# This library vs LightlyTrain {res['versions']['lightly_train']} at equal wall-clock: SimCLR resnet18, CPU", '',
         f"Ours: `self-supervised pretrain model=resnet18 epochs={res['epochs']} size=<native>{''.join(' ' + e for e in res.get('ours_args', []))}`, everything else default; "
         f"LightlyTrain: `lightly_train.pretrain(..., method=\"simclr\", batch_size=128, ...)` for round(our seconds / its "
         f"seconds per epoch) epochs. Seconds: the whole pretraining command (LightlyTrain's 1-epoch run in brackets). "
         f"Top-1 % on the {ev} images of kNN (k={res['knn_k']}, cosine, distance-weighted) / logistic regression on "
         f"standardized features (bench/score.py), fit on the training features; each library's own `embed`." +
         (f" **Smoke run: {res['limit']} images per folder; the figures mean nothing.**" if res['limit'] else ''), '',
         '| data set (train/eval, px) | ours: s | kNN | linear | LightlyTrain: epochs | s | kNN | linear | raw pixels kNN / linear | PCA-50 kNN / linear |',
         '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for name, r in res['rows'].items():
        o, l = r['ours'], r.get('lightly_train', dict(epochs='-', seconds=float('nan'), one_epoch_s=float('nan'), knn=float('nan'), linear=float('nan')))
        L.append(f"| {name} ({r['n_train']}/{r['n_eval']}, {r['size']} px) | {o['seconds']:.0f} | {o['knn']:.1f} | {o['linear']:.1f} "
                 f"| {l['epochs']} | {l['seconds']:.0f} ({l['one_epoch_s']:.0f}) | {l['knn']:.1f} | {l['linear']:.1f} "
                 f"| {r['raw']['knn']:.1f} / {r['raw']['linear']:.1f} | {r['pca50']['knn']:.1f} / {r['pca50']['linear']:.1f} |")
    pools = {n: r['ours'] for n, r in res['rows'].items() if r['ours'].get('other_pooling')}
    if pools:
        first = next(iter(pools.values()))
        ks = list(first['other_pooling'])
        L += ['', f"`embed`'s pooling, the same backbones: ours' {first['pool_type']} features and their halves "
              f"({', '.join(ks)} pooling), kNN / linear:", '',
              '| data set | ' + ' | '.join([first['pool_type'], *ks]) + ' |', '|---|' + '---:|' * (1 + len(ks))]
        for n, o in pools.items():
            L.append(f"| {n} | {o['knn']:.1f} / {o['linear']:.1f} | " + ' | '.join(f"{o['other_pooling'][k]['knn']:.1f} / {o['other_pooling'][k]['linear']:.1f}" for k in ks) + ' |')
    v = res['versions']
    L += ['', f"Command: `{res['command']}` ({res['total_s']:.0f} s in all). Machine: {res['machine']}; load average "
          f"{res['loadavg_before'][0]:.2f} before, {res['loadavg_after'][0]:.2f} after. Versions: self_supervised "
          f"{v['self_supervised']} ({v['git']}), torch {v['torch']}; lightly-train {v['lightly_train']}, torch {v['lightly_train_torch']}; "
          f"scikit-learn {v['scikit_learn']}."]
    return '\n'.join(L) + '\n'

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--datasets', default=','.join(DATASETS), help=f'comma-separated, of {",".join(DATASETS)}')
    p.add_argument('--epochs', type=int, default=5, help='our epochs (LightlyTrain gets the same wall-clock)')
    p.add_argument('--split', default='test', choices=['test', 'val'], help="'val': train on val_train/, score on val/")
    p.add_argument('--limit', type=int, default=None, help='N images of each folder (smoke runs)')
    p.add_argument('--out', default=None, help='JSON path (the .md goes beside it)')
    p.add_argument('--keep', action='store_true', help='keep the runs, logs and embeddings (the folder is printed)')
    p.add_argument('--ours', nargs='*', default=[], metavar='KEY=VALUE', help='more arguments to our pretrain (a candidate default)')
    p.add_argument('--no-lightly', action='store_true', help='leave LightlyTrain out (defaults search)')
    a = p.parse_args(argv)
    names = a.datasets.split(',')
    for n in names:
        if n not in DATASETS: p.error(f'unknown data set {n!r}; one of {",".join(DATASETS)}')
    out = Path(a.out) if a.out else RESULTS/('vs_lightly_train' + ('_val' if a.split == 'val' else '') + (f'_limit{a.limit}' if a.limit else '') +
                                   ''.join('_' + e.replace('=', '-').replace('/', '-') for e in a.ours) + '.json')
    t0, load0 = time.perf_counter(), os.getloadavg()
    lt_python()
    work = Path(tempfile.mkdtemp(prefix='vs_lt-'))
    print(f'work folder: {work}', flush=True)
    try: rows = {n: dataset_row(n, a.split, a.epochs, a.limit, work, a.ours, not a.no_lightly) for n in names}
    finally:
        if not a.keep: shutil.rmtree(work, ignore_errors=True)
    cmd = 'python bench/vs_lightly_train.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    res = dict(command=cmd.strip(), split=a.split, epochs=a.epochs, limit=a.limit, knn_k=KNN_K, rows=rows, ours_args=a.ours,
               machine=machine(), versions=versions(), loadavg_before=load0, loadavg_after=os.getloadavg(),
               total_s=round(time.perf_counter() - t0, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + '\n')
    md = markdown(res)
    out.with_suffix('.md').write_text(md)
    print(md)
    print(f'wrote {out} and {out.with_suffix(".md")}')

if __name__ == '__main__': main()

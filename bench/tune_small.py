"""Search the small-image SimCLR recipe on the demo digits (`SMALL_IMAGE_PRESET`, the library's 28-64 px default, comes from here).

    python bench/tune_small.py --grid grid.json [--epochs 6] [--out bench/results/tune.json]

`grid.json` is a list of `pretrain` keyword arguments (nested like `pretrain`'s: `batch_size`, `epochs`,
`method_args={"temp": 0.2}`, `optim_args={"lr": 2e-3, "warmup_epochs": 1}`, `transform_args={...}`, `model_args={...}`),
each applied on top of what `pretrain` resolves for 28 px digits (the current preset). An empty dict runs the preset.

Tuning uses a validation split carved out of the 4000 training digits (3500 train / 500 validation, seeded,
stratified: `digits('tune')`); the 1000 held-out digits are never looked at. Each configuration runs `pretrain` itself
(Learner + `SimCLR` callback, the path of every run) for a fixed number of epochs, so that its settings become preset
values as they are; its exported backbone's features are scored with the bench's one kNN (k=200, temp=0.1) and linear
probe, on the validation split. Epochs, not seconds: a grid's configurations see the same data however loaded the machine.
"""
import argparse, json, shutil, sys, tempfile, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from quality import digits, write_pngs, eval_inputs, encoder_row, pretrain_files, load_backbone, backbone_config

def run(cfg:dict, files, train, valid, work:Path, seed:int=0):
    "Train `pretrain(**cfg)` on `files`, return the validation scores of its backbone"
    kw = dict(dict(epochs=6), **cfg)
    t = time.perf_counter()
    path = pretrain_files(files, work/'run', seed, **kw)
    train_s = time.perf_counter() - t
    r = encoder_row(load_backbone(path), train, valid, eval_inputs(backbone_config(path)))
    metrics = (work/'run'/'metrics.csv').read_text().splitlines()
    return dict(cfg=cfg, knn=r['knn_top1'], linear=r['linear_top1'], train_s=train_s,
                loss=float(metrics[-1].split(',')[1]), epochs=len(metrics) - 1)

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--grid', help='JSON file: a list of dicts of pretrain arguments')
    p.add_argument('--epochs', type=int, default=None, help="epochs of configurations that do not set them")
    p.add_argument('--out', default=None)
    p.add_argument('--keep', action='store_true', help="keep the runs' folder (printed)")
    a = p.parse_args()
    print('command: python', ' '.join(sys.argv), flush=True)
    grid = json.loads(Path(a.grid).read_text()) if a.grid else [{}]
    if a.epochs: grid = [{'epochs': a.epochs, **g} for g in grid]
    train, valid = digits('tune')
    work = Path(tempfile.mkdtemp(prefix='tune-'))
    print(f'work folder: {work}', flush=True)
    try:
        files = write_pngs(train[0], work/'images')
        out = Path(a.out or Path(__file__).parent/'results'/'tune.json')
        out.parent.mkdir(parents=True, exist_ok=True)
        res = []
        for cfg in grid:
            r = run(cfg, files, train, valid, work)
            res.append(r)
            print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)
            out.write_text(json.dumps(dict(command='python ' + ' '.join(sys.argv), torch_threads=torch.get_num_threads(),
                                           results=res), indent=1) + '\n')
    finally:
        if not a.keep: shutil.rmtree(work, ignore_errors=True)
    best = max(res, key=lambda r: min(r['knn'], r['linear']))
    print('best:', json.dumps(best))

if __name__ == '__main__': main()

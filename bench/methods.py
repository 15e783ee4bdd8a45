"""Every registered method for the same wall-clock budget on the demo digits, through `pretrain`, scored the same way.

    python bench/methods.py [--budget 300] [--methods simclr,byol] [--seed 0] [--split test|tune] [--vit]

Each method trains a resnet18 (or with `--vit` a ViT) with `pretrain(method=...)`, everything else at the library's defaults for 28 px images
(each method's small-image preset), for `--budget` seconds of wall-clock: the schedule (warmup, then cosine; BYOL's
momentum too) is stretched over the budget by `TimeBudget` (bench/quality.py). Its exported backbone embeds the 4000
training and the 1000 held-out digits (`mnist_split`), and one scorer (bench/score.py) fits on the training features
and scores the held-out ones: kNN (k=20, cosine, distance-weighted) and logistic regression on standardized features.
Distillation runs last, taught by the SimCLR run of the same bench: its row counts the teacher's seconds too.
`--vit` trains the methods for transformers instead, each with the same ViT (`vit_tiny_patch16_224`, patches of
4 px, `dynamic_img_size`): DINO, MAE and DINOv2 by default (MAE and DINOv2 need one: without `--vit` they are skipped).
The raw pixels are scored the same way, for reference. `--split tune` carves 3500/500 out of the training digits
instead (for choosing defaults; never choose them on the held-out 1000).

Writes bench/results/methods[_vit][_tune].json and .md (the table, the command, the machine).
"""
from __future__ import annotations
import argparse, json, shutil, sys, tempfile, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from quality import digits, write_pngs, eval_inputs, batches, pretrain_for, RESULTS
from score import score_features, KNN_K
from host import cpu_model, usable_cores
from self_supervised.registry import list_methods
from self_supervised.runs import backbone_config
from self_supervised.evaluation import embed

VIT, VIT_ARGS = 'vit_tiny_patch16_224', dict(patch_size=4, dynamic_img_size=True)   # 7 x 7 patches of the 28 px digits
VIT_METHODS, NEEDS_VIT = ('dino', 'mae', 'dinov2'), ('mae', 'dinov2')

def method_row(name:str, budget:float, files, train, valid, work:Path, seed:int=0, **kwargs) -> dict:
    "Pretrain `name` for `budget` seconds on `files` (`kwargs`: more `pretrain` arguments); the scores of its backbone's features"
    t = time.perf_counter()
    enc, epochs = pretrain_for(budget, files, work/name, seed=seed, method=name, **kwargs)
    secs = time.perf_counter() - t
    inputs = eval_inputs(backbone_config(work/name))
    tf, tl = embed(enc, batches(*train, **inputs))
    vf, vl = embed(enc, batches(*valid, **inputs))
    return dict(score_features(tf, tl, vf, vl, seed), epochs=round(epochs, 2), seconds=round(secs, 1), dim=tf.shape[1])

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--budget', type=float, default=300, help='wall-clock seconds of pretraining per method')
    p.add_argument('--methods', default=None, help='comma-separated names (default: every registered method)')
    p.add_argument('--split', default='test', choices=['test', 'tune'])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--keep', action='store_true', help="keep the runs' folder (printed)")
    p.add_argument('--vit', action='store_true', help='every method with the same ViT (default methods: dino, mae, dinov2)')
    a = p.parse_args(argv)
    names = a.methods.split(',') if a.methods else list(VIT_METHODS) if a.vit else [n for n in list_methods() if n not in NEEDS_VIT]
    model = dict(model=VIT, model_args=VIT_ARGS) if a.vit else {}
    train, valid = digits(a.split, a.seed)
    work = Path(tempfile.mkdtemp(prefix='methods-'))
    print(f'work folder: {work}', flush=True)
    try:
        files = write_pngs(train[0], work/'images')
        t0 = time.perf_counter()
        rows = {'raw pixels': dict(score_features(train[0].flatten(1).float() / 255, train[1], valid[0].flatten(1).float() / 255, valid[1], a.seed), dim=784)}
        for name in sorted(names, key=lambda n: n == 'distillation'):  # distillation last: its teacher is this bench's SimCLR run
            kw = dict(model)
            if name == 'distillation':
                if 'simclr' not in rows: print('distillation skipped: its teacher is the simclr run (add simclr to --methods)'); continue
                kw.update(method_args=dict(teacher=str(work/'simclr')))
            rows[name] = method_row(name, a.budget, files, train, valid, work, a.seed, **kw)
            if name == 'distillation': rows[name]['teacher_seconds'] = rows['simclr']['seconds']
            print(name, rows[name], flush=True)
    finally:
        if not a.keep: shutil.rmtree(work, ignore_errors=True)
    cmd = 'python bench/methods.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    machine = f"{cpu_model()}, {len(usable_cores())} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    res = dict(command=cmd.strip(), machine=machine, budget_s=a.budget, split=a.split, knn_k=KNN_K, rows=rows,
               total_s=round(time.perf_counter() - t0, 1))
    stem = RESULTS/('methods' + ('_vit' if a.vit else '') + ('_tune' if a.split == 'tune' else ''))
    stem.with_suffix('.json').write_text(json.dumps(res, indent=2) + '\n')
    held = 'the 1000 held-out digits' if a.split == 'test' else 'a 500-digit validation split of the training digits'
    arch = f"{VIT} (patches of 4 px)" if a.vit else 'resnet18'
    md = [f"# Methods at equal wall-clock: {a.budget:.0f} s of `pretrain` each, {arch}, demo digits (28 px)", '',
          f"kNN (k={KNN_K}, cosine, distance-weighted) and logistic regression on standardized features (scikit-learn), "
          f"fit on the training features, top-1 % on {held}.", '',
          '| method | kNN | linear | epochs in the budget | pretraining s |', '|---|---|---|---|---|']
    for n, r in rows.items():
        secs = f"{r['seconds']} + {r['teacher_seconds']} (teacher: simclr)" if 'teacher_seconds' in r else r.get('seconds', '-')
        md.append(f"| {n} | {r['knn']:.1f} | {r['linear']:.1f} | {r.get('epochs', '-')} | {secs} |")
    md += ['', f"Command: `{res['command']}` ({res['total_s']:.0f} s in all). Machine: {machine}."]
    stem.with_suffix('.md').write_text('\n'.join(md) + '\n')
    print('\n'.join(md))

if __name__ == '__main__': main()

"""The CPU speedups of issue 15, side by side on the default recipe's training step: fp32 (what `pretrain` runs),
channels_last, bf16 autocast, both, `torch.compile`, and the stock stem (stride 2 + max-pool, 4x fewer positions);
and, with `--breakdown`, where the fp32 step spends its time.

    python bench/cpu_speedups.py                  # resnet18 with the small-image preset's stem, 28 px gray, batch 64
    python bench/cpu_speedups.py --size 48 --n-in 3
    python bench/cpu_speedups.py --breakdown      # the fp32 step, part by part

The step is the one `pretrain` takes, without fastai around it: both views through encoder + SimCLR projector
(the small-image preset: stride-2 stem, hidden 512), InfoNCE (temp 0.1), backward, AdamW. The views are real
digits (the demo's), augmented once beforehand: augmentation is the same for every variant and not timed. The variants
run in turns (round-robin, `--rounds` rounds of `--steps` steps each after a warm-up), so slow spells of a noisy
machine hit them all; each variant's figure is its median round. Writes bench/results/cpu_speedups.json.

`--breakdown` times, median of `--rounds` steps, the parts of the fp32 step one after the other: the preset's
augmentation of both views (`get_batch_augs` with the small-image preset's transform_args, on the batch), the
forward of the stem and of each stage of the resnet, pooling + projector, InfoNCE, the backward, and AdamW's step;
as milliseconds and shares of their sum. Writes bench/results/cpu_breakdown.json.
"""
import argparse, json, statistics, time
from pathlib import Path
import torch
from self_supervised.data import mnist_arrays
from host import cpu_model
from self_supervised.layers import create_encoder
from self_supervised.losses import info_nce
from self_supervised.vision.simclr import create_simclr_model

VARIANTS = {'fp32': {}, 'channels_last': dict(cl=True), 'bf16 autocast': dict(bf16=True),
            'channels_last + bf16': dict(cl=True, bf16=True), 'torch.compile': dict(compile=True), 'stock stem': dict(small=0)}

def make_model(n_in, small=2, seed=0):
    torch.manual_seed(seed)
    return create_simclr_model(create_encoder('resnet18', n_in=n_in, small_input=small), hidden_size=512, projection_size=128)

def make_step(x, n_in, cl=False, bf16=False, compile=False, small=2, seed=0):
    "A training step of a fresh model on the views `x` (2B,C,H,W), with the variant's settings"
    model = make_model(n_in, small, seed)
    fmt = torch.channels_last if cl else torch.contiguous_format
    model, x = model.to(memory_format=fmt), x.contiguous(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    fwd = torch.compile(model) if compile else model
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            z = fwd(x).float()
        z1, z2 = z.chunk(2)
        loss = (info_nce(z1, z2, 0.1) + info_nce(z2, z1, 0.1)) / 2
        opt.zero_grad(); loss.backward(); opt.step()
        return loss.item()
    return step

def preset_augs(size, n_in):
    "The two view pipelines of SimCLR's small-image preset, built by `method_aug_pipelines` as `pretrain` builds them"
    from self_supervised.registry import get_method
    from self_supervised.settings import resolve_transforms
    from self_supervised.config import method_aug_pipelines
    spec = get_method('simclr')
    t = resolve_transforms([spec.transform_args, spec.small_preset.get('transform_args')], spec.n_views)
    return method_aug_pipelines(dict(transform_args=t, model_args=dict(n_in=n_in), size=size))

def breakdown(raw, n_in, rounds):
    "Milliseconds per part of the fp32 step on the images `raw` (B,C,H,W in [0, 1]): median over `rounds` steps after 2 warm-up steps"
    augs, model = preset_augs(raw.shape[-1], n_in), make_model(n_in)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    body, marks = model.encoder.body, {}
    parts = ['stem', 'layer1', 'layer2', 'layer3', 'layer4']
    body.layer1.register_forward_pre_hook(lambda m, i: marks.__setitem__('stem', time.perf_counter()))
    for n in parts[1:]: getattr(body, n).register_forward_hook(lambda m, i, o, n=n: marks.__setitem__(n, time.perf_counter()))
    times = []
    for r in range(rounds + 2):
        t = {}; t0 = time.perf_counter()
        x = torch.cat([a(raw) for a in augs]); t1 = time.perf_counter()
        z = model(x); t2 = time.perf_counter()
        z1, z2 = z.chunk(2)
        loss = (info_nce(z1, z2, 0.1) + info_nce(z2, z1, 0.1)) / 2; t3 = time.perf_counter()
        opt.zero_grad(); loss.backward(); t4 = time.perf_counter()
        opt.step(); t5 = time.perf_counter()
        t['augmentation (2 views)'] = t1 - t0
        prev = t1
        for n in parts: t[f'forward: {n}'] = marks[n] - prev; prev = marks[n]
        t['forward: pool + projector'] = t2 - prev
        t['InfoNCE'], t['backward (all)'], t['AdamW step'] = t3 - t2, t4 - t3, t5 - t4
        if r >= 2: times.append(t)
    ms = {k: 1000 * statistics.median(o[k] for o in times) for k in times[0]}
    total = sum(ms.values())
    return dict(ms={k: round(v, 1) for k, v in ms.items()}, share={k: round(v / total, 3) for k, v in ms.items()}, total_ms=round(total, 1),
                images_per_s=round(len(raw) / total * 1000, 1))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--size', type=int, default=28); p.add_argument('--n-in', type=int, default=1)
    p.add_argument('--bs', type=int, default=64); p.add_argument('--steps', type=int, default=5)
    p.add_argument('--rounds', type=int, default=5); p.add_argument('--variants', default=','.join(VARIANTS))
    p.add_argument('--out', default=None); p.add_argument('--breakdown', action='store_true', help='time the parts of the fp32 step')
    a = p.parse_args()
    X, _ = mnist_arrays()
    if a.breakdown:
        raw = torch.nn.functional.interpolate(torch.from_numpy(X[:a.bs]).float()[:, None] / 255, size=(a.size, a.size), mode='bilinear').repeat(1, a.n_in, 1, 1)
        t0 = time.time()
        res = dict(machine=f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
                   size=a.size, n_in=a.n_in, bs=a.bs, rounds=a.rounds, **breakdown(raw.clamp(0, 1), a.n_in, a.rounds))
        res['seconds'] = round(time.time() - t0)
        for k, v in res['ms'].items(): print(f"{k:28s} {v:8.1f} ms  {100 * res['share'][k]:5.1f}%")
        print(f"{'sum':28s} {res['total_ms']:8.1f} ms  ({res['images_per_s']} images/s)")
        Path(a.out or 'bench/results/cpu_breakdown.json').write_text(json.dumps(res, indent=1) + '\n')
        raise SystemExit
    x = torch.from_numpy(X[:2 * a.bs]).float()[:, None] / 255
    x = torch.nn.functional.interpolate(x, size=(a.size, a.size), mode='bilinear').repeat(1, a.n_in, 1, 1)
    x = (x - 0.5) / 0.25 + 0.05 * torch.randn_like(x)
    names = a.variants.split(',')
    steps = {n: make_step(x, a.n_in, **VARIANTS[n]) for n in names}
    t0 = time.time()
    for n in names:  # warm-up (and compilation)
        t = time.time(); [steps[n]() for _ in range(2)]; print(f'{n}: warm-up {time.time() - t:.1f} s', flush=True)
    rounds = {n: [] for n in names}
    for r in range(a.rounds):
        for n in names:
            t = time.perf_counter()
            for _ in range(a.steps): steps[n]()
            rounds[n].append(a.steps * a.bs / (time.perf_counter() - t))
        print(f'round {r + 1}: ' + ', '.join(f'{n} {v[-1]:.1f}' for n, v in rounds.items()), flush=True)
    base = statistics.median(rounds[names[0]])
    res = dict(machine=f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
               size=a.size, n_in=a.n_in, bs=a.bs, steps=a.steps, rounds=a.rounds, seconds=round(time.time() - t0),
               images_per_s={n: round(statistics.median(v), 1) for n, v in rounds.items()},
               vs_first={n: round(statistics.median(v) / base, 3) for n, v in rounds.items()})
    for n in names: print(f"{n:22s} {res['images_per_s'][n]:7.1f} images/s  x{res['vs_first'][n]:.2f}")
    Path(a.out or 'bench/results/cpu_speedups.json').write_text(json.dumps(res, indent=1) + '\n')

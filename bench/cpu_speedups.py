"""The CPU speedups of issue 15, side by side on the default recipe's training step: fp32 (what `pretrain` runs),
channels_last, bf16 autocast, both, and `torch.compile`.

    python bench/cpu_speedups.py                  # resnet18 with the small-image preset's stem, 28 px gray, batch 64
    python bench/cpu_speedups.py --size 48 --n-in 3

The step is the one `pretrain` takes, without fastai around it: both views through encoder + SimCLR projector
(the small-image preset: stride-2 stem, hidden 512), InfoNCE (temp 0.1), backward, AdamW. The views are real
digits (the demo's), augmented once beforehand: augmentation is the same for every variant and not timed. The variants
run in turns (round-robin, `--rounds` rounds of `--steps` steps each after a warm-up), so slow spells of a noisy
machine hit them all; each variant's figure is its median round. Writes bench/results/cpu_speedups.json.
"""
import argparse, json, platform, statistics, time
from pathlib import Path
import torch
from self_supervised.data import mnist_arrays
from self_supervised.layers import create_encoder
from self_supervised.losses import info_nce
from self_supervised.vision.simclr import create_simclr_model

VARIANTS = {'fp32': {}, 'channels_last': dict(cl=True), 'bf16 autocast': dict(bf16=True),
            'channels_last + bf16': dict(cl=True, bf16=True), 'torch.compile': dict(compile=True)}

def make_step(x, n_in, cl=False, bf16=False, compile=False, seed=0):
    "A training step of a fresh model on the views `x` (2B,C,H,W), with the variant's settings"
    torch.manual_seed(seed)
    model = create_simclr_model(create_encoder('resnet18', n_in=n_in, small_input=2), hidden_size=512, projection_size=128)
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

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--size', type=int, default=28); p.add_argument('--n-in', type=int, default=1)
    p.add_argument('--bs', type=int, default=64); p.add_argument('--steps', type=int, default=5)
    p.add_argument('--rounds', type=int, default=5); p.add_argument('--variants', default=','.join(VARIANTS))
    p.add_argument('--out', default='bench/results/cpu_speedups.json')
    a = p.parse_args()
    X, _ = mnist_arrays()
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
    res = dict(machine=f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
               size=a.size, n_in=a.n_in, bs=a.bs, steps=a.steps, rounds=a.rounds, seconds=round(time.time() - t0),
               images_per_s={n: round(statistics.median(v), 1) for n, v in rounds.items()},
               vs_first={n: round(statistics.median(v) / base, 3) for n, v in rounds.items()})
    for n in names: print(f"{n:22s} {res['images_per_s'][n]:7.1f} images/s  x{res['vs_first'][n]:.2f}")
    Path(a.out).write_text(json.dumps(res, indent=1) + '\n')

"""The training step of `pretrain(method=M)` with and without `tiny_map_convs` (3x3 convolutions on maps of fewer positions
than the kernel has taps, the 1x1 and 2x2 maps of a resnet's last stages on 12-32 px views, computed as one matrix
product on CPU; `self_supervised/layers.py`), side by side on the same machine.

    python bench/tiny_maps.py [--methods simclr,moco,byol,vicreg,dino,swav] [--datasets digits,graytex,colorcrops]
                              [--steps 20] [--warmup 5] [--rounds 2]
    python bench/tiny_maps.py --shapes [--out ...]      # one convolution: tiny_map_conv2d against F.conv2d, per shape

Each cell is `pretrain` as the benches run it (the method's small-image preset, the data set's `val_train` folder of
`bench/datasets.py`, one process, no loader workers), stopped after `--warmup` + `--steps` steps; its figure is the
median time of the last `--steps` steps (`before_batch` to `after_batch`: augmentation, forward, loss, backward,
optimizer, the method's own updates). "without" turns the convolutions back into `nn.Conv2d` in `before_fit` with the
library's own switch, `tiny_map_convs(learn.model, enable=False)`. The two run in turns, `--rounds` times, so slow spells
of a noisy machine hit both; a cell's figure is the median of its rounds. Writes bench/results/tiny_maps.json.

`--shapes` times one 3x3 convolution (padding 1) of resnet18's last stages on tiny maps instead: `tiny_map_conv2d` and
`F.conv2d` on random maps, forward alone under `torch.no_grad()` (a momentum encoder's, a teacher's) and forward and
backward (gradients set to None before each call, as a training step does), the median of 9 and 7 calls after 3 and 2;
it writes `shapes` rows to `--out` (default bench/results/tiny_maps_shapes.json; the training steps' options are unused).
"""
from __future__ import annotations
import argparse, json, shutil, statistics, sys, tempfile, time
from pathlib import Path
import torch
from fastai.callback.core import Callback, CancelFitException
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from datasets import folders
from host import cpu_model
from quality import pretrain_files
from self_supervised.layers import tiny_map_convs, tiny_map_conv2d

class StepTimes(Callback):
    "The seconds of each training step; stops the fit after `n` steps; `plain`: `nn.Conv2d` everywhere first"
    order = 100
    def __init__(self, n:int, plain:bool=False): self.n, self.plain, self.times = n, plain, []
    def before_fit(self):
        if self.plain: tiny_map_convs(self.learn.model, enable=False)
    def before_batch(self): self.t = time.perf_counter()
    def after_batch(self):
        self.times.append(time.perf_counter() - self.t)
        if len(self.times) >= self.n: raise CancelFitException()

def step_ms(method:str, dataset:str, plain:bool, steps:int, warmup:int) -> float:
    "The median milliseconds of `steps` training steps after `warmup` ones"
    files = sorted(folders(dataset, 'val')[0].rglob('*.png'))
    cb, work = StepTimes(warmup + steps, plain), Path(tempfile.mkdtemp(prefix='tiny-maps-'))
    try: pretrain_files(files, work/'run', 0, method=method, epochs=100, cbs=[cb])
    finally: shutil.rmtree(work, ignore_errors=True)
    return statistics.median(cb.times[warmup:]) * 1000

SHAPES = [(b, c, hw) for b in (32, 64, 128, 384) for c, hw in ((512, 2), (512, 1), (256, 2), (256, 1))]   # (batch, channels, side)

def _median_ms(fn, n:int, warmup:int) -> float:
    for _ in range(warmup): fn()
    ts = []
    for _ in range(n): t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1000

CALLS = dict(fwd=(9, 3), fwd_bwd=(7, 2))   # (timed calls, warm-up calls)

def conv_ms(conv, b:int, c:int, hw:int) -> dict:
    "Milliseconds of `conv(x, weight, None, (1, 1), (1, 1))` on `(b, c, hw, hw)` maps, C -> C channels: forward alone, forward and backward"
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(b, c, hw, hw, generator=g), torch.randn(c, c, 3, 3, generator=g) * 0.02
    with torch.no_grad(): fwd = _median_ms(lambda: conv(x, w, None, (1, 1), (1, 1)), *CALLS['fwd'])
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    def step():
        xg.grad = wg.grad = None
        conv(xg, wg, None, (1, 1), (1, 1)).sum().backward()
    return dict(fwd=round(fwd, 3), fwd_bwd=round(_median_ms(step, *CALLS['fwd_bwd']), 3))

def shapes(out:Path, argv):
    rows = []
    print('| batch | channels | map | forward: tiny_map_conv2d | F.conv2d | speedup | forward and backward: tiny_map_conv2d | F.conv2d | speedup |')
    print('|---|---|---|---|---|---|---|---|---|')
    for b, c, hw in SHAPES:
        t, f = conv_ms(tiny_map_conv2d, b, c, hw), conv_ms(torch.nn.functional.conv2d, b, c, hw)
        speedup = {k: round(f[k] / t[k], 2) for k in t}   # F.conv2d's time over tiny_map_conv2d's
        rows.append(dict(batch=b, channels=c, side=hw, tiny=t, conv2d=f, speedup=speedup))
        print(f"| {b} | {c} | {hw}x{hw} | {t['fwd']} ms | {f['fwd']} ms | {speedup['fwd']:.2f}x | {t['fwd_bwd']} ms | {f['fwd_bwd']} ms | {speedup['fwd_bwd']:.2f}x |", flush=True)
    _write(out, argv, shapes=rows, conv=dict(kernel=3, padding=1, stride=1, out_channels='= channels'), calls=CALLS)

def _write(out:Path, argv, **kw):
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(command='python bench/tiny_maps.py ' + ' '.join(argv if argv is not None else sys.argv[1:]), **kw,
                                   machine=cpu_model(), capability=torch.backends.cpu.get_cpu_capability(),
                                   threads=torch.get_num_threads(), torch=torch.__version__, when=time.strftime('%Y-%m-%d %H:%M')), indent=1) + '\n')

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--methods', default='simclr,moco,byol,vicreg,dino,swav'); p.add_argument('--datasets', default='digits')
    p.add_argument('--steps', type=int, default=20); p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--rounds', type=int, default=2); p.add_argument('--out', type=Path, default=None, help='default bench/results/tiny_maps.json, or tiny_maps_shapes.json with --shapes')
    p.add_argument('--shapes', action='store_true', help='time one convolution per shape instead of the training steps')
    a = p.parse_args(argv)
    out = a.out or BENCH/'results'/('tiny_maps_shapes.json' if a.shapes else 'tiny_maps.json')
    if a.shapes: return shapes(out, argv)
    cells = {(d, m): dict(tiny=[], plain=[]) for d in a.datasets.split(',') for m in a.methods.split(',')}
    for r in range(a.rounds):
        for (d, m), c in cells.items():
            for k in ('tiny', 'plain') if r % 2 == 0 else ('plain', 'tiny'):
                c[k].append(step_ms(m, d, k == 'plain', a.steps, a.warmup))
                print(f'round {r}: {m} on {d}, {k}: {c[k][-1]:.0f} ms', flush=True)
    rows = [dict(dataset=d, method=m, tiny_ms=round(statistics.median(c['tiny'])), plain_ms=round(statistics.median(c['plain'])),
                 speedup=round(statistics.median(c['plain']) / statistics.median(c['tiny']), 2), rounds=c) for (d, m), c in cells.items()]
    print('| data | method | step, tiny-map convolutions | step, nn.Conv2d | speedup |\n|---|---|---|---|---|')
    for o in rows: print(f"| {o['dataset']} | {o['method']} | {o['tiny_ms']} ms | {o['plain_ms']} ms | {o['speedup']:.2f}x |")
    _write(out, argv, rows=rows, steps=a.steps, warmup=a.warmup)

if __name__ == '__main__': main()

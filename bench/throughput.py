"""SimCLR training throughput: `learn.fit` with the `SimCLR` callback against a bare PyTorch loop, in one run; then
`pretrain` reading JPEG files, to see whether its decoding workers keep up.

    python bench/throughput.py                                         # CPU: resnet18, 32 px, fp32
    python bench/throughput.py --arch resnet50 --size 224 --bs 256 --precision bf16 --channels-last   # a GPU
    python bench/throughput.py --arch resnet50 --size 224 --bs 256 --precision bf16 --channels-last --files DIR --copies 4 --loaders cpu:6,cpu:12,gpu:2

Both sides train the same model (encoder + SimCLR projector) at the same precision and memory format, make their two
views on the batch with the same augmentation pipelines (on the batch's device), and take one AdamW step per batch.
The fastai side is what `pretrain` runs: `Learner.fit` with `SimCLR`, the library's optimizer (fastai's AdamW with
multi-tensor kernels, `self_supervised.optimizer`; fastai's own per-parameter Adam is timed alone for comparison), `EpochLog` and mixed precision through `learn.to_bf16()`/`to_fp16()`, fed uint8 batches from
memory. The bare loop is augmentation + forward + InfoNCE + backward + `torch.optim.AdamW` (PyTorch's multi-tensor
kernels) under `torch.autocast`. Images are real: crops of scikit-learn's two color photos.

Reported as shares of the fastai step: augmentation (both views), the loss (InfoNCE forward+backward), the optimizer
step (fastai's, and PyTorch's for comparison), data wait (`EpochLog`'s `data_wait`), and the fastai overhead (fastai
step - bare step). With `--files`, `pretrain` also trains on those files (`--copies` times over) for 2 epochs per
loader (`decode:workers`) and reports the second epoch's images/s and data wait. Writes JSON to bench/results/throughput_<device>_<arch>_<size>.json.
"""
import argparse, contextlib, io, json, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
from fastai.vision.all import Learner, DataLoaders, DataLoader, Callback, noop, Adam
from self_supervised.data import sample_images
from self_supervised.layers import create_encoder
from self_supervised.augmentations import get_simclr_aug_pipelines
from self_supervised.losses import info_nce
from self_supervised.config import opt_func
from self_supervised.checkpoint import EpochLog
from self_supervised.vision.simclr import create_simclr_model, SimCLR

def photo_crops(n, size, seed=0):
    "n random crops (64-256 px, resized to `size`) of the two sample photos, as uint8 (n,3,size,size)"
    g = np.random.default_rng(seed)
    imgs = [torch.from_numpy(o).permute(2, 0, 1) for o in sample_images()]
    out = []
    for i in range(n):
        im = imgs[i % 2]; s = int(g.integers(64, 257))
        y, x = int(g.integers(0, im.shape[1] - s)), int(g.integers(0, im.shape[2] - s))
        out.append(torch.nn.functional.interpolate(im[None, :, y:y+s, x:x+s].float(), size=(size, size), mode='bilinear', antialias=True)[0])
    return torch.stack(out).round().clamp(0, 255).byte()

class StepTimer(Callback):
    "Wall time from one training step's start to the next one's, data loading and every callback included (2 warm-up steps)"
    order = -100
    def before_fit(self): self.times, self.t0 = [], None
    def before_batch(self):
        if torch.cuda.is_available(): torch.cuda.synchronize()
        t = time.perf_counter()
        if self.training and self.t0 is not None and self.iter > 2: self.times.append(t - self.t0)
        self.t0 = t if self.training else None

def timed(f, n, sync):
    f(); f(); sync()
    t = time.perf_counter()
    for _ in range(n): f()
    sync()
    return (time.perf_counter() - t) / n

DTYPES = {'32': None, 'bf16': torch.bfloat16, '16': torch.float16}
PRECISION = {'32': None, 'bf16': 'bf16-mixed', '16': '16-mixed'}

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--arch', default='resnet18'); p.add_argument('--size', type=int, default=32)
    p.add_argument('--bs', type=int, default=256, help='images per step (each seen as 2 views)')
    p.add_argument('--steps', type=int, default=8); p.add_argument('--precision', default='32', choices=list(DTYPES))
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--files', default=None, help='a folder of JPEGs: also time `pretrain` on it')
    p.add_argument('--loaders', default='cpu:4,cpu:8', help="for --files: `decode:workers` pairs, e.g. cpu:8,gpu:2")
    p.add_argument('--copies', type=int, default=1, help='for --files: train on the files this many times over (longer epochs)')
    p.add_argument('--out', default=None)
    a = p.parse_args()
    print('command: python', ' '.join(sys.argv), flush=True)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    sync = torch.cuda.synchronize if dev == 'cuda' else (lambda: None)
    dtype, fmt = DTYPES[a.precision], torch.channels_last if a.channels_last else torch.contiguous_format
    n = a.bs * (a.steps + 3)
    x = photo_crops(min(n, 512), a.size).repeat(-(-n // 512), 1, 1, 1)[:n]  # at most 512 different crops
    augs = get_simclr_aug_pipelines(size=a.size)
    make_model = lambda: create_simclr_model(create_encoder(a.arch, n_in=3), hidden_size=2048, projection_size=128).to(dev, memory_format=fmt)

    # fastai + SimCLR, as pretrain runs it: uint8 batches from memory, views made on the batch by the callback
    torch.manual_seed(0)
    ds = [(o,) for o in x]
    dls = DataLoaders(DataLoader(ds, bs=a.bs, shuffle=True, drop_last=True, after_batch=lambda b: tuple(o.float() / 255 for o in b),
                                 num_workers=4 if dev == 'cuda' else 0, pin_memory=dev == 'cuda'),  # collated in workers, pinned: as pretrain's loader
                      DataLoader(ds[:a.bs], bs=a.bs), device=dev)
    timer, elog = StepTimer(), EpochLog()
    learn = Learner(dls, make_model(), loss_func=noop, cbs=[SimCLR(augs, temp=0.1), timer, elog], opt_func=opt_func('adamw'), lr=1e-3, wd=1e-2)
    if a.precision == 'bf16': learn.to_bf16()
    elif a.precision == '16': learn.to_fp16()
    with learn.no_bar(), contextlib.redirect_stdout(io.StringIO()): learn.fit(1)
    fastai_step, data_wait = float(np.median(timer.times)), elog.rows[0]['data_wait']
    xb = x[:a.bs].to(dev).float() / 255
    def fastai_opt_step(): learn.opt.step()  # the grads of the last step are still there
    opt_fastai = timed(fastai_opt_step, a.steps, sync)
    ref = Adam(list(learn.model.parameters()), lr=1e-3, mom=0.9, sqr_mom=0.999, eps=1e-8, wd=1e-2)  # fastai's own AdamW, one param at a time
    opt_fastai_ref = timed(ref.step, a.steps, sync); del ref

    # bare PyTorch: same model, precision, memory format, views and AdamW update
    torch.manual_seed(0)
    model = make_model().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    scaler = torch.amp.GradScaler(dev, enabled=dtype == torch.float16)
    def bare_step():
        views = torch.cat([augs[0](xb), augs[1](xb)])
        with torch.autocast(dev, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = info_nce(model(views).float(), temp=0.1)
        opt.zero_grad(set_to_none=True); scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
    bare = timed(bare_step, a.steps, sync)
    opt_torch = timed(opt.step, a.steps, sync)
    aug = timed(lambda: (augs[0](xb), augs[1](xb)), a.steps, sync)
    z = torch.randn(2 * a.bs, 128, device=dev, requires_grad=True)
    loss_t = timed(lambda: info_nce(z, temp=0.1).backward(), a.steps, sync)
    del model, opt, learn; torch.cuda.empty_cache() if dev == 'cuda' else None

    res = dict(torch=torch.__version__, device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', arch=a.arch, size=a.size,
               bs=a.bs, precision=a.precision, channels_last=a.channels_last,
               fastai_img_s=a.bs / fastai_step, bare_img_s=a.bs / bare, ratio=bare / fastai_step,
               aug_share=aug / fastai_step, loss_share=loss_t / fastai_step, opt_fastai_share=opt_fastai / fastai_step, opt_fastai_per_param_share=opt_fastai_ref / fastai_step,
               opt_torch_share=opt_torch / fastai_step, data_wait=data_wait, fastai_overhead_share=max(0., fastai_step - bare) / fastai_step)
    if a.files: res['pretrain'] = pretrain_rows(a, dev)
    out = Path(a.out or Path(__file__).parent/'results'/f'throughput_{dev}_{a.arch}_{a.size}.json')
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    mach = f"{res['device']}, {a.precision}{' channels_last' if a.channels_last else ''}, torch {torch.__version__}"
    print(f"\n| machine | model | fastai+SimCLR (img/s) | bare loop (img/s) | ratio | augmentation | loss | optimizer (fastai / torch) | data wait | fastai overhead |\n|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {mach} | {a.arch} {a.size}px bs {a.bs} | {res['fastai_img_s']:.0f} | {res['bare_img_s']:.0f} | {res['ratio']:.2f} | "
          f"{100*res['aug_share']:.1f}% | {100*res['loss_share']:.1f}% | {100*res['opt_fastai_share']:.1f}% / {100*res['opt_torch_share']:.1f}% | "
          f"{100*res['data_wait']:.1f}% | {100*res['fastai_overhead_share']:.1f}% |")
    for r in res.get('pretrain', []):
        print(f"pretrain on {r['images']} JPEGs, decode {r['decode']}, {r['workers']} workers: {r['img_s']:.0f} img/s, data_wait {r['data_wait']:.2f}")

def pretrain_rows(a, dev):
    "`pretrain` on the JPEGs of `a.files` (`a.copies` times over) for 2 epochs per loader: the second epoch's images/s and data wait"
    from self_supervised.train import pretrain
    from self_supervised.files import find_images
    files = find_images(a.files) * a.copies
    n, rows = len(files), []
    for spec in a.loaders.split(','):
        decode, w = spec.split(':')
        d = Path(tempfile.mkdtemp(dir='/dev/shm' if Path('/dev/shm').is_dir() else None))  # checkpoints in memory: time the training
        kw = dict(decode=decode) if decode != 'cpu' else {}
        with contextlib.redirect_stdout(io.StringIO()):
            pretrain(d/'run', [str(f) for f in files], model=a.arch, epochs=2, batch_size=a.bs, size=a.size, precision=PRECISION[a.precision],
                     num_workers=int(w), progress=False, optim_args=dict(warmup_epochs=0), **kw)
        lines = (d/'run'/'metrics.csv').read_text().splitlines()
        r = dict(zip(lines[0].split(','), lines[-1].split(',')))
        rows.append(dict(decode=decode, workers=int(w), images=n, img_s=(n // a.bs) * a.bs / float(r['seconds']), data_wait=float(r['data_wait'])))
        print(rows[-1], flush=True)
        shutil.rmtree(d, ignore_errors=True)
    return rows

if __name__ == '__main__': main()

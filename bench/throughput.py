"""SimCLR training throughput: `learn.fit` with the `SimCLR` callback against a bare PyTorch loop, in one run.

    python bench/throughput.py [--size 32] [--bs 256] [--steps 6] [--arch resnet18]

Both train the same model (resnet18, 32 px, 256 images per view, so 512 per step) with the same optimizer. The fastai
side makes its two views on the batch with `get_simclr_aug_pipelines`; the bare loop trains on views made beforehand
(forward + InfoNCE + backward + step only). Images are real: 32 px crops of scikit-learn's two color photos.
Also reported, as shares of the fastai step: augmentation (both views), the loss (forward+backward of InfoNCE), and the
rest (fastai's own overhead).
"""
import argparse, json, sys, time
from pathlib import Path
import numpy as np, torch
from fastai.vision.all import Learner, DataLoaders, DataLoader, Adam, Callback, noop
from self_supervised.data import sample_images
from self_supervised.layers import create_encoder
from self_supervised.augmentations import get_simclr_aug_pipelines
from self_supervised.losses import info_nce
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
    "Wall time from one training step's start to the next one's: data loading and every callback included (first step: warm-up)"
    order = -100
    def before_fit(self): self.times, self.t0 = [], None
    def before_batch(self):
        t = time.perf_counter()
        if self.training and self.t0 is not None and self.iter > 1: self.times.append(t - self.t0)
        self.t0 = t if self.training else None

def timed(f, n, sync):
    f(); sync()
    t = time.perf_counter()
    for _ in range(n): f()
    sync()
    return (time.perf_counter() - t) / n

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--size', type=int, default=32); p.add_argument('--bs', type=int, default=256)
    p.add_argument('--steps', type=int, default=6); p.add_argument('--arch', default='resnet18')
    a = p.parse_args()
    print('command: python', ' '.join(sys.argv))
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    sync = torch.cuda.synchronize if dev == 'cuda' else (lambda: None)
    x = photo_crops(a.bs * (a.steps + 1), a.size)
    augs = get_simclr_aug_pipelines(size=a.size)
    make_model = lambda: create_simclr_model(create_encoder(a.arch, n_in=3), hidden_size=2048, projection_size=128).to(dev)

    # fastai + SimCLR: uint8 batches from memory; views made on the batch by the callback
    torch.manual_seed(0)
    ds = [(o,) for o in x]
    dls = DataLoaders(DataLoader(ds, bs=a.bs, shuffle=True, drop_last=True, after_batch=lambda b: tuple(o.float() / 255 for o in b)),
                      DataLoader(ds[:a.bs], bs=a.bs), device=dev)
    timer = StepTimer()
    learn = Learner(dls, make_model(), loss_func=noop, cbs=[SimCLR(augs, temp=0.1), timer], opt_func=Adam, lr=1e-3)
    learn.fit(1)
    fastai_step = float(np.median(timer.times))

    # bare PyTorch: same model and optimizer, views made beforehand
    torch.manual_seed(0)
    model = make_model().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xb = x[:a.bs].to(dev).float() / 255
    views = torch.cat([augs[0](xb), augs[1](xb)]).detach()
    def bare_step():
        loss = info_nce(model(views), temp=0.1); opt.zero_grad(); loss.backward(); opt.step()
    bare = timed(bare_step, a.steps, sync)

    aug = timed(lambda: (augs[0](xb), augs[1](xb)), a.steps, sync)
    z = torch.randn(2 * a.bs, 128, device=dev, requires_grad=True)
    loss_t = timed(lambda: info_nce(z, temp=0.1).backward(), a.steps, sync)

    imgs = a.bs  # images per step (each seen as 2 views)
    res = dict(device=dev, arch=a.arch, size=a.size, bs=a.bs, fastai_img_s=imgs / fastai_step, bare_img_s=imgs / bare,
               ratio=bare / fastai_step, aug_share=aug / fastai_step, loss_share=loss_t / fastai_step,
               fastai_overhead_share=max(0., fastai_step - bare - aug) / fastai_step)
    out = Path(__file__).parent/'results'/f'throughput_{dev}.json'
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    print(f"\n| device | model | fastai+SimCLR (img/s) | bare loop (img/s) | ratio | augmentation | loss | fastai overhead |\n|---|---|---|---|---|---|---|---|")
    print(f"| {dev} | {a.arch} {a.size}px bs {a.bs} | {res['fastai_img_s']:.0f} | {res['bare_img_s']:.0f} | {res['ratio']:.2f} | "
          f"{100*res['aug_share']:.1f}% | {100*res['loss_share']:.1f}% | {100*res['fastai_overhead_share']:.1f}% |")

if __name__ == '__main__': main()

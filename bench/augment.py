"""Batch augmentation speed: our `get_batch_augs` pipeline against a per-image `torchvision.transforms.v2` pipeline with
the same operations in a DataLoader (the way LightlyTrain and lightly augment), on the same float tensors.

    python bench/augment.py                 # CPU at 32, 96 and 224 px (+ GPU at 224 px when CUDA is available)
    python bench/augment.py --sizes 224 --n 256

Images are real: the demo MNIST digits resized (1 channel) and random crops of the two scikit-learn photos resized to
each size (3 channels). Ours runs in the main process on whole batches; torchvision runs per image, timed in the main
process (num_workers=0) and with 2 DataLoader workers. Each figure is the best of `--repeats` passes after a warm-up
pass, the three taking turns. Writes a Markdown table to stdout and JSON to bench/results/augment.json. A benchmark, not a test.
"""
from __future__ import annotations
import argparse, json, os, platform, shlex, sys, time
from pathlib import Path
import numpy as np
import torch, torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
import torchvision, kornia
import torchvision.transforms.v2 as T
from fastai.vision.core import imagenet_stats
from self_supervised.augmentations import get_batch_augs, RandomGaussianBlur
from self_supervised.data import mnist_arrays, sample_images
from host import cpu_model, usable_cores


def photo_crops(n, size, seed=0):
    "`n` random square crops (25-100% of the short side) of the two sample photos, resized to `size`: float (n,3,size,size)"
    g = torch.Generator().manual_seed(seed)
    photos = [torch.from_numpy(np.array(a)).permute(2, 0, 1).float().div(255) for a in sample_images()]
    out = []
    for i in range(n):
        p = photos[i % 2]
        H, W = p.shape[1:]
        c = int(torch.randint(min(H, W) // 4, min(H, W) + 1, (), generator=g))
        t, l = int(torch.randint(0, H - c + 1, (), generator=g)), int(torch.randint(0, W - c + 1, (), generator=g))
        out.append(F.interpolate(p[None, :, t:t + c, l:l + c], size=(size, size), mode='bilinear', antialias=True)[0])
    return torch.stack(out).clamp_(0, 1)


def mnist_digits(n, size):
    "`n` demo MNIST digits resized to `size`: float (n,1,size,size)"
    X, _ = mnist_arrays()
    x = torch.from_numpy(X[:n]).float().div(255)[:, None]
    return F.interpolate(x, size=(size, size), mode='bilinear', antialias=True).clamp_(0, 1)


def torchvision_pipeline(size, channels):
    "The same operations and defaults as `get_batch_augs(size)`, per image, with torchvision.transforms.v2"
    k = 2 * RandomGaussianBlur.default_radius((size, size)) + 1
    mean, std = (imagenet_stats if channels == 3 else [[float(np.mean(s))] for s in imagenet_stats])
    return T.Compose([T.RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)), T.RandomHorizontalFlip(0.5),
                      T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8), T.RandomGrayscale(0.2),
                      T.RandomApply([T.GaussianBlur(k, sigma=(0.1, 2.0))], p=0.5), T.Normalize(mean, std)])


class Images(Dataset):
    def __init__(self, x, tfm=None): self.x, self.tfm = x, tfm
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return self.tfm(self.x[i]) if self.tfm else self.x[i]


def ours_runner(x, size, bs, device='cpu'):
    "A pass of our pipeline over `x` in batches; on CPU the batches come from a plain DataLoader (collate only, as in training)"
    pipe = get_batch_augs(size, cuda=device == 'cuda')
    if device == 'cuda':
        xb = x.to(device)
        def run():
            for b in xb.split(bs): pipe(b)
            torch.cuda.synchronize()
        return run
    dl = DataLoader(Images(x), batch_size=bs, num_workers=0)
    def run():
        for b in dl: pipe(b)
    return run


def torchvision_runner(x, size, bs, workers):
    "A pass of a DataLoader applying the torchvision pipeline per image"
    dl = DataLoader(Images(x, torchvision_pipeline(size, x.shape[1])), batch_size=bs, num_workers=workers,
                    persistent_workers=workers > 0)
    def run():
        for b in dl: pass
    return run


def best_rates(runners, n, repeats):
    """Images/s of each runner: the best of `repeats` passes over `n` images, after a warm-up pass. The runners take turns,
    so a moment of load from another process on a shared machine does not fall on one runner's passes only."""
    best = {k: float('inf') for k in runners}
    for k, run in runners.items(): run()
    for _ in range(repeats):
        for k, run in runners.items():
            t = time.perf_counter(); run(); best[k] = min(best[k], time.perf_counter() - t)
    return {k: n / v for k, v in best.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', type=int, nargs='+', default=[32, 96, 224])
    ap.add_argument('--n', type=int, default=512, help='images per size')
    ap.add_argument('--bs', type=int, default=128, help='batch size (the workers need several batches to run in parallel)')
    ap.add_argument('--workers', type=int, default=2, help='DataLoader workers of the second torchvision run')
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--threads', type=int, default=None, help='torch threads of the main process (default: all cores)')
    ap.add_argument('--no-gpu', action='store_true')
    ap.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'augment.json'))
    a = ap.parse_args()
    cmd = 'python ' + ' '.join(shlex.quote(o) for o in sys.argv)
    print(f'$ {cmd}\n')
    if a.threads: torch.set_num_threads(a.threads)
    affinity = usable_cores()
    cores = len(affinity)
    env = dict(torch=torch.__version__, torchvision=torchvision.__version__, kornia=kornia.__version__,
               python=platform.python_version(), cpu=cpu_model(), cores=cores, machine_cores=os.cpu_count(),
               affinity=affinity, torch_threads=torch.get_num_threads())
    print(f"torch {env['torch']}, torchvision {env['torchvision']}, kornia {env['kornia']}; {env['cpu']}, {cores} of "
          f"{os.cpu_count()} cores (affinity {affinity}), {env['torch_threads']} torch threads\n")
    torch.manual_seed(0)
    rows = []
    datasets = [('MNIST digits', 1, s) for s in a.sizes if s <= 32] + [('photo crops', 3, s) for s in a.sizes]
    for name, ch, size in datasets:
        x = mnist_digits(a.n, size) if ch == 1 else photo_crops(a.n, size)
        r = best_rates(dict(ours=ours_runner(x, size, a.bs), tv0=torchvision_runner(x, size, a.bs, 0),
                            tvw=torchvision_runner(x, size, a.bs, a.workers)), len(x), a.repeats)
        ours, tv0, tvw = r['ours'], r['tv0'], r['tvw']
        rows.append(dict(images=name, channels=ch, size=size, n=a.n, ours=ours, torchvision_w0=tv0,
                         torchvision_w=tvw, workers=a.workers, ratio_w0=ours / tv0, ratio_w=ours / tvw))
        print(f'  {name} {size}px: ours {ours:.0f} img/s, torchvision {tv0:.0f} (0 workers), {tvw:.0f} ({a.workers} workers)',
              flush=True)
    gpu = None
    if torch.cuda.is_available() and not a.no_gpu:
        size = 224 if 224 in a.sizes else max(a.sizes)
        x = photo_crops(max(a.bs * 4, 1024), size)
        gpu = dict(device=torch.cuda.get_device_name(), size=size, bs=a.bs, n=len(x),
                   ours=best_rates(dict(ours=ours_runner(x, size, a.bs, 'cuda')), len(x), a.repeats)['ours'])
    print(f'\nImages/s on CPU ({cores} cores), batch {a.bs}; ratio = ours / torchvision per image\n')
    print(f'| images | px | ours (batch) | torchvision, 0 workers | torchvision, {a.workers} workers | ratio vs 0 workers | ratio vs {a.workers} workers |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    for r in rows:
        print(f"| {r['images']} ({r['channels']} ch) | {r['size']} | {r['ours']:.0f} | {r['torchvision_w0']:.0f} | "
              f"{r['torchvision_w']:.0f} | {r['ratio_w0']:.1f}x | {r['ratio_w']:.1f}x |")
    if gpu: print(f"\nGPU ({gpu['device']}): ours {gpu['ours']:.0f} images/s at {gpu['size']} px, batch {gpu['bs']}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(command=cmd, env=env, bs=a.bs, repeats=a.repeats, cpu=rows, gpu=gpu), indent=2) + '\n')
    print(f'\nwrote {out}')


if __name__ == '__main__': main()

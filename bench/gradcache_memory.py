"""Memory of a SimCLR step with its batch in K parts (`GradCache`, `pretrain(accumulate=K)`): the largest number of bytes
the autograd graph holds for backward at any moment of the step, and the step's time.

    python bench/gradcache_memory.py [--arch resnet50] [--bs 32] [--size 224] [--parts 1,2,4]

Saved tensors are counted as `bench/checkpoint_memory.py` counts them (`torch.autograd.graph.saved_tensors_hooks`,
unique storages), but live: each saved tensor is held by a small object that the graph frees after its backward, so the
figure is the peak of what is held at once (the parameters, which are held anyway, are left out). With K parts the
graph of one part is held at a time (the first part's while the others run without one, plus the loss's). The views are
SimCLR's of crops of scikit-learn's two sample photos; the step is a real `Learner` step (SGD, lr 0). On CUDA the peak
memory allocated during the step is reported too. Writes bench/results/gradcache_memory_<device>.json.
"""
import argparse, json, sys, time
from pathlib import Path
import numpy as np, torch, torch.nn as nn
from fastai.vision.all import Learner, DataLoaders, DataLoader, SGD, noop, Callback, CancelFitException, ProgressCallback
from sklearn.datasets import load_sample_images
from host import cpu_model
from self_supervised.layers import create_encoder
from self_supervised.augmentations import get_multi_aug_pipelines
from self_supervised.vision.simclr import create_simclr_model, SimCLR
from self_supervised.vision.gradcache import GradCache

class LiveSaved:
    "Bytes of the unique storages the autograd graph holds for backward, now and at most, excluding `skip` (the parameters')"
    def __init__(self, skip): self.skip, self.count, self.now, self.peak = skip, {}, 0, 0
    def pack(self, t):
        s = t.untyped_storage(); key = (s.data_ptr(), s.nbytes())
        return t if key[0] in self.skip else _Held(t, key, self)
    def unpack(self, h): return h.t if isinstance(h, _Held) else h
    def add(self, key):
        self.count[key] = self.count.get(key, 0) + 1
        if self.count[key] == 1: self.now += key[1]; self.peak = max(self.peak, self.now)
    def remove(self, key):
        self.count[key] -= 1
        if not self.count[key]: del self.count[key]; self.now -= key[1]

class _Held:
    "A saved tensor: counted while the graph holds it"
    def __init__(self, t, key, live): self.t, self.key, self.live = t, key, live; live.add(key)
    def __del__(self): self.live.remove(self.key)

class OneStep(Callback):
    order = 100
    def after_step(self): raise CancelFitException()

def images(n, size, seed=0):
    "`n` random crops of scikit-learn's two sample photos, resized to `size`"
    g = np.random.default_rng(seed)
    photos = [torch.from_numpy(p).permute(2, 0, 1).float().div(255) for p in load_sample_images().images]
    out = []
    for i in range(n):
        p = photos[i % 2]; s = int(g.integers(200, 400)); y, x = (int(g.integers(0, d - s)) for d in p.shape[1:])
        out.append(torch.nn.functional.interpolate(p[None, :, y:y + s, x:x + s], size=size, mode='bilinear', antialias=True)[0])
    return torch.stack(out)

def step(arch, x, parts, dev):
    torch.manual_seed(0)
    model = create_simclr_model(create_encoder(arch, n_in=3, pool_type='avg'), hidden_size=2048, projection_size=128).to(dev)
    dls = DataLoaders(DataLoader([(o,) for o in x], bs=len(x)), DataLoader([(o,) for o in x[:2]], bs=2), device=dev)
    cbs = [SimCLR(get_multi_aug_pipelines(2, size=x.shape[-1]))] + ([GradCache(parts)] if parts > 1 else [])
    learn = Learner(dls, model, loss_func=noop, opt_func=SGD, lr=0., cbs=cbs)
    learn.remove_cb(ProgressCallback)
    learn.fit(1, cbs=OneStep())   # warm-up
    live = LiveSaved({p.untyped_storage().data_ptr() for p in model.parameters()})
    if dev == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
    t = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(live.pack, live.unpack): learn.fit(1, cbs=OneStep())
    if dev == 'cuda': torch.cuda.synchronize()
    secs = time.perf_counter() - t
    res = dict(parts=parts, saved_peak_MB=live.peak / 2**20, step_s=secs)
    if dev == 'cuda': res['cuda_peak_MB'] = (torch.cuda.max_memory_allocated() - base) / 2**20
    assert live.now == 0, f"{live.now} bytes still held after the step"
    return res

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--arch', default='resnet50'); p.add_argument('--bs', type=int, default=32)
    p.add_argument('--size', type=int, default=224); p.add_argument('--parts', default='1,2,4')
    a = p.parse_args()
    cmd = 'python ' + ' '.join(sys.argv)
    print('command:', cmd)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    x = images(a.bs, a.size)
    rows = [step(a.arch, x, int(k), dev) for k in a.parts.split(',')]
    for r in rows: print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}))
    out = Path(__file__).parent/'results'/f'gradcache_memory_{dev}.json'
    out.write_text(json.dumps(dict(command=cmd, arch=a.arch, bs=a.bs, size=a.size, torch=torch.__version__, threads=torch.get_num_threads(),
                                   machine=cpu_model(), rows=rows), indent=1) + '\n')
    k1 = rows[0]
    print(f"\n| parts | images per part | saved for backward, peak (MB) | vs 1 part | step (s) |" + (" CUDA peak (MB) |" if dev == 'cuda' else '') +
          "\n|---|---|---|---|---|" + ("---|" if dev == 'cuda' else ''))
    for r in rows:
        print(f"| {r['parts']} | {a.bs // r['parts']} ({2 * a.bs // r['parts']} views) | {r['saved_peak_MB']:.0f} | {r['saved_peak_MB'] / k1['saved_peak_MB']:.2f} | "
              f"{r['step_s']:.1f} |" + (f" {r['cuda_peak_MB']:.0f} |" if dev == 'cuda' else ''))

if __name__ == '__main__': main()

"""lightly 1.6's own implementation of a method, as its examples (examples/pytorch/<method>.py) write it: its heads, loss and
transforms, torchvision's resnet18 as the backbone, a plain PyTorch loop with the examples' optimizer. Run by
bench/vs_lightly_methods.py in lightly's own venv (bench/venv_lightly), never imported by the library.

    python lightly_methods.py METHOD TRAIN_DIR EVAL_DIR OUT_DIR --size S --budget SECONDS [--steps N] [--seed 0]

Trains for `--budget` seconds of wall-clock (or exactly `--steps` steps: 1 gives the initial weights after one step), the
schedules that the examples run over epochs (momentum, DINO's teacher temperature) stretched over the budget, then writes
`OUT_DIR/features.npz` (train_x, train_y, eval_x, eval_y: the backbone's pooled features of both folders, images resized
to S and normalized as lightly's transforms normalize) and `OUT_DIR/run.json` (steps, images, seconds of training).
Folders are ImageNet-style (`<class>/<image>.png`); gray images are read as RGB, the examples' 3-channel backbone.
"""
import argparse, copy, json, math, sys, time
from pathlib import Path
import numpy as np
import torch, torchvision
from torch import nn
from PIL import Image
from lightly import loss as L, transforms as T
from lightly.models import modules as M
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.transforms.utils import IMAGENET_NORMALIZE

EXTS = ('.png', '.jpg', '.jpeg')

def files_of(d):
    fs = sorted(p for p in Path(d).rglob('*') if p.suffix.lower() in EXTS)
    classes = sorted({p.parent.name for p in fs})
    return fs, np.array([classes.index(p.parent.name) for p in fs])

class Folder(torch.utils.data.Dataset):
    def __init__(self, files, transform): self.files, self.transform = files, transform
    def __len__(self): return len(self.files)
    def __getitem__(self, i):
        with Image.open(self.files[i]) as im: return self.transform(im.convert('RGB'))

STEM = 'stock'   # --stem small: no max-pool after the stride-2 conv, as our small-image preset's `small_input=2`

def backbone():
    resnet = torchvision.models.resnet18()
    if STEM == 'small': resnet.maxpool = nn.Identity()
    return nn.Sequential(*list(resnet.children())[:-1])

class TwoViews(nn.Module):
    "SimCLR, VICReg, Barlow Twins: a backbone and a projection head; both views through the same network"
    def __init__(self, head): super().__init__(); self.backbone, self.head = backbone(), head
    def forward(self, x): return self.head(self.backbone(x).flatten(start_dim=1))

class Momentum(nn.Module):
    "MoCo, BYOL: an online backbone and head (BYOL: and predictor), and momentum copies of backbone and head"
    def __init__(self, head, predictor=None):
        super().__init__(); self.backbone, self.head, self.predictor = backbone(), head, predictor
        self.backbone_momentum, self.head_momentum = copy.deepcopy(self.backbone), copy.deepcopy(self.head)
        deactivate_requires_grad(self.backbone_momentum); deactivate_requires_grad(self.head_momentum)
    def forward(self, x):
        z = self.head(self.backbone(x).flatten(start_dim=1))
        return self.predictor(z) if self.predictor is not None else z
    def forward_momentum(self, x): return self.head_momentum(self.backbone_momentum(x).flatten(start_dim=1)).detach()
    def update(self, m): update_momentum(self.backbone, self.backbone_momentum, m); update_momentum(self.head, self.head_momentum, m)

def cosine(p, start, end): return end - (end - start) * (math.cos(math.pi * p) + 1) / 2

def method(name, size):
    "`(model, transform, loss, step(model, views, progress) -> loss, optimizer factory)` as lightly's example of `name`"
    local = max(8, round(size * 96 / 224))
    sgd = lambda m: torch.optim.SGD(m.parameters(), lr=0.06)
    adam = lambda m: torch.optim.Adam(m.parameters(), lr=0.001)
    if name == 'simclr':
        crit = L.NTXentLoss()
        return TwoViews(M.SimCLRProjectionHead(512, 512, 128)), T.SimCLRTransform(input_size=size), lambda m, v, p: crit(m(v[0]), m(v[1])), sgd
    if name == 'vicreg':
        crit = L.VICRegLoss()
        return TwoViews(M.BarlowTwinsProjectionHead(512, 2048, 2048)), T.VICRegTransform(input_size=size), lambda m, v, p: crit(m(v[0]), m(v[1])), sgd
    if name == 'barlow_twins':
        crit = L.BarlowTwinsLoss()
        tf = T.BYOLTransform(view_1_transform=T.BYOLView1Transform(input_size=size, gaussian_blur=0.0),
                             view_2_transform=T.BYOLView2Transform(input_size=size, gaussian_blur=0.0))
        return TwoViews(M.BarlowTwinsProjectionHead(512, 2048, 2048)), tf, lambda m, v, p: crit(m(v[0]), m(v[1])), sgd
    if name == 'simsiam':
        crit = L.NegativeCosineSimilarity()
        class SimSiam(nn.Module):
            def __init__(self):
                super().__init__(); self.backbone = backbone()
                self.head, self.predictor = M.SimSiamProjectionHead(512, 512, 128), M.SimSiamPredictionHead(128, 64, 128)
            def forward(self, x):
                z = self.head(self.backbone(x).flatten(start_dim=1))
                return z.detach(), self.predictor(z)
        def step(m, v, p):
            (z0, p0), (z1, p1) = m(v[0]), m(v[1])
            return 0.5 * (crit(z0, p1) + crit(z1, p0))
        return SimSiam(), T.SimSiamTransform(input_size=size), step, sgd
    if name == 'moco':
        crit = L.NTXentLoss(memory_bank_size=(4096, 128))
        def step(m, v, p):
            m.update(cosine(p, 0.996, 1.))
            return crit(m(v[0]), m.forward_momentum(v[1]))
        return Momentum(M.MoCoProjectionHead(512, 512, 128)), T.MoCoV2Transform(input_size=size), step, sgd
    if name == 'byol':
        crit = L.NegativeCosineSimilarity()
        tf = T.BYOLTransform(view_1_transform=T.BYOLView1Transform(input_size=size, gaussian_blur=0.0),
                             view_2_transform=T.BYOLView2Transform(input_size=size, gaussian_blur=0.0))
        def step(m, v, p):
            m.update(cosine(p, 0.996, 1.))
            return 0.5 * (crit(m(v[0]), m.forward_momentum(v[1])) + crit(m(v[1]), m.forward_momentum(v[0])))
        return Momentum(M.BYOLProjectionHead(512, 1024, 256), M.BYOLPredictionHead(256, 1024, 256)), tf, step, sgd
    if name == 'dino':
        crit = L.DINOLoss(output_dim=2048, warmup_teacher_temp_epochs=5)
        class DINO(nn.Module):
            def __init__(self):
                super().__init__(); self.backbone = backbone()
                self.head = M.DINOProjectionHead(512, 512, 64, 2048, freeze_last_layer=1)
                self.teacher_backbone, self.teacher_head = copy.deepcopy(self.backbone), M.DINOProjectionHead(512, 512, 64, 2048)
                deactivate_requires_grad(self.teacher_backbone); deactivate_requires_grad(self.teacher_head)
            def forward(self, x): return self.head(self.backbone(x).flatten(start_dim=1))
            def forward_teacher(self, x): return self.teacher_head(self.teacher_backbone(x).flatten(start_dim=1))
        def step(m, v, p):
            mom, epoch = cosine(p, 0.996, 1.), int(p * 10)   # the example's 10 epochs, spread over the budget
            update_momentum(m.backbone, m.teacher_backbone, mom); update_momentum(m.head, m.teacher_head, mom)
            loss = crit([m.forward_teacher(x) for x in v[:2]], [m(x) for x in v], epoch=epoch)
            return loss
        tf = T.DINOTransform(global_crop_size=size, local_crop_size=local)
        return DINO(), tf, step, adam
    if name == 'swav':
        crit = L.SwaVLoss()
        class SwaV(nn.Module):
            def __init__(self):
                super().__init__(); self.backbone = backbone()
                self.head, self.prototypes = M.SwaVProjectionHead(512, 512, 128), M.SwaVPrototypes(128, 512, 1)
            def forward(self, x, step): return self.prototypes(nn.functional.normalize(self.head(self.backbone(x).flatten(start_dim=1)), dim=1, p=2), step)
        def step(m, v, p):
            m.prototypes.normalize()
            out = [m(x, m.steps) for x in v]; m.steps += 1   # the prototypes frozen for the first step, as the example
            return crit(out[:2], out[2:])
        tf = T.SwaVTransform(crop_sizes=(size, local))
        model = SwaV(); model.steps = 0
        return model, tf, step, adam
    raise ValueError(f"unknown method {name!r}")

@torch.no_grad()
def features(bb, files, size, bs=256):
    tf = torchvision.transforms.Compose([torchvision.transforms.Resize((size, size)), torchvision.transforms.ToTensor(),
                                         torchvision.transforms.Normalize(IMAGENET_NORMALIZE['mean'], IMAGENET_NORMALIZE['std'])])
    bb.eval()
    out = []
    for i in range(0, len(files), bs):
        x = torch.stack([Folder(files[i:i + bs], tf)[j] for j in range(len(files[i:i + bs]))])
        out.append(bb(x).flatten(start_dim=1))
    return torch.cat(out).numpy()

def main():
    a = argparse.ArgumentParser()
    for k in ('method', 'train', 'eval', 'out'): a.add_argument(k)
    a.add_argument('--size', type=int, required=True); a.add_argument('--budget', type=float, default=300)
    a.add_argument('--steps', type=int, default=0); a.add_argument('--seed', type=int, default=0)
    a.add_argument('--batch_size', type=int, default=128); a.add_argument('--workers', type=int, default=1)
    a.add_argument('--stem', default='stock', choices=['stock', 'small'])
    a = a.parse_args()
    global STEM; STEM = a.stem
    torch.manual_seed(a.seed); np.random.seed(a.seed)
    model, tf, step, opt_f = method(a.method, a.size)
    opt = opt_f(model)
    train_files, ytr = files_of(a.train)
    eval_files, yev = files_of(a.eval)
    bs = min(a.batch_size, len(train_files))   # a smoke run's few images (--limit) still make one full batch
    dl = torch.utils.data.DataLoader(Folder(train_files, tf), batch_size=bs, shuffle=True, drop_last=True, num_workers=a.workers,
                                     persistent_workers=a.workers > 0)
    t0, steps, done = time.perf_counter(), 0, False
    model.train()
    while not done:
        for views in dl:
            p = min((time.perf_counter() - t0) / a.budget, 1.) if not a.steps else steps / a.steps
            loss = step(model, views, p)
            loss.backward(); opt.step(); opt.zero_grad()
            steps += 1
            if (a.steps and steps >= a.steps) or (not a.steps and time.perf_counter() - t0 >= a.budget): done = True; break
    secs = time.perf_counter() - t0
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    np.savez(out/'features.npz', train_x=features(model.backbone, train_files, a.size), train_y=ytr,
             eval_x=features(model.backbone, eval_files, a.size), eval_y=yev)
    (out/'run.json').write_text(json.dumps(dict(steps=steps, images=steps * bs, seconds=secs, epochs=steps * bs / len(train_files),
                                                loss=loss.item(), lightly=__import__('lightly').__version__, torch=torch.__version__)))

if __name__ == '__main__': main()

"""How far bfloat16 autocast on the CPU moves one training step of SimCLR's small-image preset: the cosine of each
parameter's gradient to float32's, with everything under autocast, with BatchNorm kept in float32, with the projector kept
in float32, and with both. If one of them brought the gradients back to float32's, it would be the layer to keep out of
autocast; results.md, "bfloat16 on the CPU".

    python bench/bf16_grads.py [--datasets colorcrops,graytex] [--n 64] [--out bench/results/bf16_grads.json]

The model is `pretrain`'s for the data set's `val_train` folder (`bench/datasets.py`), from the seeded initial weights,
with its branches at a quarter (`model_args.full_depth_init=0.25`) so that every residual branch has a gradient (timm's
start zeroes them); `--n` images spread over the folder, both views made once (the preset's pipelines) and fed to each
variant; InfoNCE (SimCLR's temperature 0.1) computed in float32 as the library's losses are. Gradients that are zero in
float32 are left out. Needs a CPU with bfloat16 instructions (elsewhere autocast emulates them, slowly, to the same
effect).
"""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from PIL import Image
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from datasets import folders
from host import cpu_model
from self_supervised.config import resolve_config, method_aug_pipelines, cpu_bf16
from self_supervised.train import build_encoder, build_model
from self_supervised.losses import info_nce

class FP32BatchNorm(nn.Module):
    "A BatchNorm computed in float32 whatever autocast does"
    def __init__(self, bn): super().__init__(); self.bn = bn
    def forward(self, x):
        with torch.autocast('cpu', enabled=False): return self.bn(x.float())

def swap_bn(m:nn.Module, on:bool):
    "Wrap every `BatchNorm2d` of `m` in `FP32BatchNorm` (`on`), or unwrap them"
    for n, c in m.named_children():
        if on and isinstance(c, nn.BatchNorm2d): setattr(m, n, FP32BatchNorm(c))
        elif not on and isinstance(c, FP32BatchNorm): setattr(m, n, c.bn)
        else: swap_bn(c, on)

def grads(model, x, bf16:bool, bn32:bool=False, proj32:bool=False) -> dict:
    "Each parameter's gradient after one SimCLR step on the views `x`; the model's weights and statistics are left as they were"
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.zero_grad(); swap_bn(model, bn32)
    try:
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            if proj32:
                h = model.encoder(x)
                with torch.autocast('cpu', enabled=False): z = model.projector(h.float())
            else: z = model(x)
        info_nce(z, temp=0.1).backward()
    finally: swap_bn(model, False)
    model.load_state_dict(state)
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

def one(dataset:str, n:int) -> dict:
    files = sorted(folders(dataset, 'val')[0].rglob('*.png'))
    files = files[::max(1, len(files) // n)][:n]
    cfg = resolve_config(files, method='simclr', epochs=10, model_args=dict(full_depth_init=0.25))
    torch.manual_seed(0); model = build_model(cfg, build_encoder(cfg)).train()
    imgs = torch.stack([torch.as_tensor(np.array(Image.open(f))) for f in files])
    imgs = imgs.permute(0, 3, 1, 2) if imgs.dim() == 4 else imgs[:, None]
    torch.manual_seed(1); augs = method_aug_pipelines(cfg)
    x = torch.cat([augs[0](imgs.clone()), augs[1](imgs.clone())])
    ref, row = grads(model, x, False), dict(dataset=dataset, images=len(files))
    for name, kw in [('bf16', {}), ('bf16, BatchNorm fp32', dict(bn32=True)), ('bf16, projector fp32', dict(proj32=True)),
                     ('bf16, both fp32', dict(bn32=True, proj32=True))]:
        g = grads(model, x, True, **kw)
        cos = [F.cosine_similarity(ref[k].flatten(), g[k].flatten(), 0).item() for k in ref if ref[k].abs().sum() > 0]
        row[name] = dict(min=round(min(cos), 4), median=round(float(np.median(cos)), 4), tensors=len(cos))
        print(f"{dataset:10s} {name:22s} gradient cosine to float32: min {min(cos):.4f}, median {np.median(cos):.4f} ({len(cos)} tensors)", flush=True)
    return row

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--datasets', default='colorcrops,graytex'); p.add_argument('--n', type=int, default=64)
    p.add_argument('--out', default=str(BENCH/'results'/'bf16_grads.json'))
    a = p.parse_args(argv)
    rows = [one(d, a.n) for d in a.datasets.split(',')]
    info = dict(command='python bench/bf16_grads.py ' + ' '.join(argv if argv is not None else sys.argv[1:]), machine=cpu_model(),
                capability=torch.backends.cpu.get_cpu_capability(), bf16=cpu_bf16(), torch=torch.__version__)
    Path(a.out).write_text(json.dumps(dict(info, rows=rows), indent=1) + '\n')

if __name__ == '__main__': main()

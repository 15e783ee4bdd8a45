"""The largest SimCLR batch (images, two views each) that fits on this GPU, with and without gradient checkpointing.

    python bench/max_batch.py [--arch resnet50] [--size 224] [--precision bf16] [--start 64] [--tol 0.03]

One training step (forward of both views, InfoNCE, backward, AdamW step) of the encoder + SimCLR projector on synthetic
tensors under autocast, in channels_last; the batch doubles from --start until a step runs out of memory, then
bisection between the last batch that fit and the first that did not, down to --tol of the batch. Reports each batch
with its peak memory. Writes JSON to --out. Needs CUDA.
"""
import argparse, json, sys, time
from pathlib import Path
import torch
from self_supervised.layers import create_encoder
from self_supervised.losses import info_nce
from self_supervised.vision.simclr import create_simclr_model

def step_fits(model, opt, bs, size, dtype):
    "Whether one training step on `bs` images (2 x bs views) fits; `(fits, peak GiB)`"
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    try:
        x = torch.randn(2 * bs, 3, size, size, device='cuda').contiguous(memory_format=torch.channels_last)
        with torch.autocast('cuda', dtype=dtype): loss = info_nce(model(x).float(), temp=0.1)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        return True, torch.cuda.max_memory_allocated() / 2**30
    except torch.cuda.OutOfMemoryError: return False, None
    finally:
        opt.zero_grad(set_to_none=True); x = loss = None; torch.cuda.empty_cache()

def largest(model, opt, a, dtype):
    tried, good, bad, bs = [], 0, None, a.start
    while bad is None:  # doubling
        ok, gib = step_fits(model, opt, bs, a.size, dtype); tried.append(dict(bs=bs, fits=ok, peak_gib=gib)); print(tried[-1], flush=True)
        if ok: good, bs = bs, bs * 2
        else: bad = bs
        if bs > 1 << 16: break
    while bad is not None and bad - good > max(8, a.tol * good):  # bisection
        bs = (good + bad) // 2
        ok, gib = step_fits(model, opt, bs, a.size, dtype); tried.append(dict(bs=bs, fits=ok, peak_gib=gib)); print(tried[-1], flush=True)
        if ok: good = bs
        else: bad = bs
    return good, tried

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--arch', default='resnet50'); p.add_argument('--size', type=int, default=224)
    p.add_argument('--precision', default='bf16', choices=['bf16', '16']); p.add_argument('--start', type=int, default=64)
    p.add_argument('--tol', type=float, default=0.03); p.add_argument('--out', default='bench/results/max_batch.json')
    a = p.parse_args()
    print('command: python', ' '.join(sys.argv), flush=True)
    dtype = torch.bfloat16 if a.precision == 'bf16' else torch.float16
    res = dict(torch=torch.__version__, device=torch.cuda.get_device_name(), arch=a.arch, size=a.size, precision=a.precision,
               total_gib=torch.cuda.get_device_properties(0).total_memory / 2**30, rows=[])
    for ckpt in (False, True):
        t = time.time()
        model = create_simclr_model(create_encoder(a.arch, n_in=3, checkpoint=ckpt), hidden_size=2048, projection_size=128)
        model = model.cuda().to(memory_format=torch.channels_last).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        bs, tried = largest(model, opt, a, dtype)
        res['rows'].append(dict(checkpointing=ckpt, largest_batch=bs, tried=tried, seconds=round(time.time() - t, 1)))
        print(f"{a.arch} {a.size}px {a.precision}, checkpointing {ckpt}: largest batch {bs} images ({2 * bs} views)", flush=True)
        Path(a.out).write_text(json.dumps(res, indent=1))
        del model, opt; torch.cuda.empty_cache()

if __name__ == '__main__': main()

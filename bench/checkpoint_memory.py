"""Activation memory saved by gradient checkpointing: bytes of tensors saved for backward on a 224 px batch.

    python bench/checkpoint_memory.py [--arch resnet50] [--bs 8]

Saved tensors are counted with `torch.autograd.graph.saved_tensors_hooks` (unique storages, so a tensor saved by two
ops counts once). Checkpointing is measured in re-entrant mode, where each checkpointed segment's input is saved
through the same hooks; the default non-re-entrant mode keeps the same inputs, held by the checkpoint instead. On
CUDA, the peak memory of a forward+backward is reported too.
"""
import argparse, json, time, sys
from pathlib import Path
import torch
import timm.layers
from self_supervised.layers import create_encoder

def saved_bytes(enc, x):
    seen = {}
    def pack(t):
        s = t.untyped_storage()
        seen[s.data_ptr()] = s.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = enc(x)
    out.float().pow(2).mean().backward()
    return sum(seen.values())

def cuda_peak(enc, x):
    torch.cuda.reset_peak_memory_stats(); torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    enc(x).float().pow(2).mean().backward(); torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--archs', default='resnet50,xresnet50,convnext_tiny')
    p.add_argument('--bs', type=int, default=8)
    p.add_argument('--size', type=int, default=224)
    a = p.parse_args()
    print('command: python', ' '.join(sys.argv))
    timm.layers.set_reentrant_ckpt(True)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    rows = []
    for arch in a.archs.split(','):
        x = torch.randn(a.bs, 3, a.size, a.size, device=dev)
        res = {'arch': arch, 'bs': a.bs, 'size': a.size}
        for ck in (False, True):
            torch.manual_seed(0)
            enc = create_encoder(arch, checkpoint=ck).to(dev).train()
            res['saved_MB' + ('_ckpt' if ck else '')] = saved_bytes(enc, x) / 2**20
            if dev == 'cuda': res['cuda_peak_MB' + ('_ckpt' if ck else '')] = cuda_peak(enc, x) / 2**20
        res['saved_reduction_%'] = 100 * (1 - res['saved_MB_ckpt'] / res['saved_MB'])
        rows.append(res)
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in res.items()}))
    out = Path(__file__).parent/'results'/f'checkpoint_memory_{dev}.json'
    out.write_text(json.dumps(rows, indent=1))
    print(f"\n| arch | batch | saved for backward (MB) | with checkpointing (MB) | saved |\n|---|---|---|---|---|")
    for r in rows: print(f"| {r['arch']} | {r['bs']}x{r['size']}px | {r['saved_MB']:.0f} | {r['saved_MB_ckpt']:.0f} | {r['saved_reduction_%']:.0f}% |")

if __name__ == '__main__': main()

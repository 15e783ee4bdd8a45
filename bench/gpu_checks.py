"""Mixed precision and gradient checkpointing through `pretrain` on a GPU: every combination runs, its loss is finite and
goes down, and a run stopped after its first epoch and resumed ends with the same weights as an uninterrupted one.

    python bench/gpu_checks.py --data DIR [--archs resnet50,vit_small_patch16_224] [--images 128] [--bs 32]

For each model x precision ('bf16-mixed', '16-mixed') x gradient checkpointing (off, on), at 224 px on the JPEGs of
DIR: an uninterrupted 2-epoch run, and a run that stops after epoch 1 (a callback cancels the fit) and is started
again with the same arguments (it resumes from `last.pth`). Deterministic settings: `cudnn.deterministic=True`,
`cudnn.benchmark=False`, `torch.use_deterministic_algorithms(True, warn_only=True)`. Pass: both epochs' losses finite,
the second lower than the first, and every weight of the two final checkpoints within atol 1e-4. Writes JSON to --out.
A check on a GPU machine, not a test of the default run (there is no GPU on CI).
"""
import argparse, contextlib, io, json, os, shutil, sys, tempfile, time
os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
from pathlib import Path
import torch
from fastai.callback.core import Callback, CancelFitException
from self_supervised.train import pretrain
from self_supervised.runs import load_checkpoint
from self_supervised.checkpoint import Checkpoint

class StopAfter(Callback):
    "Cancel the fit after epoch `n` (once its checkpoint is written), as a kill between two epochs would"
    order = Checkpoint.order + 1
    def __init__(self, n:int): self.n = n
    def after_epoch(self):
        if self.epoch + 1 >= self.n: raise CancelFitException()

def run(out, data, arch, precision, ckpt, a, cbs=None):
    with contextlib.redirect_stdout(io.StringIO()):
        pretrain(out, data, model=arch, epochs=2, batch_size=a.bs, size=a.size, precision=precision, num_workers=a.workers,
                 model_args=dict(checkpoint=ckpt), progress=False, seed=0, cbs=cbs)
    rows = [l.split(',') for l in (Path(out)/'metrics.csv').read_text().splitlines()]
    return [float(r[rows[0].index('train_loss')]) for r in rows[1:]], load_checkpoint(Path(out)/'checkpoints'/'last.pth')['model']

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--data', required=True); p.add_argument('--archs', default='resnet50,vit_small_patch16_224')
    p.add_argument('--precisions', default='bf16-mixed,16-mixed'); p.add_argument('--bs', type=int, default=32)
    p.add_argument('--workers', type=int, default=4); p.add_argument('--size', type=int, default=224); p.add_argument('--out', default='bench/results/gpu_checks.json')
    a = p.parse_args()
    print('command: python', ' '.join(sys.argv), flush=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=True)
    res = dict(torch=torch.__version__, size=a.size, device=torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu', rows=[])
    for arch in a.archs.split(','):
        for prec in a.precisions.split(','):
            for ckpt in (False, True):
                d, t = Path(tempfile.mkdtemp(dir='/dev/shm' if Path('/dev/shm').is_dir() else None)), time.time()
                try:
                    full, w_full = run(d/'full', a.data, arch, prec, ckpt, a)
                    run(d/'part', a.data, arch, prec, ckpt, a, cbs=[StopAfter(1)])
                    part, w_part = run(d/'part', a.data, arch, prec, ckpt, a)
                    diff = max((w_full[k].float() - w_part[k].float()).abs().max().item() for k in w_full if w_full[k].is_floating_point())
                    r = dict(arch=arch, precision=prec, checkpointing=ckpt, losses=full, resumed_losses=part, max_weight_diff=diff,
                             finite=all(map(lambda v: v == v and abs(v) != float('inf'), full + part)), down=full[-1] < full[0],
                             resume_ok=diff <= 1e-4, seconds=round(time.time() - t, 1))
                except Exception as e: r = dict(arch=arch, precision=prec, checkpointing=ckpt, error=f'{type(e).__name__}: {e}'[:500])
                finally: shutil.rmtree(d, ignore_errors=True)
                r['ok'] = bool(r.get('finite') and r.get('down') and r.get('resume_ok'))
                res['rows'].append(r); print(json.dumps(r), flush=True)
                Path(a.out).write_text(json.dumps(res, indent=1))
    print(f"\n{sum(r['ok'] for r in res['rows'])}/{len(res['rows'])} combinations pass")

if __name__ == '__main__': main()

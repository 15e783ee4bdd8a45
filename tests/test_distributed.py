"""Two gloo processes on CPU train exactly like one process on the whole batch, for every method whose loss couples the
samples of a batch: SimCLR (`DistributedSimCLR`), MoCo (keys gathered into the queue; symmetric, and v2's one query and
one key per image), Barlow Twins and VICReg (batch statistics over the gathered embeddings), DINO (its center, the mean
of the teacher's outputs over the global batch), SwAV (Sinkhorn's sums over the samples of every process, each
process's share of the queue, the gathered embeddings queued), DINOv2 (Sinkhorn-Knopp targets of the class tokens and of
the hidden patch tokens over the global batch, KoLeo over the gathered class tokens; masks drawn from the views' own
pixels), distillation (every process's teacher features go into the queue).
One torchrun launch runs them all (`_methods_step.py`), in float64, and also runs each method without gathering (each
process's loss and state from its own samples only): the broken case the comparison must tell apart.
Gradient caching (`GradCache`, `pretrain(accumulate=K)`) is held to the same standard: one process that runs the batch
through the model in 2 parts equals the 2 processes (every coupled method), and 2 processes that each run their share in
2 parts equal one process on the whole batch (SimCLR and DINO: DDP's `no_sync` and the gathered loss with parts).

Measured (`differences`: the largest over loss, gradients and coupled state, relative to the one-process value's
largest magnitude), the encoder timm's `test_resnet` without BatchNorm: one process against two at most 3.4e-14 in
float64 with the native kernels (= ATEN_CPU_CAPABILITY=avx2) and =default (an AVX2-only AMD EPYC, torch 2.14.1), the
broken case at least 3.5e-2 (DINO's center; DINOv2's, on `test_vit`, below). With the batch in 2 parts (`GradCache`) at
most 3.4e-14 from the processes' step (MoCo, Barlow Twins and VICReg bitwise equal), and 3.4e-14 for 2 processes in 2
parts each against one process.
Until a8843c0 (2026-12-06) the encoder was resnet18 (30 times the parameters; the test took 64-107 s, now about 25 s):
at most 1.5e-13, broken at least 4.9e-2, parts 1.5e-14, on an AVX-512 machine under the native kernels, avx2 and
default. With resnet18, the same step in float32 differed by up to 3.8e-5 (VICReg): a gap that shrinks by the ratio of
the two precisions' epsilons is rounding, not a difference in what is computed. (Where that float32 test failed, on
Barlow Twins' gradients of magnitude up to 29, an absolute tolerance of 1e-5 asked for 3e-7 of them.) TOL sits orders
of magnitude from both.
MAE, whose loss is a mean over images, is checked for 2 processes = 1 (7.5e-16) and for its parts, on a `test_vit` made
for 28 px: with a position table of another size (resampled for each batch, `dynamic_img_size`) its gradient differed
by 1.3e-9 between 1 and 2 processes, and by 7.5e-16 without the resampling: rounding, magnified by the resampling's
adjoint (a small gradient made of large terms of both signs), not a difference in what is computed.
DINOv2 (`test_vit`, every view 28 px for the same reason: with 12 px local views the resampling gave 2.8e-10): 2 processes
against 1 at most 1.5e-15, 1 process in 2 parts against 2 processes 9.4e-16, without gathering 2.6e-2, with the native
kernels and ATEN_CPU_CAPABILITY=default.
MoCo with one query and one key per image (`symmetric=False`, `moco_asym`): 2 processes against 1 at most 2.2e-15, 1
process in 2 parts against 2 processes 1.9e-16, without gathering 1.5 (`test_resnet`, the native kernels, AVX2)."""
import os, subprocess, sys, torch
from pathlib import Path

HERE = Path(__file__).parent
COUPLED = ('simclr', 'moco', 'moco_asym', 'barlow_twins', 'vicreg', 'dino', 'swav', 'dinov2', 'distillation')
MEAN_OVER_IMAGES = ('mae',)   # their loss is a mean of each image's terms: 2 processes equal 1 without gathering too
TOL = 1e-9   # relative: float64's rounding stays 1e4 times below it, a computation that differs is 1e7 times above

def _run(args, env=None):
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"{' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"

def differences(ref:dict, ranks:list) -> dict:
    "How far the ranks are from the one-process step: for the mean loss, each gradient and each coupled state, the largest difference relative to the largest magnitude of the one-process value"
    rel = lambda a, b: ((a - b).abs().max() / b.abs().max()).item()
    out = {'loss': rel(torch.stack([r['loss'] for r in ranks]).mean(), ref['loss'])}
    out.update({n: max(rel(r['grads'][n], g) for r in ranks) for n, g in ref['grads'].items()})
    out.update({n: max(rel(r['buffers'][n], ref['buffers'][n]) for r in ranks) for n in ('queue', 'center') if n in ref['buffers']})
    return out

def test_two_processes_equal_one(tmp_path):
    one, two = tmp_path/'one', tmp_path/'two'
    one.mkdir(); two.mkdir()
    _run([sys.executable, str(HERE/'_methods_step.py'), str(one), 'single'])
    _run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29517',
          str(HERE/'_methods_step.py'), str(two), 'dist'], env={'OMP_NUM_THREADS': '1'})
    for m in COUPLED + MEAN_OVER_IMAGES:
        ref = torch.load(one/f'{m}_rank0.pt', weights_only=True)
        ranks = [torch.load(two/f'{m}_rank{r}.pt', weights_only=True) for r in range(2)]
        assert ref['loss'].dtype == torch.float64, m
        if m in ('simclr', 'moco', 'moco_asym', 'swav'): assert ranks[0]['loss'] != ranks[1]['loss'], m   # each rank's anchors differ
        assert ref['grads'].keys() == ranks[0]['grads'].keys() == ranks[1]['grads'].keys(), m
        for name, g in ref['grads'].items(): assert g.abs().max() > 0, (m, name)   # every parameter learns
        for name in ('queue', 'center'):   # the state the step leaves (queues, DINO's center) is not empty
            if name in ref['buffers']: assert ref['buffers'][name].abs().sum() > 0, (m, name)
        # the mean of the ranks' losses is the loss of the whole batch in one process; every gradient, after DDP
        # averaging, and every coupled state is the one-process one
        d = differences(ref, ranks)
        worst = max(d, key=d.get)
        assert d[worst] <= TOL, f"{m}: {worst} differs by {d[worst]:.2g} (relative) between 2 processes and 1"
        if m in COUPLED:   # without gathering, the same comparison fails: each method's coupling is seen by the test
            broken = differences(ref, [torch.load(two/f'{m}_nogather_rank{r}.pt', weights_only=True) for r in range(2)])
            assert max(broken.values()) > 1e3 * TOL, f"{m}: without gathering, 2 processes still equal 1 ({max(broken.values()):.2g})"
        # 1 process with the batch in 2 parts (gradient caching) equals the 2 processes, loss, gradients and state
        parts = torch.load(one/f'{m}_chunks2_rank0.pt', weights_only=True)
        d = differences(parts, ranks)
        worst = max(d, key=d.get)
        assert d[worst] <= TOL, f"{m}: {worst} differs by {d[worst]:.2g} (relative) between 1 process in 2 parts and 2 processes"
        if m in ('simclr', 'dino'):   # 2 processes, each in 2 parts, equal 1 process on the whole batch
            d = differences(ref, [torch.load(two/f'{m}_chunks2_rank{r}.pt', weights_only=True) for r in range(2)])
            worst = max(d, key=d.get)
            assert d[worst] <= TOL, f"{m}: {worst} differs by {d[worst]:.2g} (relative) between 2 processes in 2 parts each and 1 process"

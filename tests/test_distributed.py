"""Two gloo processes on CPU train exactly like one process on the whole batch, for every method whose loss couples the
samples of a batch: SimCLR (`DistributedSimCLR`), MoCo (keys gathered into the queue), Barlow Twins and VICReg (batch
statistics over the gathered embeddings), DINO (its center, the mean of the teacher's outputs over the global batch),
SwAV (Sinkhorn's sums over the samples of every process, each process's share of the queue, the gathered embeddings
queued), distillation (every process's teacher features go into the queue).
One torchrun launch runs them all (`_methods_step.py`)."""
import os, subprocess, sys, torch
from pathlib import Path

HERE = Path(__file__).parent
COUPLED = ('simclr', 'moco', 'barlow_twins', 'vicreg', 'dino', 'swav', 'distillation')

def _run(args, env=None):
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"{' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"

def test_two_processes_equal_one(tmp_path):
    one, two = tmp_path/'one', tmp_path/'two'
    one.mkdir(); two.mkdir()
    _run([sys.executable, str(HERE/'_methods_step.py'), str(one), 'single'])
    _run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29517',
          str(HERE/'_methods_step.py'), str(two), 'dist'], env={'OMP_NUM_THREADS': '1'})
    for m in COUPLED:
        ref = torch.load(one/f'{m}_rank0.pt', weights_only=True)
        ranks = [torch.load(two/f'{m}_rank{r}.pt', weights_only=True) for r in range(2)]
        # the mean of the ranks' losses is the loss of the whole batch in one process
        torch.testing.assert_close(torch.stack([r['loss'] for r in ranks]).mean(), ref['loss'], rtol=0, atol=1e-5, msg=m)
        if m in ('simclr', 'moco', 'swav'): assert ranks[0]['loss'] != ranks[1]['loss'], m   # each rank's anchors differ
        # every gradient, after DDP averaging, equals the one-process gradient, and is not zero
        assert ref['grads'].keys() == ranks[0]['grads'].keys() == ranks[1]['grads'].keys(), m
        for name, g in ref['grads'].items():
            assert g.abs().max() > 0, (m, name)
            for r in ranks: torch.testing.assert_close(r['grads'][name], g, rtol=1e-4, atol=1e-5, msg=f'{m}: {name}')
        # state the step leaves in the model (MoCo's, SwAV's and distillation's queues, DINO's center) is the one-process state in every rank
        for name in ('queue', 'center'):
            if name not in ref['buffers']: continue
            assert ref['buffers'][name].abs().sum() > 0, (m, name)
            for r in ranks: torch.testing.assert_close(r['buffers'][name], ref['buffers'][name], rtol=1e-4, atol=1e-6, msg=f'{m}: {name}')

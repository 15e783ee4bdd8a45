"Two gloo processes on CPU train exactly like one process on the whole batch (DistributedSimCLR)."
import os, subprocess, sys, torch
from pathlib import Path

HERE = Path(__file__).parent

def _run(args, env=None):
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"{' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"

def test_two_processes_equal_one(tmp_path):
    one, two = tmp_path/'one', tmp_path/'two'
    one.mkdir(); two.mkdir()
    _run([sys.executable, str(HERE/'_simclr_step.py'), str(one), 'single'])
    _run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29517',
          str(HERE/'_simclr_step.py'), str(two), 'dist'], env={'OMP_NUM_THREADS': '1'})
    ref = torch.load(one/'rank0.pt', weights_only=True)
    ranks = [torch.load(two/f'rank{r}.pt', weights_only=True) for r in range(2)]
    # the mean of the ranks' losses is the loss of the whole batch in one process
    torch.testing.assert_close(torch.stack([r['loss'] for r in ranks]).mean(), ref['loss'], rtol=0, atol=1e-5)
    assert ranks[0]['loss'] != ranks[1]['loss']   # each rank's anchors differ
    # every gradient, after DDP averaging, equals the one-process gradient, and is not zero
    assert ref['grads'].keys() == ranks[0]['grads'].keys() == ranks[1]['grads'].keys()
    for name, g in ref['grads'].items():
        assert g.abs().max() > 0, name
        for r in ranks: torch.testing.assert_close(r['grads'][name], g, rtol=1e-4, atol=1e-5, msg=name)

"""Several machines: two `torchrun --nnodes 2` launches on this machine, one per "node" (c10d rendezvous, gloo), train one
run of `self-supervised pretrain` together: rank 0 writes the one run folder, the weights equal one node's with two
processes, a SIGKILL of either node ends the other and the same commands resume the run.

Slow (`pytest -m slow tests/test_multinode.py`): every launch starts two Pythons; about 4 minutes on 2 CPUs."""
import os, re, signal, socket, subprocess, sys, time
from pathlib import Path
import psutil, pytest, torch
from self_supervised.runs import load_checkpoint
from test_pretrain import digits, _cli, _metrics
from _helpers import saved_epoch

pytestmark = pytest.mark.slow
EPOCHS, TIMEOUT = 3, 300

def _port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _kill(p, sig=signal.SIGKILL):
    "Send `sig` to torchrun launch `p` and its workers (torchrun starts each worker in a session of its own)"
    try: ps = [psutil.Process(p.pid)] + psutil.Process(p.pid).children(recursive=True)
    except psutil.NoSuchProcess: return
    for q in ps:
        try: q.send_signal(sig)
        except psutil.NoSuchProcess: pass

class Nodes:
    "Two torchrun launches of `pretrain` that rendezvous at a fresh port; `out` relative to each node's `cwd`"
    def __init__(self, tmp, out, data, epochs, cwds=None, env=None, name='nodes'):
        port, self.logs, self.ps = _port(), [tmp/f'{name}{n}.log' for n in range(2)], []
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '2', '--nproc_per_node', '1', '--rdzv_backend', 'c10d',
               '--rdzv_endpoint', f'127.0.0.1:{port}', *_cli(out, data, epochs)[1:]]
        for n in range(2):
            with open(self.logs[n], 'w') as f:
                self.ps.append(subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=(cwds or [None] * 2)[n],
                                                env={**os.environ, 'OMP_NUM_THREADS': '1', **(env or {})}))
    def output(self, n): return self.logs[n].read_text()
    def rank0(self):
        "The launch that runs rank 0 (c10d orders the nodes by host name, then by process id: either launch)"
        r = [n for n in range(2) if 'Training test_resnet' in self.output(n)]
        return r[0] if r else None
    def wait(self, timeout=TIMEOUT):
        "Exit codes of both launches; both killed (and the test failed) if they run past `timeout`"
        t0, rcs = time.time(), []
        try:
            for p in self.ps: rcs.append(p.wait(max(1, timeout - (time.time() - t0))))
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f'the launches ran past {timeout}s:\n' + '\n'.join(self.output(n)[-3000:] for n in range(2)))
        return rcs
    def kill(self):
        for p in self.ps: _kill(p)
        for p in self.ps: p.wait(30)
    def check(self, timeout=TIMEOUT):
        rcs = self.wait(timeout)
        assert rcs == [0, 0], f'exit codes {rcs}:\n' + '\n'.join(self.output(n)[-3000:] for n in range(2))

def _two_nodes(tmp, out, data, epochs=EPOCHS, **kw):
    nodes = Nodes(tmp, out, data, epochs, **kw)
    try: nodes.check()
    finally: nodes.kill()
    return nodes

@pytest.fixture(scope='module')
def one_node(tmp_path_factory, digits):
    "The reference: the same run on one node with two processes"
    out = tmp_path_factory.mktemp('one_node')/'run'
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', *_cli(out, digits, EPOCHS)[1:]],
                       capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out

def _same_run(ref, out, atol=0):
    a, b = load_checkpoint(ref/'checkpoints'/'last.pth'), load_checkpoint(out/'checkpoints'/'last.pth')
    assert a['epoch'] == b['epoch'] == EPOCHS and len(b['rng']) == 2
    for n, w in a['model'].items(): torch.testing.assert_close(b['model'][n], w, rtol=0, atol=atol, msg=n)
    for sa, sb in zip(a['opt']['state'], b['opt']['state']):
        for k, v in sa.items():
            if isinstance(v, torch.Tensor): torch.testing.assert_close(sb[k], v, rtol=0, atol=atol, msg=k)
    assert [r['epoch'] for r in _metrics(out)] == [str(e) for e in range(1, EPOCHS + 1)]
    for x, y in zip(_metrics(ref), _metrics(out)): assert abs(float(x['train_loss']) - float(y['train_loss'])) <= max(atol, 1e-6)

def test_two_nodes_train_like_one_node(tmp_path, digits, one_node):
    "A different working directory per node and a relative `out`: as if the nodes shared no filesystem"
    cwds = [tmp_path/'node0', tmp_path/'node1']
    for d in cwds: d.mkdir()
    nodes = _two_nodes(tmp_path, 'run', digits, cwds=cwds)
    r0 = nodes.rank0()
    out, other = cwds[r0]/'run', cwds[1 - r0]/'run'
    assert not other.exists(), f'rank 1 wrote {sorted(other.rglob("*"))}'       # rank 0 writes the one run folder
    assert {'config.json', 'train.log', 'metrics.csv', 'checkpoints', 'exported_models'} <= {p.name for p in out.iterdir()}
    assert '"world_size": 2' in (out/'config.json').read_text()
    assert 'Done: 3 epochs' in (out/'train.log').read_text()
    _same_run(one_node, out)                                                   # bit for bit: same ranks, same batches
    # resuming needs the checkpoint on every node: here rank 1 finds none, and both stop at once with one clear line
    nodes = Nodes(tmp_path, 'run', digits, EPOCHS + 1, cwds=cwds, name='resume')
    try: rcs = nodes.wait(120)
    finally: nodes.kill()
    assert rcs[0] != 0 and rcs[1] != 0
    # (either node may host rank 0 this time: on one machine c10d orders the launches by process id)
    msg = rf"error: The processes found different checkpoints in 'run' \(epochs done, by rank: \[({EPOCHS}, 0|0, {EPOCHS})\]\): put `out` on a filesystem every node shares"
    assert all(re.search(msg, nodes.output(n)) for n in range(2)), nodes.output(0)[-3000:] + nodes.output(1)[-3000:]

@pytest.mark.parametrize('victim', [0, 1])
def test_sigkill_of_either_node_resumes(tmp_path, digits, one_node, victim):
    "SIGKILL every process of the node that runs rank `victim` during epoch 2; the other node ends; the same commands resume"
    out = tmp_path/'run'
    ckpt = out/'checkpoints'/'last.pth'
    # a second's pause before each checkpoint's rename: epoch 2 cannot finish before the kill lands
    nodes = Nodes(tmp_path, out, digits, EPOCHS, env={'SELF_SUPERVISED_PAUSE_BEFORE_RENAME': '1'})
    try:
        t0 = time.time()
        while saved_epoch(ckpt) is None:
            assert all(p.poll() is None for p in nodes.ps), 'a node ended before the first checkpoint'
            assert time.time() - t0 < TIMEOUT, f'no checkpoint after {TIMEOUT}s'
            time.sleep(0.01)
        r0 = nodes.rank0()
        n = r0 if victim == 0 else 1 - r0
        procs = [q for p in nodes.ps for q in [psutil.Process(p.pid)] + psutil.Process(p.pid).children(recursive=True)]
        assert len(procs) == 4, procs                                          # two torchrun agents, two workers
        _kill(nodes.ps[n])
        nodes.ps[n].wait(30)
        t1 = time.time()
        try: rc = nodes.ps[1 - n].wait(60)                                     # the other node sees its peer gone
        except subprocess.TimeoutExpired: pytest.fail('the other node still runs 60s after the kill')
        assert rc != 0
        time.sleep(1)
        left = [q for q in procs if q.is_running() and q.status() != psutil.STATUS_ZOMBIE]
        assert not left, f'processes left behind: {left}'
        print(f'node of rank {victim} killed; the other ended in {time.time() - t1:.1f}s')
    finally: nodes.kill()
    assert saved_epoch(ckpt) == 1, f'killed too late: checkpoint of epoch {saved_epoch(ckpt)}'
    _two_nodes(tmp_path, out, digits, name='again')                           # the same commands again
    log = (out/'train.log').read_text()
    assert 'Resuming at epoch 2/3' in log and 'Resuming at epoch 1/' not in log
    _same_run(one_node, out, atol=1e-6)

"""`pretrain`: errors that stop it before training, unreadable files, resume after a real SIGKILL, and a second run in
the same folder and Ctrl-C (a real SIGINT).

Runs are tiny (128 real digits at 16 px, timm's `test_resnet`, batches of 32) so the file takes a minute or two on 2 CPUs.
"""
import csv, json, os, re, signal, subprocess, sys, time
from pathlib import Path
import pytest, timm, torch
from PIL import Image
from self_supervised import pretrain
from self_supervised.data import mnist_arrays, mnist_split
from self_supervised.train import ConfigError, SMALL_IMAGE_PRESET
from self_supervised.runs import load_checkpoint
from self_supervised.cli import main
from _helpers import digit_folders, saved_epoch, kill_after_first_checkpoint

FAST = dict(model='test_resnet', size=16, batch_size=32, num_workers=0, progress=False)

@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    "128 real MNIST digits (all classes) as PNGs in class folders"
    return digit_folders(tmp_path_factory.mktemp('digits'), 128)

def _args(out, data, epochs, *extra):
    "The arguments of `self-supervised pretrain` for a tiny run"
    return ['pretrain', f'out={out}', f'data={data}', f'epochs={epochs}', *[f'{k}={v}' for k, v in FAST.items()], *extra]

def _cli(*args): return [sys.executable, '-m', 'self_supervised.cli', *_args(*args)]

def _main(*args):
    "The same command in this process (saves the seconds of a Python start): exit status 0"
    assert main(_args(*args)) == 0

def _run(cmd, env=None, timeout=300):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _metrics(out): return list(csv.DictReader(open(out/'metrics.csv')))

# --- errors: one line, before training, nothing written ---

@pytest.mark.parametrize('kwargs, msg', [
    (dict(data='{tmp}/missing'), 'does not exist'),
    (dict(data='{tmp}/empty'), 'No images in'),
    (dict(model='resnet_18'), "Unknown architecture 'resnet_18'. Did you mean"),
    (dict(model='torchvision/resnet_18'), 'Unknown torchvision model'),
    (dict(batch_size=1), 'batch_size must be at least 2'),
    (dict(method_args=dict(tmp=0.2)), 'Valid keys: temp'),
    (dict(transform_args=dict(random_resize=dict(min=0.2))), "Unknown key 'transform_args.random_resize.min'"),
    (dict(decode='nvjpeg'), "decode='nvjpeg' is not a decoder: use one of 'cpu', 'gpu'"),
    (dict(accumulate=0), 'accumulate must be a positive integer'),
    (dict(accumulate=33), "accumulate=33 parts but each process's batch holds 32 images: lower accumulate or raise batch_size"),
    pytest.param(dict(decode='gpu'), "decode='gpu' needs a CUDA GPU: use decode='cpu'",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')),
])
def test_errors_stop_before_training(tmp_path, digits, kwargs, msg):
    (tmp_path/'empty').mkdir()
    (tmp_path/'empty'/'readme.txt').write_text('no images here')
    kw = {**FAST, 'data': digits, 'epochs': 1, **{k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in kwargs.items()}}
    with pytest.raises(ConfigError, match=msg) as e: pretrain(tmp_path/'out', **kw)
    assert '\n' not in str(e.value)
    assert not (tmp_path/'out').exists()

def test_different_run_needs_overwrite(tmp_path, digits):
    out = tmp_path/'run'
    pretrain(out, data=digits, epochs=1, **FAST)
    files = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}
    temp = SMALL_IMAGE_PRESET['method_args']['temp']  # 16 px: the small-image preset's
    with pytest.raises(ConfigError, match=rf"holds a different run .*method_args.temp \({temp} -> 0.5\).*overwrite=True") as e:
        pretrain(out, data=digits, epochs=1, **FAST, method_args=dict(temp=0.5))
    assert '\n' not in str(e.value)
    assert {p: p.read_bytes() for p in out.rglob('*') if p.is_file()} == files   # nothing changed, nothing deleted
    pretrain(out, data=digits, epochs=1, **FAST, method_args=dict(temp=0.5), overwrite=True)
    assert json.loads((out/'config.json').read_text())['method_args']['temp'] == 0.5
    after = {p for p in out.rglob('*') if p.is_file()}
    assert {p for p in files if 'tfevents' not in p.name} <= after   # the same files, written by the new run
    assert not {p for p in files if 'tfevents' in p.name} & after      # the old run's TensorBoard events are gone

def test_complete_run_and_more_epochs(tmp_path, digits, capsys):
    out = tmp_path/'run'
    pretrain(out, data=digits, epochs=1, **FAST)
    pretrain(out, data=digits, epochs=1, **FAST)
    assert 'is complete: 1/1 epochs' in capsys.readouterr().out
    pretrain(out, data=digits, epochs=2, **FAST)
    assert 'Resuming at epoch 2/2' in (out/'train.log').read_text()
    assert [r['epoch'] for r in _metrics(out)] == ['1', '2']

# --- unreadable files ---

def test_unreadable_files_are_skipped(tmp_path, digits):
    data = tmp_path/'data'
    for p in digits.rglob('*.png'): (data/p.parent.name).mkdir(parents=True, exist_ok=True); (data/p.parent.name/p.name).write_bytes(p.read_bytes())
    (data/'3'/'truncated.png').write_bytes(next(digits.rglob('*.png')).read_bytes()[:120])
    (data/'7'/'notes.jpg').write_text('this is text, not a JPEG')
    out = tmp_path/'run'
    pretrain(out, data=data, epochs=2, **FAST)
    log = (out/'train.log').read_text()
    assert 'Skipped unreadable image' in log and 'truncated.png' in log and 'notes.jpg' in log
    assert sum('notes.jpg' in l for l in log.splitlines()) == 1   # warned once, not every epoch
    assert [r['unreadable'] for r in _metrics(out)] == ['2', '2']
    assert load_checkpoint(out/'checkpoints'/'last.pth')['epoch'] == 2

def test_gray_rgba_palette_and_small_images(tmp_path):
    "Mixed modes decode to the model's channels; images smaller than `size` are upsampled"
    d = tmp_path/'mixed'; d.mkdir()
    X, _ = mnist_arrays()
    for i in range(8):
        im = Image.fromarray(X[i])
        im.save(d/f'gray{i}.png'); im.convert('RGBA').save(d/f'rgba{i}.png'); im.convert('P').save(d/f'pal{i}.bmp')
        im.resize((12, 12)).convert('RGB').save(d/f'small{i}.jpg')
    out = tmp_path/'run'
    pretrain(out, data=d, epochs=1, **{**FAST, 'batch_size': 16}, model_args=dict(n_in=3))
    cfg = json.loads((out/'config.json').read_text())
    assert (cfg['size'], cfg['model_args']['n_in'], cfg['info']['images']) == (16, 3, 32)
    assert 'unreadable' not in (out/'train.log').read_text()

# --- kill and resume ---

# the default run kills one method of each kind of state: no extra state (simclr), target networks (byol), a queue
# buffer (moco), random masks of a ViT's patches (mae), a mask token, Sinkhorn targets and a teacher ViT (dinov2); the others hold nothing these do not, and run with `make test-all` (DINO's 8 views: +38 s; its
# notebook checks an in-process resume; SwAV's likewise)
_slow = pytest.mark.slow
@pytest.mark.parametrize('method', ['simclr', 'byol', 'moco', 'mae', 'dinov2', pytest.param('simsiam', marks=_slow),
                                    pytest.param('barlow_twins', marks=_slow), pytest.param('vicreg', marks=_slow),
                                    pytest.param('dino', marks=_slow), pytest.param('swav', marks=_slow)])
def test_sigkill_during_training_resumes_exactly(tmp_path, digits, method):
    "Weights (target networks, queues and centers included), optimizer state, metrics and export equal an uninterrupted run's (simclr: killed inside an epoch)"
    ref, run, m = tmp_path/'ref', tmp_path/'run', f'method={method}'
    every = ['checkpoint_every=2 steps'] if method == 'simclr' else []   # simclr is killed inside epoch 1: a checkpoint every 2 of its 4 steps
    m = (m, 'accumulate=2', 'method_args.symmetric=True') if method == 'moco' else (m,)   # moco's batches go through the model in 2 parts
    # (GradCache), symmetric: its two queues (the digits are gray, whose preset trains one query and one key per image)
    vit = ('model=test_vit', 'model_args.patch_size=4', 'model_args.dynamic_img_size=True') if method in ('mae', 'dinov2') else ()
    m = m + vit                                                   # MAE and DINOv2 mask a ViT's patches: timm's small test_vit, 4 x 4 patches of 4 px
    _main(ref, digits, 3, *m, *every)                             # uninterrupted
    # a second's pause before each checkpoint's rename: epochs of a fraction of a second cannot finish before the kill lands
    ckpt = run/'checkpoints'/'last.pth'
    p = kill_after_first_checkpoint(_cli(run, digits, 3, *m, *every), ckpt)   # during epoch 2 (simclr: after half of epoch 1)
    s = load_checkpoint(ckpt)
    assert (s['epoch'], s.get('batch'), s['train_iter']) == ((0, 2, 2) if every else (1, None, 4)), f"killed too late: checkpoint of epoch {s['epoch']}"
    assert (run/'.lock').exists()                                 # left by the killed process, whose flock went with it
    _main(run, digits, 3, *m, *every)                             # the same command again
    log = (run/'train.log').read_text()
    assert (method == 'moco') == ('batch 32 (in 2 parts per process)' in log)
    if every: assert 'Resuming at epoch 1/3 from' in log and '(0 epochs done, and 2 batches of epoch 1)' in log
    else: assert 'Resuming at epoch 2/3' in log and 'Resuming at epoch 1/' not in log
    assert f"Took over the lock of '{run}' left by process {p.pid} on" in log and not (run/'.lock').exists()
    a, b = load_checkpoint(ref/'checkpoints'/'last.pth'), load_checkpoint(ckpt)
    assert a['epoch'] == b['epoch'] == 3
    assert (method in ('byol', 'moco', 'dino', 'dinov2')) == any(n.startswith('target_encoder.') for n in a['model'])
    assert (method in ('moco', 'swav')) == ('queue' in a['model']) and (method == 'dino') == ('center' in a['model'])
    for n, w in a['model'].items(): torch.testing.assert_close(b['model'][n].float(), w.float(), rtol=0, atol=1e-4, msg=n)
    for sa, sb in zip(a['opt']['state'], b['opt']['state']):
        for k, v in sa.items():
            if isinstance(v, torch.Tensor): torch.testing.assert_close(sb[k].float(), v.float(), rtol=0, atol=1e-4, msg=k)
    ra, rb = _metrics(ref), _metrics(run)
    assert [r['epoch'] for r in rb] == ['1', '2', '3']
    for x, y in zip(ra, rb): assert abs(float(x['train_loss']) - float(y['train_loss'])) < 1e-4
    ea, eb = (load_checkpoint(o/'exported_models'/'backbone.pth') for o in (ref, run))
    for n, w in ea.items(): torch.testing.assert_close(eb[n].float(), w.float(), rtol=0, atol=1e-4, msg=n)
    exported = 'target_encoder' if method == 'dinov2' else 'encoder'   # DINOv2 exports its teacher; DINO's small-image preset its student
    for n, w in ea.items(): assert torch.equal(w, a['model'][f'{exported}.body.{n}']), n
    if method in ('mae', 'dinov2'): timm.create_model('test_vit', num_classes=0, in_chans=1, patch_size=4, dynamic_img_size=True).load_state_dict(eb)
    else: timm.create_model('test_resnet', num_classes=0, in_chans=1).load_state_dict(eb)   # a timm-loadable backbone (strict)

def test_distillation_resumes_exactly_and_checks_its_teacher(tmp_path, digits, capsys):
    """A distillation run stopped after epoch 1 and resumed by the same command (the teacher reloaded from the file config.json
    records) ends as the uninterrupted run; no checkpoint holds the teacher; a changed teacher file or none is a one-line error"""
    from fastai.callback.core import Callback, CancelFitException
    from self_supervised.checkpoint import Checkpoint
    from self_supervised.export import export_backbone
    from self_supervised.layers import create_encoder
    from self_supervised.vision.distillation import file_sha256
    class StopAfterFirstEpoch(Callback):
        order = Checkpoint.order + 1
        def after_epoch(self): raise CancelFitException()
    torch.manual_seed(0)   # a teacher of random weights (what is resumed does not depend on what it knows), of 96 features: a linear head
    bb = export_backbone(create_encoder('test_resnet', n_in=1, small_input=2, pool_type='avg'), tmp_path/'teacher'/'exported_models',
                         image_size=16, normalize=None)
    ref, run, m = tmp_path/'ref', tmp_path/'run', ('method=distillation', f"method_args.teacher={tmp_path/'teacher'}")
    _main(ref, digits, 3, *m)                                     # uninterrupted
    pretrain(run, data=digits, epochs=3, method='distillation', method_args=dict(teacher=str(tmp_path/'teacher')), **FAST,
             cbs=[StopAfterFirstEpoch()])
    assert saved_epoch(run/'checkpoints'/'last.pth') == 1
    _main(run, digits, 3, *m)                                     # the same command resumes
    assert 'Resuming at epoch 2/3' in (run/'train.log').read_text()
    cfg = json.loads((run/'config.json').read_text())['method_args']
    assert (cfg['teacher'], cfg['teacher_sha256'], cfg['queue_size']) == (str(bb.resolve()), file_sha256(bb), 64)
    a, b = load_checkpoint(ref/'checkpoints'/'last.pth'), load_checkpoint(run/'checkpoints'/'last.pth')
    assert a['epoch'] == b['epoch'] == 3
    assert {k.split('.')[0] for k in a['model']} == {'encoder', 'head', 'queue', 'queue_ptr'}   # no teacher (nor a local head: same channels)
    for n, w in a['model'].items(): torch.testing.assert_close(b['model'][n].float(), w.float(), rtol=0, atol=1e-4, msg=n)
    for sa, sb in zip(a['opt']['state'], b['opt']['state']):
        for k, v in sa.items():
            if isinstance(v, torch.Tensor): torch.testing.assert_close(sb[k].float(), v.float(), rtol=0, atol=1e-4, msg=k)
    for x, y in zip(_metrics(ref), _metrics(run)): assert abs(float(x['train_loss']) - float(y['train_loss'])) < 1e-4
    eb = load_checkpoint(run/'exported_models'/'backbone.pth')
    for n, w in eb.items(): assert torch.equal(w, b['model'][f'encoder.body.{n}']), n   # the student's encoder
    timm.create_model('test_resnet', num_classes=0, in_chans=1).load_state_dict(eb)
    sd = load_checkpoint(bb)
    torch.save({k: v + 1 if v.is_floating_point() else v for k, v in sd.items()}, bb)   # the teacher changes
    with pytest.raises(ConfigError, match=r"depends on changed since it started \(method_args\.teacher_sha256 .*put the original file back") as e:
        pretrain(run, data=digits, epochs=4, method='distillation', method_args=dict(teacher=str(tmp_path/'teacher')), **FAST)
    assert '\n' not in str(e.value) and saved_epoch(run/'checkpoints'/'last.pth') == 3
    assert main(_args(tmp_path/'none', digits, 1, 'method=distillation')) == 2   # no teacher
    err = capsys.readouterr().err
    assert err.startswith('error: method_args: distillation needs a teacher: pass method_args.teacher=') and err.count('\n') == 1, err
    assert not (tmp_path/'none').exists()
    with pytest.raises(ConfigError, match=r"head_layers=0 needs the student's features to have the teacher's size") as e:  # 96 vs the student's
        pretrain(tmp_path/'h0', data=digits, epochs=1, method='distillation', method_args=dict(teacher=str(tmp_path/'teacher'), head_layers=0), **FAST)
    assert '\n' not in str(e.value) and not (tmp_path/'h0').exists()   # before anything is written

def test_sigkill_during_checkpoint_write_keeps_previous(tmp_path, digits):
    run = tmp_path/'run'
    ckpt, tmp = run/'checkpoints'/'last.pth', run/'checkpoints'/'.last.pth.tmp'
    _main(run, digits, 1)
    before = ckpt.read_bytes()
    p = subprocess.Popen(_cli(run, digits, 2), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, 'SELF_SUPERVISED_PAUSE_BEFORE_RENAME': '120'})
    t0 = time.time()
    try:
        while not tmp.exists():
            assert p.poll() is None, 'the run ended without writing a checkpoint'
            assert time.time() - t0 < 240, 'no checkpoint write after 240s'
            time.sleep(0.01)
        time.sleep(1.0)                                           # written and fsynced; now in the pause before the rename
        p.send_signal(signal.SIGKILL)
    finally: p.wait()
    assert ckpt.read_bytes() == before and load_checkpoint(ckpt)['epoch'] == 1   # the previous checkpoint, intact
    _main(run, digits, 2)
    assert 'Resuming at epoch 2/2' in (run/'train.log').read_text()
    assert load_checkpoint(ckpt)['epoch'] == 2

def test_second_run_refused_and_ctrl_c(tmp_path, digits, capsys):
    "A run in another process holds `out`: the same command here stops at once, naming it; a real SIGINT stops that run in one line"
    run = tmp_path/'run'
    ckpt = run/'checkpoints'/'last.pth'
    # as from a terminal: a shell that runs this suite in the background (CI) ignores SIGINT, and children inherit that
    p = subprocess.Popen(_cli(run, digits, 1000), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.time()
    try:
        while saved_epoch(ckpt) is None:                               # training, past its first checkpoint
            assert p.poll() is None and time.time() - t0 < 240, 'no checkpoint'
            time.sleep(0.01)
        assert main(_args(run, digits, 1000)) == 2                # the second run: this process
        e = capsys.readouterr().err
        assert e.startswith(f"error: '{run}' is in use by another run: process {p.pid} on ") and e.count('\n') == 1, e
        assert p.poll() is None                                   # the first one trains on
        p.send_signal(signal.SIGINT)                              # Ctrl-C
        o, e = p.communicate(timeout=120)
    finally:
        if p.poll() is None: p.kill(); p.wait()
    k = saved_epoch(ckpt)
    assert p.returncode == 130, (o, e)
    assert re.fullmatch(rf"Interrupted in epoch \d+/1000: rerun the same command to resume from the checkpoint of epoch {k} "
                        rf"\('{re.escape(str(ckpt))}'\)\.\n", e), e
    assert 'Traceback' not in o + e and len((o + e).splitlines()) <= 10, o + e
    assert not list(run.rglob('*.tmp')) and not (run/'exported_models').exists() and not (run/'.lock').exists()
    _main(run, digits, k + 1)                                     # the same command (epochs are not compared) resumes
    assert f'Resuming at epoch {k + 1}/{k + 1}' in (run/'train.log').read_text() and saved_epoch(ckpt) == k + 1

def test_checkpoint_loads_weights_only(tmp_path, digits):
    out = tmp_path/'run'
    pretrain(out, data=digits, epochs=1, **FAST)
    ck = torch.load(out/'checkpoints'/'last.pth', weights_only=True)
    assert {'model', 'opt', 'rng', 'epoch', 'metrics'} <= set(ck)
    assert isinstance(ck['rng'][0]['torch'], torch.Tensor)

def test_init_from_exported_backbone(tmp_path, digits):
    a, b = tmp_path/'a', tmp_path/'b'
    bb = pretrain(a, data=digits, epochs=1, **FAST)
    pretrain(b, data=digits, epochs=1, **FAST, init_from=bb)
    assert f'Initialized the encoder from {bb}' in (b/'train.log').read_text()
    with pytest.raises(ConfigError, match='does not fit'):
        pretrain(tmp_path/'c', data=digits, epochs=1, **{**FAST, 'model': 'resnet10t'}, init_from=bb)
    assert not (tmp_path/'c').exists()   # stopped before training

@pytest.mark.slow
def test_devices_2_on_cpu(tmp_path, digits):
    "`devices=2` relaunches under torchrun: two gloo processes, DistributedSimCLR, one run folder"
    out = tmp_path/'run'
    _run(_cli(out, digits, 2, 'devices=2'), timeout=600)
    cfg = json.loads((out/'config.json').read_text())
    assert cfg['info']['world_size'] == 2
    assert load_checkpoint(out/'checkpoints'/'last.pth')['epoch'] == 2
    assert len(load_checkpoint(out/'checkpoints'/'last.pth')['rng']) == 2
    assert (out/'exported_models'/'backbone.pth').exists()
    assert not (out/'.lock').exists()   # the launching process held it; its torchrun processes did not try to take it

# --- a full disk ---

def _small_filesystem(path, size_kb:int) -> bool:
    "Mount a tmpfs of `size_kb` kB on `path` (a real filesystem that fills up); False where this process may not mount"
    path.mkdir(parents=True, exist_ok=True)
    if os.environ.get('SS_TEST_NO_MOUNT'): return False   # to check the other way on a machine that may mount
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size_kb}k', 'tmpfs', str(path)], capture_output=True)
    return r.returncode == 0

def test_full_disk_is_named_and_the_run_resumes(tmp_path, digits):
    "The disk fills up while the second checkpoint is written: one line names the cause, the file and the fix; the first checkpoint stays whole, no temporary file is left, and the same command resumes once there is space"
    probe = tmp_path/'probe'
    _main(probe, digits, 1)
    ck = load_checkpoint(probe/'checkpoints'/'last.pth')
    size = (probe/'checkpoints'/'last.pth').stat().st_size + sum(f.stat().st_size for f in probe.rglob('*') if f.is_file() and 'checkpoints' not in f.parts)
    out = tmp_path/'small'
    mounted = _small_filesystem(out, (size + (probe/'checkpoints'/'last.pth').stat().st_size // 2) // 1024 + 64)
    try:
        if not mounted:   # no permission to mount: the second checkpoint's temporary file is a link to /dev/full, which refuses every write (ENOSPC)
            class _FullAfterFirst(__import__('fastai.callback.core', fromlist=['Callback']).Callback):
                order = 100
                def after_epoch(self):
                    if self.epoch == 0: (out/'checkpoints'/'.last.pth.tmp').symlink_to('/dev/full')
            with pytest.raises(OSError) as e: pretrain(out, data=digits, epochs=2, **FAST, cbs=[_FullAfterFirst()])
            msg = str(e.value)
        else:
            r = subprocess.run(_cli(out, digits, 2), capture_output=True, text=True, timeout=300)
            assert r.returncode == 1 and r.stderr.count('\n') == 1, r.stderr
            msg = r.stderr
        assert 'No space left on device while writing' in msg and 'last.pth' in msg, msg
        assert "free some space and run the same command again; it resumes from the checkpoint of epoch 1" in msg, msg
        assert not os.path.lexists(out/'checkpoints'/'.last.pth.tmp')   # no half-written temporary file
        assert load_checkpoint(out/'checkpoints'/'last.pth')['epoch'] == 1           # the first checkpoint, whole
        if mounted: subprocess.run(['mount', '-o', 'remount,size=64m', str(out)], check=True)   # space freed
        _main(out, digits, 2)
        assert load_checkpoint(out/'checkpoints'/'last.pth')['epoch'] == 2 and len(_metrics(out)) == 2
    finally:
        if mounted: subprocess.run(['umount', str(out)])

def test_multiband_arrays_and_16bit_pngs(tmp_path):
    "13-band arrays and 16-bit PNGs pretrain with their own channels, type and per-channel statistics; embed and the CLI read them alike"
    import numpy as np
    from self_supervised.data import color_photos, photo_bands
    from self_supervised.runs import load_encoder
    photo = color_photos()['astronaut']
    (tmp_path/'ms').mkdir(); (tmp_path/'g16').mkdir()
    X, _ = mnist_arrays()
    for i in range(16):
        r, c = divmod(i, 4)
        crop = photo_bands(photo[r * 96:r * 96 + 48, c * 96:c * 96 + 48])
        np.save(tmp_path/'ms'/f'{i}.npy', crop if i % 2 else crop.transpose(2, 0, 1))   # (H, W, C) and (C, H, W)
        Image.fromarray(X[i].astype(np.uint16) * 200 + 3000).save(tmp_path/'g16'/f'{i}.png')   # a 16-bit range of its own
    for d, n_in, mean in (('ms', 13, None), ('g16', 1, (X[:16].astype(np.float64) * 200 + 3000).mean() / 65535)):
        out = tmp_path/f'run_{d}'
        pretrain(out, data=tmp_path/d, epochs=1, **{**FAST, 'batch_size': 8})
        cfg = json.loads((out/'config.json').read_text())
        norm = cfg['transform_args']['normalize']
        assert (cfg['model_args']['n_in'], len(norm['mean'])) == (n_in, n_in)
        assert any('own' in n or 'normalize' in n for n in cfg['notes'])
        if mean is not None: assert abs(norm['mean'][0] - mean) < 1e-3 * mean   # one scale: / 65535, not each image's maximum
        enc, info = load_encoder(out)
        assert info['normalize'] == norm and enc.config['n_in'] == n_in
        assert main(['embed', f'data={tmp_path/d}', f'checkpoint={out}', f'out={tmp_path/d}.npy', 'num_workers=0']) == 0   # the CLI reads them as training did
        assert np.load(tmp_path/f'{d}.npy').shape == (16, enc.num_features)
    assert 'skipped' in (tmp_path/'run_ms'/'train.log').read_text()   # grayscale and solarize skipped for 13 bands: said in the log
    import tifffile   # TIFFs whose bands differ between files: one line that names two of them, before anything is written
    (tmp_path/'tifs').mkdir()
    for i in range(4): tifffile.imwrite(tmp_path/'tifs'/f'{i}.tif', photo_bands(photo[:48, 48 * i:48 * i + 48], 13 - i % 2))
    with pytest.raises(ConfigError, match=r"'.*1\.tif' has 12 channel\(s\) and '.*0\.tif' 13: the images of a run need the same channels") as e:
        pretrain(tmp_path/'run_tifs', data=tmp_path/'tifs', epochs=1, **FAST)
    assert '\n' not in str(e.value) and not (tmp_path/'run_tifs').exists()

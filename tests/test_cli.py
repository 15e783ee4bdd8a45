"""The `self-supervised` command: each subcommand, `--help`, and errors that print one line and exit 2."""
import contextlib, io, json, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest, torch
from PIL import Image
from self_supervised.cli import main, COMMANDS
from _helpers import digit_folders
from self_supervised.data import mnist_arrays, mnist_split

TINY = ['model=test_resnet', 'size=16', 'batch_size=32', 'num_workers=0', 'progress=False']

def cli(*args):
    "Run `main(args)` in this process: `(exit status, stdout, stderr)`"
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e): rc = main([str(a) for a in args])
    return rc, o.getvalue(), e.getvalue()

@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    "An ImageNet-style folder of real digits: train/<label>/ (128) and valid/<label>/ (64)"
    return digit_folders(tmp_path_factory.mktemp('digits'), 128, 64)

@pytest.fixture(scope='module')
def run(digits, tmp_path_factory):
    "A 2-epoch run made with the command line, dotted keys included"
    out = tmp_path_factory.mktemp('runs')/'r1'
    rc, o, e = cli('pretrain', f'out={out}', f'data={digits/"train"}', 'epochs=2', *TINY, 'method_args.temp=0.3',
                   'transform_args.random_resize.min_scale=0.3', 'optim_args={"optimizer": "sgd"}', 'lr=0.01')
    assert rc == 0, o + e
    return out

def test_console_script():
    "The installed command runs, and prints no warning of a dependency's import (torch deprecating `torch.jit.script`)"
    r = subprocess.run([str(Path(sys.executable).parent/'self-supervised'), '--help'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith('usage: self-supervised'), r.stderr
    assert not [l for l in (r.stdout + r.stderr).splitlines() if 'warning' in l.lower()], r.stderr

def test_usage():
    rc, o, _ = cli('--help')
    assert rc == 0 and all(f'\n  {c} ' in o for c in COMMANDS)

@pytest.mark.parametrize('name', list(COMMANDS))
def test_help_lists_keys_with_defaults(name):
    rc, o, _ = cli(name, '--help')
    assert rc == 0 and o.startswith(f'usage: self-supervised {name}')
    keys = {'pretrain': ['out', 'data', 'epochs', 'method_args.temp', 'transform_args.color_jitter.prob', 'optim_args.warmup_epochs'],
            'embed': ['data', 'checkpoint', 'out'], 'export': ['checkpoint', 'out', 'format'], 'evaluate': ['data', 'checkpoint', 'linear'],
            'show-augs': ['data', 'out', 'n'], 'finetune': ['data', 'checkpoint', 'out', 'epochs', 'init', 'valid_pct'],
            'extract-frames': ['data', 'out', 'fps', 'max_frames', 'size']}[name]
    for k in keys: assert f'\n  {k} ' in o, (k, o)
    if name == 'pretrain': assert "  epochs           100" in o and 'small-image preset' in o

def test_pretrain_dotted_keys(run):
    cfg = json.loads((run/'config.json').read_text())
    assert cfg['method_args']['temp'] == 0.3
    assert cfg['transform_args']['random_resize'] == dict(min_scale=0.3, max_scale=1.0)
    assert (cfg['optim_args']['optimizer'], cfg['optim_args']['lr'], cfg['epochs']) == ('sgd', 0.01, 2)
    for f in ('train.log', 'metrics.csv', 'checkpoints/last.pth', 'exported_models/backbone.pth', 'exported_models/backbone.json'):
        assert (run/f).exists(), f
    assert list(run.glob('events.out.tfevents*'))

def test_pretrain_rerun_reports_complete(run, digits):
    rc, o, _ = cli('pretrain', f'out={run}', f'data={digits/"train"}', 'epochs=2', *TINY, 'method_args.temp=0.3',
                   'transform_args.random_resize.min_scale=0.3', 'optim_args={"optimizer": "sgd"}', 'lr=0.01')
    assert rc == 0 and 'is complete: 2/2 epochs' in o

def test_export(run, tmp_path):
    import timm
    rc, o, e = cli('export', f'checkpoint={run/"checkpoints"/"last.pth"}', f'out={tmp_path/"exp"}')
    assert rc == 0, e
    c = json.loads((tmp_path/'exp'/'backbone.json').read_text())
    assert (c['arch'], c['n_in'], c['pool_type'], c['image_size']) == ('test_resnet', 1, 'catavgmax', 16)
    sd = torch.load(tmp_path/'exp'/'backbone.pth', weights_only=True)
    timm.create_model('test_resnet', num_classes=0, in_chans=1).load_state_dict(sd)   # strict
    ref = torch.load(run/'exported_models'/'backbone.pth', weights_only=True)
    assert all(torch.equal(sd[k], ref[k]) for k in ref)

def test_export_state_dict_needs_model(run, tmp_path):
    sd = torch.load(run/'checkpoints'/'last.pth', weights_only=True)['model']
    torch.save(sd, tmp_path/'model.pth')
    rc, _, e = cli('export', f'checkpoint={tmp_path/"model.pth"}')
    assert rc == 2 and 'pass model=<name>' in e and e.count('\n') == 1
    rc, _, e = cli('export', f'checkpoint={tmp_path/"model.pth"}', 'model=test_resnet', 'model_args.n_in=1', f'out={tmp_path/"e"}')
    assert rc == 0, e and (tmp_path/'e'/'backbone.pth').exists()

@pytest.mark.parametrize('fmt', ['npy', 'csv'])
def test_embed(run, digits, tmp_path, fmt):
    out = tmp_path/f'emb.{fmt}'
    rc, o, e = cli('embed', f'data={digits/"valid"}', f'checkpoint={run}', f'out={out}')
    assert rc == 0, e
    c = json.loads((run/'exported_models'/'backbone.json').read_text())
    if fmt == 'npy':
        x = np.load(out)
        names = (tmp_path/'emb.files.txt').read_text().splitlines()
    else:
        lines = out.read_text().splitlines()
        assert lines[0].startswith('file,f0,f1')
        names = [l.split(',')[0] for l in lines[1:]]
        x = np.array([[float(v) for v in l.split(',')[1:]] for l in lines[1:]])
    assert x.shape == (64, c['num_features']) and len(names) == 64 and names[0].endswith('.png')

def test_evaluate(run, digits, tmp_path):
    rc, o, e = cli('evaluate', f'data={digits}', f'checkpoint={run/"exported_models"/"backbone.pth"}', f'out={tmp_path/"ev.json"}')
    assert rc == 0, e
    res = json.loads((tmp_path/'ev.json').read_text())
    assert {'knn', 'linear', 'knn_k'} <= set(res)   # the one scorer's figures (`score_features`)
    assert (res['train_images'], res['valid_images'], res['classes'], res['knn_k']) == (128, 64, 10, 20)
    assert 0 <= res['knn'] <= 100 and 0 <= res['linear'] <= 100 and '"knn"' in o

def test_show_augs(digits, tmp_path):
    rc, o, e = cli('show-augs', f'data={digits/"train"}', f'out={tmp_path/"views.png"}', 'n=4', 'transform_args.random_resize.min_scale=0.5')
    assert rc == 0, e
    im = Image.open(tmp_path/'views.png')
    assert im.format == 'PNG' and im.size[1] > im.size[0]   # 4 rows of 3

@pytest.mark.parametrize('args, msg', [
    (['train'], 'unknown command'),
    (['pretrain', 'out=x', 'epoch=3'], "Unknown argument 'epoch'. Valid keys: out, data"),
    (['pretrain', 'data=x'], 'pretrain needs out=...'),
    (['pretrain', 'out=x', 'epochs'], 'key=value'),
    (['embed', 'data=.', 'checkpoint=nowhere.pth'], "No weights at 'nowhere.pth'"),
    (['evaluate', 'data=.', 'checkpoint=x'], 'has no train/'),
])
def test_errors_exit_2_with_one_line(args, msg, tmp_path):
    rc, _, e = cli(*[a.replace('=x', f'={tmp_path/"x"}') for a in args])
    assert rc == 2 and msg in e, e
    if args[0] != 'train': assert e.count('\n') == 1, e

def test_pretrain_error_from_cli(tmp_path, digits):
    rc, o, e = cli('pretrain', f'out={tmp_path/"r"}', f'data={digits/"train"}', *TINY, 'model=resnet_18')
    assert rc == 2 and "Unknown architecture 'resnet_18'" in e and e.count('\n') == 1
    assert not (tmp_path/'r').exists()

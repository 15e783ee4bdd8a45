"""Fine-tuning a pretrained backbone: the two learners train from a `pretrain` run and start from its exported weights,
`finetune` trains, resumes exactly after a real SIGKILL and exports a learner that fastai's `load_learner` predicts with,
`init=random` runs the same recipe from random weights, U-Nets on the architectures users pretrain, and the one-line
errors of bad input.

Runs are tiny (real digits at 16 px, timm's `test_resnet`), so the file takes about a minute on 2 CPUs.
"""
import csv, json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from fastai.vision.all import ImageDataLoaders, DataBlock, ImageBlock, MaskBlock, GrandparentSplitter, Resize, PILImageBW, load_learner
from self_supervised.data import mnist_arrays, mnist_split, image_files
from self_supervised.layers import create_encoder
from self_supervised.runs import RunFolder, load_checkpoint
from self_supervised.export import export_backbone
from self_supervised.settings import ConfigError
from self_supervised.train import pretrain
from self_supervised.finetune import finetune, pretrained_learner, pretrained_unet_learner
from self_supervised.cli import main
from _helpers import digit_folders, saved_epoch, kill_after_first_checkpoint

FAST = dict(epochs=2, flip=False, batch_size=32, num_workers=0, progress=False)

@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    "160 training and 80 held-out real MNIST digits (all classes) as PNGs in `train/` and `valid/` class folders"
    return digit_folders(tmp_path_factory.mktemp('digits'), 160, 80)

@pytest.fixture(scope='module')
def run(digits, tmp_path_factory):
    "A `pretrain` run on the training digits (labels unused): timm's `test_resnet` at 16 px, 1 epoch"
    out = tmp_path_factory.mktemp('runs')/'r1'
    pretrain(out, data=digits/'train', model='test_resnet', epochs=1, batch_size=32, size=16, num_workers=0, progress=False)
    return out

def _same(sd:dict, want:dict):
    assert list(sd) == list(want)
    for k, v in want.items(): assert torch.equal(sd[k].cpu(), v), k

def _one_line(f, match):
    with pytest.raises(ConfigError, match=match) as e: f()
    assert '\n' not in str(e.value), str(e.value)

def _mask(f): return (np.asarray(Image.open(f)) > 127).astype(np.uint8)

def _seg_dls(digits):
    block = DataBlock(blocks=(ImageBlock(PILImageBW), MaskBlock(codes=['background', 'digit'])), get_items=image_files,
                      splitter=GrandparentSplitter(), get_y=_mask, item_tfms=Resize(16))
    return block.dataloaders(digits, bs=16, num_workers=0)

# --- the learners ---

def test_classifier_starts_from_the_exported_weights_and_trains(digits, run):
    dls = ImageDataLoaders.from_folder(digits, img_cls=PILImageBW, item_tfms=Resize(16), bs=32, num_workers=0)
    learn = pretrained_learner(dls, run)
    _same(learn.model[0].body.state_dict(), load_checkpoint(RunFolder(run).backbone))   # before training: backbone.pth
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(1)
    assert len(learn.recorder.values) == 1 and np.isfinite(learn.recorder.values[-1][:2]).all()
    assert not torch.equal(learn.model[0].body.conv1[0].weight, load_checkpoint(RunFolder(run).backbone)['conv1.0.weight'])

class MyNet(torch.nn.Module):
    "A CNN of a user's own (gray images -> feature maps), defined at module level as a user's would be"
    def __init__(self):
        super().__init__()
        self.convs = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3, 2, 1), torch.nn.ReLU())
    def forward(self, x): return self.convs(x)

def test_classifier_on_a_model_of_yours(digits, tmp_path):
    out = tmp_path/'mine'
    pretrain(out, data=digits/'train', model=MyNet(), epochs=1, batch_size=32, size=16, num_workers=0, progress=False)
    dls = ImageDataLoaders.from_folder(digits, img_cls=PILImageBW, item_tfms=Resize(16), bs=32, num_workers=0)
    with pytest.raises(ConfigError, match=r"is a model of yours, which a name cannot rebuild: pass a new one, e.g. load_encoder\(path, model=MyNet\(\)\)"):
        pretrained_learner(dls, out)
    learn = pretrained_learner(dls, out, model=MyNet())
    _same(learn.model[0].body.state_dict(), load_checkpoint(RunFolder(out).backbone))
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(1)
    assert np.isfinite(learn.recorder.values[-1][:2]).all()
    fresh = MyNet()
    rand = pretrained_learner(dls, out, pretrained=False, model=fresh)   # the same network at random init: your instance as it is
    _same(rand.model[0].body.state_dict(), {k: v.detach() for k, v in fresh.state_dict().items()})

def test_unet_starts_from_the_exported_weights_and_trains(digits, run):
    learn = pretrained_unet_learner(_seg_dls(digits), run)
    _same(learn.model[0].state_dict(), load_checkpoint(RunFolder(run).backbone))
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(1)
    assert np.isfinite(learn.recorder.values[-1][:2]).all()

@pytest.mark.parametrize('arch', ['resnet50', 'torchvision/resnet50', 'timm/resnet18', 'torchvision/resnet18', 'xresnet18'])
def test_unet_on_the_architectures_users_pretrain(digits, tmp_path, arch):
    "A U-Net on each as an exported backbone: the encoder holds `backbone.pth`, a batch gives a map of scores per pixel"
    enc = create_encoder(arch, n_in=1, small_input=2, pool_type='avg')
    bb = export_backbone(enc, tmp_path/'exported_models', image_size=16, normalize=dict(mean=[0.5], std=[0.25]))
    dls = _seg_dls(digits)
    learn = pretrained_unet_learner(dls, bb)
    _same(learn.model[0].state_dict(), load_checkpoint(bb))
    xb, _ = dls.one_batch()
    with torch.no_grad(): assert learn.model.eval()(xb).shape == (16, 2, 16, 16)

def test_learner_errors_are_one_line(digits, run, tmp_path):
    rgb = ImageDataLoaders.from_folder(digits, item_tfms=Resize(16), bs=32, num_workers=0)   # fastai's default: RGB
    _one_line(lambda: pretrained_learner(rgb, run), r"The images of dls have 3 channels but the backbone of .* takes 1 \(n_in=1\): load them as gray images")
    _one_line(lambda: pretrained_unet_learner(rgb, run, n_out=2), r"have 3 channels but the backbone")
    vit = export_backbone(create_encoder('vit_tiny_patch16_224', n_in=1, img_size=16, patch_size=4), tmp_path/'vit', image_size=16)
    _one_line(lambda: pretrained_unet_learner(_seg_dls(digits), vit), "A U-Net needs a CNN")
    (tmp_path/'notes.txt').write_text('not weights')
    gray = ImageDataLoaders.from_folder(digits, img_cls=PILImageBW, item_tfms=Resize(16), bs=32, num_workers=0)
    _one_line(lambda: pretrained_learner(gray, tmp_path/'notes.txt'), "is not a weights file that torch can read")

# --- the command ---

def _args(data, checkpoint, out, *extra):
    return ['finetune', f'data={data}', f'checkpoint={checkpoint}', f'out={out}', *[f'{k}={v}' for k, v in FAST.items()], *extra]

def _metrics(out): return list(csv.DictReader(open(out/'metrics.csv')))

def test_finetune_resumes_exactly_after_sigkill_and_its_export_predicts(digits, run, tmp_path):
    "A run killed in its second epoch and run again ends with the weights, optimizer state and metrics of the run never killed"
    ref, out = tmp_path/'ref', tmp_path/'ft'
    assert main(_args(digits, run, ref)) == 0                      # uninterrupted
    ckpt = out/'checkpoints'/'last.pth'
    p = kill_after_first_checkpoint([sys.executable, '-m', 'self_supervised.cli', *_args(digits, run, out)], ckpt)   # in epoch 2 (the first after the head's)
    assert saved_epoch(ckpt) == 1 and (out/'.lock').exists() and not RunFolder(out).learner.exists()
    assert main(_args(digits, run, out)) == 0                      # the same command again
    log = (out/'train.log').read_text()
    assert 'Resuming at epoch 2/3' in log and f"Took over the lock of '{out}' left by process {p.pid}" in log
    a, b = load_checkpoint(ref/'checkpoints'/'last.pth'), load_checkpoint(ckpt)
    assert a['epoch'] == b['epoch'] == 3
    for n, w in a['model'].items(): torch.testing.assert_close(b['model'][n].float(), w.float(), rtol=0, atol=1e-4, msg=n)
    for sa, sb in zip(a['opt']['state'], b['opt']['state']):
        for k, v in sa.items():
            if isinstance(v, torch.Tensor): torch.testing.assert_close(sb[k].float(), v.float(), rtol=0, atol=1e-4, msg=k)
    ra, rb = _metrics(ref), _metrics(out)
    assert [r['epoch'] for r in rb] == ['1', '2', '3'] and list(rb[0])[:4] == ['epoch', 'train_loss', 'valid_loss', 'accuracy']
    for x, y in zip(ra, rb): assert abs(float(x['accuracy']) - float(y['accuracy'])) < 1e-4 and abs(float(x['train_loss']) - float(y['train_loss'])) < 1e-4
    inf = load_learner(RunFolder(out).learner)                     # fastai reads the export
    pred, idx, probs = inf.predict(image_files(digits/'valid')[0])
    assert pred in [str(i) for i in range(10)] and probs.shape == (10,) and abs(float(probs.sum()) - 1) < 1e-4
    _same(load_checkpoint(RunFolder(out).backbone), {k[len('0.body.'):]: v for k, v in b['model'].items() if k.startswith('0.body.')})

def test_finetune_init_random_runs_the_same_recipe(digits, run, tmp_path):
    pre, rand = tmp_path/'pre', tmp_path/'rand'
    assert main(_args(digits, run, pre)) == 0 and main(_args(digits, run, rand, 'init=random')) == 0
    cp, cr = (json.loads((o/'config.json').read_text()) for o in (pre, rand))
    assert {k for k in cp if cp[k] != cr[k]} == {'init'}                 # the same recipe, the init apart
    assert len(_metrics(rand)) == 3 and (rand/'exported_models'/'learner.pkl').exists()
    bb = load_checkpoint(RunFolder(run).backbone)['conv1.0.weight']
    first = lambda o: load_checkpoint(o/'checkpoints'/'last.pth')['model']['0.body.conv1.0.weight']
    assert (first(pre) - bb).abs().max() < (first(rand) - bb).abs().max()   # the pretrained run stayed near the backbone

@pytest.mark.parametrize('case, match', [
    ('flat', 'holds images outside class subfolders'),
    ('one class', 'finetune needs at least 2 classes'),
    ('text as checkpoint', 'is not a weights file that torch can read'),
    ('bare state_dict', 'does not record its architecture'),
    ('a run folder as data', 'No images in'),
])
def test_finetune_bad_input_is_one_line(digits, run, tmp_path, capsys, case, match):
    data, ck = digits, run
    if case == 'flat':
        data = tmp_path/'flat'; data.mkdir()
        for f in image_files(digits/'train')[:8]: (data/f.name).write_bytes(f.read_bytes())
    elif case == 'one class':
        data = tmp_path/'one'; (data/'7').mkdir(parents=True)
        for f in image_files(digits/'train'/'7'): (data/'7'/f.name).write_bytes(f.read_bytes())
    elif case == 'text as checkpoint': ck = tmp_path/'notes.txt'; ck.write_text('not weights')
    elif case == 'bare state_dict': ck = tmp_path/'bare.pth'; torch.save({'w': torch.zeros(2)}, ck)
    else: data = run
    assert main(_args(data, ck, tmp_path/'out')) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1, err
    assert match in err, err
    assert not (tmp_path/'out').exists()                              # refused before anything is written

"""An exported backbone is the trained network wherever it is loaded: for a resnet18 run on 28 px digits (the small-image
stem, catavgmax pooling) and a torchvision/resnet18 run on 64 px photos, the lines the README documents (timm, torchvision)
and `format=onnx` in onnxruntime give the features `self-supervised embed` gives, on the same images; bad input is one line."""
import contextlib, io, json, re, sys
from pathlib import Path
import numpy as np
import pytest, torch, torch.nn as nn
from PIL import Image
from sklearn.datasets import load_sample_images
from self_supervised.cli import main
from _helpers import digit_folders
from self_supervised.data import mnist_arrays, mnist_split
from self_supervised.layers import create_encoder
from self_supervised.runs import timm_model, torchvision_model
from self_supervised.settings import ConfigError

README = Path(__file__).resolve().parent.parent/'README.md'
TINY = ['epochs=1', 'batch_size=32', 'num_workers=0', 'progress=False']

def cli(*args):
    "Run `main(args)` in this process: `(exit status, stdout, stderr)`"
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e): rc = main([str(a) for a in args])
    return rc, o.getvalue(), e.getvalue()

@pytest.fixture(scope='module', autouse=True)
def on_cpu():
    "`embed` runs on the GPU when there is one (TF32 convolutions): the comparisons here are of float32 on the CPU"
    mp = pytest.MonkeyPatch()
    mp.setattr('self_supervised.evaluation.default_device', lambda *a: torch.device('cpu'))
    yield
    mp.undo()

@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    "64 real demo digits (28 px, gray), in class folders"
    return digit_folders(tmp_path_factory.mktemp('digits'), 64)

@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    "64 colour crops of 96 px from scikit-learn's two photos"
    d = tmp_path_factory.mktemp('photos')
    rng = np.random.default_rng(0)
    for i in range(64):
        im = load_sample_images().images[i % 2]
        r, c = rng.integers(0, im.shape[0] - 96), rng.integers(0, im.shape[1] - 96)
        Image.fromarray(im[r:r + 96, c:c + 96]).save(d/f'{i:02d}.png')
    return d

@pytest.fixture(scope='module')
def r18(digits, tmp_path_factory):
    "A resnet18 run at the digits' 28 px: the small-image preset (stem without max-pool), catavgmax pooling"
    out = tmp_path_factory.mktemp('runs')/'r18'
    rc, o, e = cli('pretrain', f'out={out}', f'data={digits}', 'model=resnet18', *TINY)
    assert rc == 0, o + e
    return out, o

@pytest.fixture(scope='module')
def tv18(photos, tmp_path_factory):
    "A torchvision/resnet18 run on the photos at 64 px, exported with format=torchvision too"
    out = tmp_path_factory.mktemp('runs')/'tv18'
    rc, o, e = cli('pretrain', f'out={out}', f'data={photos}', 'model=torchvision/resnet18', 'size=64', *TINY)
    assert rc == 0, o + e
    rc, o2, e = cli('export', f'checkpoint={out}', 'format=torchvision')
    assert rc == 0 and o2.startswith('Exported the torchvision/resnet18 encoder of') and 'backbone_torchvision.json' in o2, o2 + e
    return out, o

def embedded(run, data, tmp_path):
    "`self-supervised embed` of the images in `data`: `(features, their files)`"
    rc, o, e = cli('embed', f'data={data}', f'checkpoint={run}', f'out={tmp_path/"e.npy"}')
    assert rc == 0, e
    return torch.from_numpy(np.load(tmp_path/'e.npy')), (tmp_path/'e.files.txt').read_text().splitlines()

def readme_block(marker:str) -> str:
    "The README's Python block that holds `marker`"
    return next(b for b in re.findall(r'```python\n(.*?)```', README.read_text(), re.S) if marker in b)

def readme_lines(marker:str, run:Path, image:Path) -> dict:
    "Run the README's Python block that holds `marker`, with `run` for its run folder and `image` for its image: its variables (`model`, `c`, ...)"
    ns = {}
    exec(re.sub(r'runs/r\d+', str(run), readme_block(marker)).replace('my_images/cat.png', str(image)), ns)
    return ns

def readme_image():
    "The README's `image(file, c)`: an image file as the export's JSON says to feed it"
    fn = re.search(r'\ndef image\(.*?\n(?=\S)', readme_block('def image('), re.S)[0]
    ns = {}
    exec('import numpy as np, torch\nfrom PIL import Image, ImageOps\n' + fn, ns)
    return ns['image']

def documented_features(model, c, files) -> torch.Tensor:
    "The features of `model` on `files`, fed as the README's `image` does"
    image = readme_image()
    with torch.no_grad(): return model(torch.stack([image(f, c) for f in files]))

def test_start_line_says_channels_and_size(r18, tv18):
    "A new run's first lines on the console say the size and channels it chose, and why"
    for (_, o), notes in ((r18, ['size 28: the images\' own', '1 channel: every image looked at is gray']),
                          (tv18, ['3 channels: some images are in colour'])):
        lines = o.splitlines()
        start = next(i for i, l in enumerate(lines) if l.startswith('Training'))
        for n in notes: assert any(l.startswith(n) for l in lines[:start]), (n, o)

def test_timm_lines_give_embed_features(r18, digits, tmp_path):
    run, _ = r18
    c = json.loads((run/'exported_models'/'backbone.json').read_text())
    assert (c['timm'], c['stem'], c['num_features'], c['image_size']) == (
        dict(model_name='resnet18', num_classes=0, in_chans=1, global_pool='catavgmax'), dict(conv='conv1', stride=2, max_pool='maxpool'), 1024, 28)
    assert len(c['normalize']['mean']) == len(c['normalize']['std']) == 1   # the channels it has
    feats, files = embedded(run, digits, tmp_path)
    ns = readme_lines('timm.create_model(**c["timm"])', run, files[0])
    assert isinstance(ns['model'].maxpool, nn.Identity) and type(ns['model']).__module__.startswith('timm.')
    assert (documented_features(ns['model'], c, files) - feats).abs().max() < 1e-5
    assert (ns['features'] - feats[:1]).abs().max() < 1e-5   # the README's own line, on the first image
    assert (documented_features(timm_model(run), c, files) - feats).abs().max() < 1e-5

def test_torchvision_lines_give_embed_features(tv18, photos, tmp_path):
    import torchvision
    run, _ = tv18
    c = json.loads((run/'exported_models'/'backbone_torchvision.json').read_text())
    assert (c['format'], c['torchvision']['model'], c['torchvision']['classifier'], c['stem']) == (
        'torchvision', 'resnet18', ['fc'], dict(conv='conv1', stride=2, max_pool='maxpool'))
    sd = torch.load(run/'exported_models'/'backbone_torchvision.pth', weights_only=True)
    stock = torchvision.models.resnet18()   # torchvision's own model loads it with only its classifier missing
    assert stock.load_state_dict(sd, strict=False).missing_keys == ['fc.weight', 'fc.bias']
    feats, files = embedded(run, photos, tmp_path)
    ns = readme_lines('torchvision.models.get_model(t["model"])', run, files[0])
    assert type(ns['model']) is torchvision.models.ResNet
    assert (documented_features(ns['model'], c, files) - feats).abs().max() < 1e-5
    assert (documented_features(torchvision_model(run), c, files) - feats).abs().max() < 1e-5
    e2, f2 = embedded(run/'exported_models'/'backbone_torchvision.pth', photos, tmp_path)   # embed reads the torchvision file too
    assert f2 == files and (e2 - feats).abs().max() < 1e-5

@pytest.mark.parametrize('which', ['r18', 'tv18'])
def test_onnx_in_onnxruntime_gives_embed_features(which, request, digits, photos, tmp_path):
    import onnxruntime as ort
    run, _ = request.getfixturevalue(which)
    data = digits if which == 'r18' else photos
    rc, o, e = cli('export', f'checkpoint={run}', 'format=onnx', f'out={tmp_path/"onnx"}')
    assert rc == 0 and o.startswith('Exported the ') and "onnxruntime's features within" in o and e == '', o + e
    c = json.loads((tmp_path/'onnx'/'backbone_onnx.json').read_text())
    feats, files = embedded(run, data, tmp_path)
    sess = ort.InferenceSession(str(tmp_path/'onnx'/'backbone.onnx'), providers=['CPUExecutionProvider'])
    image = readme_image()
    x = torch.stack([image(f, c) for f in files])
    assert sess.get_inputs()[0].shape == ['batch', c['n_in'], c['image_size'], c['image_size']]
    for b in (x[:1], x):   # any batch size
        got = sess.run(None, {'images': b.numpy()})[0]
        assert np.abs(got - feats[:len(b)].numpy()).max() < 1e-4

def one_line_error(rc, e, *msgs):
    assert rc == 2 and e.count('\n') == 1 and e.startswith('error: ') and all(m in e for m in msgs), e

def test_bad_input_is_one_line(r18, tmp_path, monkeypatch):
    run, _ = r18
    one_line_error(*cli('export', f'checkpoint={run}', 'format=torchvision')[::2], "'resnet18' is not one: use format=timm")
    one_line_error(*cli('export', f'checkpoint={run}', 'format=tflite')[::2], "format must be one of 'timm', 'torchvision', 'onnx'")
    (tmp_path/'notes.txt').write_text('not a backbone')
    one_line_error(*cli('export', f'checkpoint={tmp_path/"notes.txt"}', 'format=onnx')[::2], 'is not a weights file that torch can read')
    one_line_error(*cli('embed', f'data={tmp_path}', f'checkpoint={tmp_path/"notes.txt"}')[::2], 'is not a weights file that torch can read')
    with pytest.raises(ConfigError, match='No exported backbone at'): timm_model(tmp_path/'notes.txt')
    with pytest.raises(ConfigError, match='No exported backbone at'): torchvision_model(run)   # it has no torchvision export
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)   # as if the onnx extra were not installed
    one_line_error(*cli('export', f'checkpoint={run}', 'format=onnx', f'out={tmp_path/"o"}')[::2], "pip install 'self-supervised[onnx]'")
    assert not (tmp_path/'o'/'backbone.onnx').exists()

class Gated(nn.Module):
    "A layer whose forward branches on the values of a tensor: torch.export cannot trace it"
    def __init__(self): super().__init__(); self.conv = nn.Conv2d(1, 8, 3)
    def forward(self, x):
        y = self.conv(x)
        return y if y.mean() > 0 else -y

def gated_net(): return nn.Sequential(Gated(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))

def test_untraceable_encoder_is_one_line(tmp_path):
    from self_supervised.export import export_backbone
    with pytest.raises(ConfigError) as e: export_backbone(create_encoder(gated_net, n_in=1), tmp_path, 'onnx', image_size=28)
    msg = str(e.value)
    assert '\n' not in msg and "cannot trace the 'gated_net' encoder" in msg and 'return y if y.mean() > 0 else -y' in msg and 'format=timm' in msg, msg
    assert list(tmp_path.iterdir()) == []

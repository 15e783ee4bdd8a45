"""README's Python blocks run as a user pastes them, in order, in one fresh process, on tiny real data: a fixed table
of substitutions replaces the placeholders (a folder of your images, 100 epochs, 224 px) and nothing else."""
import os, re, subprocess, sys
from pathlib import Path
import pytest, torch
from PIL import Image
from self_supervised.data import mnist_arrays, mnist_split
from _helpers import digit_folders

README = Path(__file__).resolve().parent.parent/'README.md'

# (README's text, what the test runs instead): placeholders only. `{digits}` is a folder of 64 real demo digits
# (28 px, gray: the small-image preset, which the blocks' timm and torchvision lines then rebuild), `{image}` one of them,
# `{labeled}` 64 + 32 others in train/ and valid/ class folders (gray: the fine-tuning block's img_cls=PILImageBW).
SUBS = [('"my_images/"', '"{digits}"'), ('"my_images/cat.png"', '"{image}"'), ('epochs=100', 'epochs=1'),
        ('fit_one_cycle(100,', 'fit_one_cycle(1,'), ('size, n_in = 224, 3', 'size, n_in = 28, 1'), ('bs=256', 'bs=32'),
        ('"labeled/"', '"{labeled}"'), ('item_tfms=Resize(224))', 'item_tfms=Resize(28), img_cls=PILImageBW, bs=16)'),
        ('import ImageDataLoaders, Resize', 'import ImageDataLoaders, Resize, PILImageBW'), ('fine_tune(10)', 'fine_tune(1)')]
GPU_ONLY = ('precision=', '.cuda()', "decode='gpu'", 'decode="gpu"')  # lines that need a GPU: left out without one

def python_blocks(text:str) -> list: return re.findall(r'```python\n(.*?)```', text, re.S)

def runnable(blocks:list, digits:Path, image:Path, gpu:bool, labeled:Path|None=None) -> str:
    "One script of `blocks`, each announced, with the substitutions made and GPU-only lines left out without a GPU"
    out = []
    for i, b in enumerate(blocks):
        for old, new in SUBS: b = b.replace(old, new.format(digits=digits, image=image, labeled=labeled))
        lines = [l for l in b.splitlines() if gpu or not any(g in l for g in GPU_ONLY)]
        out.append(f"print('--- README block {i + 1}', flush=True)\n" + '\n'.join(lines))
    return '\n'.join(out) + "\nprint('--- README blocks done')\n"

@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    d = tmp_path_factory.mktemp('my_images')
    X, y = mnist_arrays()
    for i in mnist_split()[0][:64]: Image.fromarray(X[i]).save(d/f'{y[i]}_{i:04d}.png')
    return d

def test_substitutions_match_the_readme():
    "Every placeholder of the table is in README's Python blocks: an edit of README that drops one fails here, not silently"
    code = '\n'.join(python_blocks(README.read_text()))
    missing = [old for old, _ in SUBS if old not in code]
    assert not missing, missing
    assert len(python_blocks(README.read_text())) >= 5

@pytest.fixture(scope='module')
def labeled(tmp_path_factory): return digit_folders(tmp_path_factory.mktemp('labeled'), 64, 32)

def test_readme_python_blocks_run(digits, labeled, tmp_path):
    blocks = python_blocks(README.read_text())
    script = tmp_path/'readme.py'
    script.write_text(runnable(blocks, digits, sorted(digits.iterdir())[0], torch.cuda.is_available(), labeled))
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0 and r.stdout.rstrip().endswith('--- README blocks done'), (r.stdout[-3000:] + r.stderr[-3000:])
    assert (tmp_path/'runs'/'r1'/'exported_models'/'backbone.onnx').exists() and (tmp_path/'runs'/'own'/'exported_models'/'backbone.json').exists()
    assert (tmp_path/'runs'/'r8'/'exported_models'/'backbone_torchvision.pth').exists()

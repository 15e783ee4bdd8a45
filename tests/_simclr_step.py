"""One SimCLR training step on 8 real MNIST digits; run as one process, or under torchrun (DistributedSimCLR).
Writes the reported loss and every parameter gradient (after DDP averaging) to `<out>/rank<r>.pt`."""
import sys, torch, torch.nn as nn
from pathlib import Path
from fastai.vision.all import Learner, DataLoaders, DataLoader, Callback, CancelFitException, SGD, Pipeline, noop
from self_supervised.data import mnist_arrays
from self_supervised.layers import create_encoder
from self_supervised.vision.simclr import create_simclr_model, SimCLR, DistributedSimCLR
import self_supervised.distributed as ssd

# deterministic, different views: no randomness, so every process makes the views the one-process run makes
def view1(x): return x.flip(-1)
def view2(x): return x.transpose(-1, -2) * 0.5 + 0.25

class SaveGrads(Callback):
    order = 90
    def after_backward(self):
        grads = {n.removeprefix('module.'): p.grad.detach().clone() for n, p in self.learn.model.named_parameters()}
        torch.save(dict(loss=self.learn.loss.detach().clone(), grads=grads), Path(self.out)/f'rank{ssd.rank()}.pt')
        raise CancelFitException()

def main(out, distributed):
    X, _ = mnist_arrays()
    x = torch.from_numpy(X[:8]).float().div(255)[:, None]
    ds = [(o,) for o in x]
    bs = 8 // ssd.world_size() if distributed else 8
    dls = DataLoaders(DataLoader(ds, bs=bs, shuffle=False), DataLoader(ds, bs=bs), device='cpu')
    torch.manual_seed(0)   # same initial weights in every process
    enc = create_encoder('resnet18', n_in=1, pool_type='avg', norm_layer=nn.Identity)   # no BatchNorm
    model = create_simclr_model(enc, hidden_size=64, projection_size=32, bn=False)
    cb = (DistributedSimCLR if distributed else SimCLR)([Pipeline([view1], split_idx=0), Pipeline([view2], split_idx=0)], temp=0.2)
    learn = Learner(dls, model, loss_func=noop, cbs=[cb], opt_func=SGD, lr=0.)
    cbs = SaveGrads(); cbs.out = out
    if distributed:
        with learn.distrib_ctx(sync_bn=False): learn.fit(1, cbs=cbs)
    else: learn.fit(1, cbs=cbs)

if __name__ == '__main__': main(sys.argv[1], sys.argv[2] == 'dist')

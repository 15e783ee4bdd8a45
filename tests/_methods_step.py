"""One training step of every method whose loss couples the samples of a batch (SimCLR's negatives, MoCo's queue, Barlow
Twins' and VICReg's batch statistics, DINO's center, SwAV's Sinkhorn codes and queue, DINOv2's Sinkhorn targets and
KoLeo, distillation's queue of teacher features), on 8 real MNIST digits through timm's small `test_resnet` without
BatchNorm; run as one process, or under torchrun with `gather=True`. Writes, per method, the reported loss, every
parameter gradient (after DDP averaging) and the model's buffers after the step to
`<out>/<method>_rank<r>.pt`. The one process also runs each method with `GradCache(2)` (`<method>_chunks2_rank0.pt`):
the batch through the model in 2 parts of 4 images, the parts the 2 processes hold; under torchrun, SimCLR and DINO
also run in 2 parts on each process (`<method>_chunks2_rank<r>.pt`: 4 parts of 2 images in all).

Everything runs in float64 (`torch.set_default_dtype`; the losses keep float64, `upcast`): one process and two add the
same numbers in different orders (a batch of 8 or two of 4 in each convolution, the gathered statistics, DDP's
all-reduce), and in float32 those rounding differences, magnified where a loss divides by a small spread (Barlow
Twins' standardization over 8 samples), reach 1e-4 of a gradient on some CPUs. In float64 they stay below 1e-9, so the
test can ask for agreement far below any difference in what is computed."""
import sys, torch, torch.nn as nn, torch.nn.functional as F, torch.distributed as dist
from pathlib import Path
from fastai.vision.all import Learner, DataLoaders, DataLoader, Callback, CancelFitException, SGD, Pipeline, noop
from self_supervised.data import mnist_arrays
from self_supervised.layers import create_encoder
from self_supervised.vision.simclr import create_simclr_model, SimCLR, DistributedSimCLR
from self_supervised.vision.moco import create_moco_model, MoCo
from self_supervised.vision.core import create_projector_model
from self_supervised.vision.barlow_twins import BarlowTwins
from self_supervised.vision.vicreg import VICReg
from self_supervised.vision.dino import create_dino_model, DINO
from self_supervised.vision.swav import create_swav_model, SwAV
from self_supervised.vision.distillation import create_distillation_model, Distillation
from self_supervised.vision.gradcache import GradCache
from self_supervised.vision.mae import create_mae_model, MAEModel, MAE, random_keep
from self_supervised.vision.dinov2 import create_dinov2_model, DINOv2Model, DINOv2, draw_masks
import self_supervised.distributed as ssd

# deterministic, different views: no randomness, so every process makes the views the one-process run makes
def view1(x): return x.flip(-1)
def view2(x): return x.transpose(-1, -2) * 0.5 + 0.25
def local1(x): return F.avg_pool2d(x, 2)                 # DINO's local views: 14 px
def local2(x): return x[..., 7:21, 7:21]
def local3(x): return F.interpolate(x[..., 4:24, 4:24], size=28, mode='bilinear')   # DINOv2's local views: 28 px, as its
def local4(x): return x.flip(-2)                                                    # position table (no resampling)
def big(x): return F.interpolate(x, size=40, mode='bilinear')   # distillation's one view: 2x2 feature maps for its local loss

def swav_model(enc):
    "SwAV with a full queue of 12 (random) embeddings per global view: 6 in each of 2 processes' Sinkhorn, the global batch's 8 queued after"
    m = create_swav_model(enc, n_prototypes=16, hidden_size=64, projection_size=16, queue_size=12, bn=False)
    with torch.no_grad(): m.queue.copy_(F.normalize(torch.randn_like(m.queue), dim=-1)); m.queue_count.fill_(12)
    return m

def pixel_generator(x): return torch.Generator().manual_seed(int(x.sum().item() * 1000))   # the same draws for the same image, in any process

class FixedMaskMAE(MAEModel):
    "MAE whose mask of each image comes from a generator seeded by the image's own pixels: every run hides the same patches of an image"
    def draw_keep(self, x, n):
        return torch.cat([random_keep(1, n, self.mask_ratio, generator=pixel_generator(o)) for o in x])

def mae_model(enc):
    "MAE on timm's small `test_vit` made for 28 px (patches of 4 px: 7 x 7 per digit, its position table used as it is), its masks fixed by the images"
    m = create_mae_model(create_encoder('test_vit', n_in=1, patch_size=4, img_size=28), decoder_dim=32, decoder_depth=1, decoder_heads=4)
    return FixedMaskMAE(m.encoder, m.decoder, m.mask_ratio)

class FixedMaskDINOv2(DINOv2Model):
    "DINOv2 whose mask of each global view comes from a generator seeded by the view's own pixels; every view is masked"
    def draw_masks(self, x, grid):
        return torch.cat([draw_masks(1, grid, self.mask_ratio_min, self.mask_ratio_max, 1., generator=pixel_generator(o)) for o in x])

def dinov2_model(enc):
    "DINOv2 on `test_vit` made for 28 px, narrow separate heads, masks fixed by the views (local views of 28 px too: a resampled position table magnifies rounding, see MAE in test_distributed)"
    m = create_dinov2_model(create_encoder('test_vit', n_in=1, patch_size=4, img_size=28, dynamic_img_size=True), out_dim=32, hidden_size=64, bottleneck_dim=16)
    return FixedMaskDINOv2(m.encoder, m.dino_head, m.ibot_head, m.mask_ratio_min, m.mask_ratio_max, m.mask_prob)

# models without BatchNorm: its statistics are per process under DDP (SyncBatchNorm needs CUDA)
METHODS = dict(
    simclr=(lambda enc: create_simclr_model(enc, hidden_size=64, projection_size=32, bn=False),
            lambda pipes, gather: (DistributedSimCLR if gather else SimCLR)(pipes, temp=0.2)),
    moco=(lambda enc: create_moco_model(enc, hidden_size=64, projection_size=32, queue_size=16),
          lambda pipes, gather: MoCo(pipes, temp=0.2, gather=gather)),
    moco_asym=(lambda enc: create_moco_model(enc, hidden_size=64, projection_size=32, queue_size=16, symmetric=False),   # one query and one key per image, one queue
               lambda pipes, gather: MoCo(pipes, temp=0.2, gather=gather)),
    barlow_twins=(lambda enc: create_projector_model(enc, 64, 32, bn=False),
                  lambda pipes, gather: BarlowTwins(pipes, lambd=5e-3, gather=gather)),
    vicreg=(lambda enc: create_projector_model(enc, 64, 32, bn=False),
            lambda pipes, gather: VICReg(pipes, gather=gather)),
    dino=(lambda enc: create_dino_model(enc, out_dim=32, hidden_size=64, bottleneck_dim=16),
          lambda pipes, gather: DINO(pipes + [Pipeline([local1], split_idx=0), Pipeline([local2], split_idx=0)], gather=gather)),
    swav=(swav_model,   # prototypes not frozen, queue in use from the first step
          lambda pipes, gather: SwAV(pipes + [Pipeline([local1], split_idx=0), Pipeline([local2], split_idx=0)],
                                     freeze_prototypes_niters=0, epoch_queue_starts=0, gather=gather)),
    dinov2=(dinov2_model,   # Sinkhorn-Knopp targets of the class and the hidden patch tokens, KoLeo, over the global batch
            lambda pipes, gather: DINOv2(pipes + [Pipeline([local3], split_idx=0), Pipeline([local4], split_idx=0)], gather=gather)),
    mae=(mae_model, lambda pipes, gather: MAE(pipes[:1], gather=gather)),   # its loss is a mean over images: equal without gathering too
    distillation=(lambda enc: create_distillation_model(enc, create_encoder('test_resnet', n_in=1, pool_type='avg', norm_layer=nn.Identity), queue_size=16),
                  lambda pipes, gather: Distillation([Pipeline([big], split_idx=0)], mixup=False, gather=gather)))

class SaveGrads(Callback):
    order = 90
    def __init__(self, path): self.path = path
    def after_backward(self):
        grads = {n.removeprefix('module.'): p.grad.detach().clone() for n, p in self.learn.model.named_parameters() if p.grad is not None}
        buffers = {n.removeprefix('module.'): b.detach().clone() for n, b in self.learn.model.named_buffers()}
        torch.save(dict(loss=self.learn.loss.detach().clone(), grads=grads, buffers=buffers), self.path)
        raise CancelFitException()

def step(method, out, distributed, gather=None, chunks=1):
    "One step of `method`, saved as `<out>/<method>_rank<r>.pt`; `gather=False` under torchrun: the broken case, saved as `<method>_nogather_...`; in `chunks` parts (`GradCache`): `<method>_chunks<n>_...`"
    torch.set_default_dtype(torch.float64)   # every model, queue and loss in float64
    X, _ = mnist_arrays()
    x = torch.from_numpy(X[:8]).double().div(255)[:, None]
    ds = [(o,) for o in x]
    bs = 8 // ssd.world_size() if distributed else 8
    dls = DataLoaders(DataLoader(ds, bs=bs, shuffle=False), DataLoader(ds, bs=bs), device='cpu')
    torch.manual_seed(0)   # same initial weights (and MoCo queue) in every process
    make_model, make_cb = METHODS[method]
    model = make_model(create_encoder('test_resnet', n_in=1, pool_type='avg', norm_layer=nn.Identity))   # no BatchNorm
    gather = distributed if gather is None else gather
    cb = make_cb([Pipeline([view1], split_idx=0), Pipeline([view2], split_idx=0)], gather)
    learn = Learner(dls, model, loss_func=noop, cbs=[cb] + ([GradCache(chunks)] if chunks > 1 else []), opt_func=SGD, lr=0.)
    tag = ('' if gather == distributed else '_nogather') + (f'_chunks{chunks}' if chunks > 1 else '')
    save = SaveGrads(Path(out)/f"{method}{tag}_rank{ssd.rank()}.pt")
    if distributed:
        with learn.distrib_ctx(sync_bn=False): learn.fit(1, cbs=save)
    else: learn.fit(1, cbs=save)

def main(out, distributed):
    if distributed: dist.init_process_group('gloo')   # one process group for every method's fit
    for method in METHODS: step(method, out, distributed)
    for method in (('simclr', 'dino') if distributed else METHODS): step(method, out, distributed, chunks=2)
    if distributed:   # what the test must tell apart: each process's loss and state from its own samples only
        for method in METHODS:
            if method != 'mae': step(method, out, distributed, gather=False)
    if distributed: dist.destroy_process_group()

if __name__ == '__main__': main(sys.argv[1], sys.argv[2] == 'dist')

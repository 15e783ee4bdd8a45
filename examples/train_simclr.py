"""SimCLR pretraining with fastai, in one process or many.

    python examples/train_simclr.py --size 28 --bs 128 --epochs 2 --lr 2e-3 --arch_name xresnet18
    torchrun --nproc_per_node 2 examples/train_simclr.py --size 28 --bs 64 --epochs 2   # N processes (gloo on CPU, nccl on GPUs)
    accelerate launch --num_processes 2 examples/train_simclr.py ...                      # the same, with accelerate

fastai 2.8 has no `fastai.launch`: `torchrun` replaces `python -m fastai.launch`. `DistributedSimCLR` equals `SimCLR`
in one process, so the script always uses it. `--bs` is per process.
"""
import sys
import torch
from fastcore.script import call_parse, bool_arg
from fastai.vision.all import *
from fastai.distributed import *
from self_supervised.data import mnist_demo_path, image_files
from self_supervised.layers import create_encoder
from self_supervised.augmentations import get_simclr_aug_pipelines
from self_supervised.vision.simclr import create_simclr_model, DistributedSimCLR
import self_supervised.distributed as ssd

# fastcore's `call_parse` spells options with hyphens (`--arch-name`); accept the underscores of the original launch
# line (`--arch_name`) as well
sys.argv = [a.split('=')[0].replace('_', '-') + a[len(a.split('=')[0]):] if a.startswith('--') else a for a in sys.argv]

@call_parse
def main(size:int=28, # image size
         bs:int=128, # batch size per process
         epochs:int=2, # number of epochs
         lr:float=2e-3, # learning rate
         arch_name:str='xresnet18', # timm or xresnet architecture
         data:str=None, # folder of images (default: the demo MNIST digits)
         n_in:int=1, # input channels
         temp:float=0.2, # InfoNCE temperature
         fp16:bool_arg=False, # mixed precision (CUDA)
         checkpoint:bool_arg=False, # gradient checkpointing
         workers:int=0): # DataLoader workers
    path = Path(data) if data else mnist_demo_path()/'train'
    files = image_files(path)
    img_cls = PILImageBW if n_in == 1 else PILImage
    dsets = Datasets(files, [img_cls.create], splits=RandomSplitter(0.1, seed=42)(files))
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    dls = dsets.dataloaders(bs=bs, after_item=[Resize(size), ToTensor()], after_batch=[IntToFloatTensor()],
                            num_workers=workers, drop_last=True, device=device)
    encoder = create_encoder(arch_name, n_in=n_in, small_input=2 if size <= 64 else False, checkpoint=checkpoint)  # stem stride 2, no max-pool
    model = create_simclr_model(encoder, hidden_size=2048, projection_size=128)
    augs = get_simclr_aug_pipelines(size=size, stats=None if n_in == 1 else imagenet_stats)
    learn = Learner(dls, model, loss_func=noop, cbs=[DistributedSimCLR(augs, temp=temp)], opt_func=Adam)  # the callback computes the loss
    if fp16: learn.to_fp16()
    with learn.distrib_ctx(sync_bn=False): learn.fit_one_cycle(epochs, lr)
    if ssd.rank() == 0:
        print(f"processes: {ssd.world_size()}  final train loss: {learn.recorder.values[-1][0]:.4f}")

"""Self-supervised pretraining of vision encoders (SimCLR, MoCo, BYOL, SimSiam, Barlow Twins, VICReg, DINO, SwAV, distillation from a frozen teacher) for fastai; `self_supervised.pretrain` is the one-call API."""
__version__ = "0.1.0"

import warnings as _warnings
# fastai's import decorates functions with `torch.jit.script`, which torch deprecates: a warning no user can act on (the
# command line, `make demo` and notebooks import fastai through this package, so this filter comes first)
_warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)
__all__ = ['pretrain']

def __getattr__(name):
    # `pretrain` lives in `self_supervised.train`; imported on first use so that `import self_supervised` stays light
    if name == 'pretrain':
        from .train import pretrain
        return pretrain
    raise AttributeError(f"module 'self_supervised' has no attribute {name!r}")

def __dir__(): return sorted(list(globals()) + __all__)

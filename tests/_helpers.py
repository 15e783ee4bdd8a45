"""What several test files share: folders of real digits, and a run killed with SIGKILL after its first checkpoint."""
import os, signal, subprocess, time
from PIL import Image
from self_supervised.data import mnist_arrays, mnist_split
from self_supervised.runs import load_checkpoint

def digit_folders(d, n_train:int, n_valid:int=0):
    "Real MNIST digits as PNGs in class folders: `d/<label>/` (`n_valid=0`), else `d/train/<label>/` and `d/valid/<label>/`"
    X, y = mnist_arrays()
    tr, va = mnist_split()
    sets = [('', tr[:n_train])] if not n_valid else [('train', tr[:n_train]), ('valid', va[:n_valid])]
    for split, idx in sets:
        for i in idx:
            (d/split/str(y[i])).mkdir(parents=True, exist_ok=True)
            Image.fromarray(X[i]).save(d/split/str(y[i])/f'{i:04d}.png')
    return d

def saved_epoch(ckpt):
    "The epoch of checkpoint `ckpt`, None while there is none (or it is being written)"
    try: return load_checkpoint(ckpt)['epoch']
    except Exception: return None

def kill_after_first_checkpoint(cmd:list, ckpt, timeout:float=240):
    "Run `cmd` with a second's pause before each checkpoint's rename and SIGKILL it once `ckpt` holds an epoch; the process"
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, 'SELF_SUPERVISED_PAUSE_BEFORE_RENAME': '1'})
    t0 = time.time()
    try:
        while saved_epoch(ckpt) is None:
            assert p.poll() is None, 'the run ended before its first checkpoint'
            assert time.time() - t0 < timeout, f'no checkpoint after {timeout}s'
            time.sleep(0.01)
        p.send_signal(signal.SIGKILL)
    finally: p.wait()
    return p

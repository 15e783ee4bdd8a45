"""GPU check of `decode='gpu'` (self_supervised.files): the library's batched decoding on CUDA against `load_image`, the
odd files (gray, CMYK, PNG -> CPU; corrupt, not an image -> unreadable; truncated -> decoded on the GPU), 0 and 2
workers, and a 2-epoch `pretrain(decode='gpu')` whose log names the fallbacks. On a CPU it runs the same checks with
device='cpu' and records that pretrain refuses decode='gpu'. About a minute; writes $OUT/gpu_decode_check.json.

    OUT=/tmp/out python bench/gpu_decode_check.py     # on the GPU machine, after installing .whl/ as bench/gpu_suite.sh does
"""
import atexit, contextlib, io, json, os, shutil, time, warnings, tempfile, traceback
from pathlib import Path
import numpy as np, torch, torchvision
from PIL import Image
t0 = time.time()
DEV = 'cuda' if torch.cuda.is_available() else 'cpu'
OUT = Path(os.environ.get('OUT', '/tmp/out')); OUT.mkdir(parents=True, exist_ok=True)
res = dict(torch=torch.__version__, torchvision=torchvision.__version__, cuda=torch.cuda.is_available(),
           gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
print(res, flush=True)
from self_supervised.data import sample_images, image_files
from self_supervised.files import load_image, ImageFiles, ImageDL, decode_jpegs, JpegBytes, GPUJpegDL
tmp = Path(tempfile.mkdtemp())
atexit.register(shutil.rmtree, tmp, ignore_errors=True)
jp, od = tmp/'jpegs', tmp/'odd'; jp.mkdir(); od.mkdir()
ph = sample_images(); g = np.random.default_rng(0)
for k in range(64):
    w, h = (int(v) for v in g.integers(300, 801, 2))
    Image.fromarray(ph[k % 2]).resize((w, h), Image.LANCZOS).save(jp/f'{k:03d}.jpg', quality=90)
jfiles = image_files(jp)
im = Image.fromarray(ph[0]).resize((200, 150), Image.LANCZOS)
b = io.BytesIO(); im.save(b, 'JPEG', quality=90); good = b.getvalue()
odd = {k: od/f for k, f in dict(gray='gray.jpg', cmyk='cmyk.jpg', png='photo.png', truncated='truncated.jpg', corrupt='corrupt.jpg', note='note.jpg').items()}
im.convert('L').save(odd['gray'], quality=90); im.convert('CMYK').save(odd['cmyk'], quality=90); im.save(odd['png'])
odd['truncated'].write_bytes(good[:len(good) * 2 // 5]); odd['corrupt'].write_bytes(good[:4] + np.random.default_rng(0).bytes(5000)); odd['note'].write_text('not an image')
print(f'data {time.time() - t0:.1f}s', flush=True)
def step(name, f):
    t = time.time()
    try: res[name] = f(); print(name, res[name], f'{time.time() - t:.1f}s', flush=True)
    except Exception: res[name] = 'FAILED: ' + traceback.format_exc()[-1500:]; print(name, res[name], flush=True)
    (OUT/'gpu_decode_check.json').write_text(json.dumps(res, indent=1, default=str))
def decode():
    datas = [torch.frombuffer(bytearray(f.read_bytes()), dtype=torch.uint8) for f in jfiles]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); x, failed = decode_jpegs(datas, 224, device=DEV)
    ref = torch.stack([load_image(f, 224) for f in jfiles])
    return dict(shape=list(x.shape), device=str(x.device), dtype=str(x.dtype), failed=failed, warnings=[str(o.message)[:100] for o in w],
                mean_abs_vs_load_image=round((x.cpu().float() - ref.float()).abs().mean().item(), 3))
step('decode_jpegs', decode)
def mixed():
    mixed = jfiles[:2] + [odd['gray'], odd['truncated'], odd['png'], odd['note'], jfiles[2], odd['cmyk'], odd['corrupt'], jfiles[3]]
    out = {}
    for nw in (0, 2):
        gdl = GPUJpegDL(JpegBytes(mixed, 64), bs=10, num_workers=nw, device=torch.device(DEV), pin_memory=DEV == 'cuda')
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always'); x, bad = next(iter(gdl))
        ref, rbad = ImageDL(ImageFiles(mixed, 64), bs=10).one_batch()
        keep = [k for k in range(len(mixed)) if k not in bad.tolist()]
        r = dict(shape=list(x.shape), device=str(x.device), dtype=str(x.dtype), bad=sorted(mixed[i].name for i in bad.tolist()),
                 counts=dict(gdl.counts), fallbacks=dict(gdl.fallbacks), warnings=[str(o.message)[:160] for o in w])
        refk = torch.stack([load_image(mixed[k], 64) for k in keep if k != 3]).float() / 255  # all but the truncated one
        xk = x[[j for j, k in enumerate(keep) if k != 3]].cpu()
        r['mean_abs_levels_vs_load_image'] = round(((xk - refk).abs().mean() * 255).item(), 3)
        r['odd_exact'] = bool(torch.equal(x[[2, 4, 6]].cpu(), torch.stack([load_image(mixed[k], 64) for k in (2, 4, 7)]).float() / 255)) if len(keep) == 8 else None
        out[f'workers_{nw}'] = r
    return out
step('gpujpegdl_mixed', mixed)
def run_pretrain():
    from self_supervised.train import pretrain, ConfigError
    if DEV == 'cpu':
        try: pretrain(tmp/'run', [str(f) for f in jfiles], decode='gpu')
        except ConfigError as e: return f'refused on a CPU: {e}'
    out = tmp/'run'
    data = [str(f) for f in jfiles] + [str(odd[k]) for k in ('gray', 'png', 'cmyk', 'note')]
    with contextlib.redirect_stdout(io.StringIO()):
        pretrain(out, data, model='resnet18', epochs=2, batch_size=32, size=64, num_workers=2, decode='gpu', progress=False)
    log = (out/'train.log').read_text()
    return dict(info=json.loads((out/'config.json').read_text())['info'], metrics=(out/'metrics.csv').read_text().splitlines(),
                log_fallback_lines=[l[24:200] for l in log.splitlines() if 'instead of the GPU' in l or 'Skipped' in l])
step('pretrain_decode_gpu', run_pretrain)
res['wall_s'] = round(time.time() - t0, 1)
(OUT/'gpu_decode_check.json').write_text(json.dumps(res, indent=1, default=str))
print('done', res['wall_s'])

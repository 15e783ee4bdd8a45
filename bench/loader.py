"""Decoding benchmark: images/s that `image_dls` delivers to the training loop from a folder of real JPEGs at photo sizes.

    python bench/loader.py [--n 512] [--size 224] [--bs 64] [--batches 6] [--workers 0,1,2] [--gpu-workers 0,1,2,4,8]
                           [--repeats 2] [--photos all|sklearn] [--grain 0] [--out bench/results/loader_<cpu|gpu>.json]

Files: `--n` JPEGs (quality 90, 4:2:0) made once from the color photos that ship offline (scikit-learn's two, plus
scikit-image's astronaut, chelsea, coffee, rocket, hubble_deep_field, immunohistochemistry where scikit-image is
installed): random crops of varied aspect ratio, rescaled to 500-1000 px sides, cached in `bench/data/` (git-ignored by
a `.gitignore` the bench writes there). The sources are at most 1000 px, so most files are upscaled crops: smoother
than camera photos, hence fewer bits per pixel (reported) and a little less entropy decoding per pixel; `--grain 4`
adds sensor-like noise before encoding for camera-like bits per pixel.

Rows (each the train DataLoader of `image_dls` or its analogue: shuffled, `bs`, `drop_last`; time from after the
warm-up batches, max(1, workers) of them, to the last of `--batches` batches, which includes the copy to the device
and `after_batch`'s float conversion, a CUDA sync at the end; the best of `--repeats`, as other processes may share the CPUs):
  - PIL + draft: `self_supervised.files.image_dls` as it is (`load_image`: JPEG DCT scaling to >= size, bicubic fit)
  - decode_jpeg (cpu): the same `ImageDL` over `TVImageFiles`: `torchvision.io.decode_jpeg` at full size in the
    workers, then the same geometry as `load_image` (center square crop, antialiased bicubic resize, `fit_tensor`)
  - decode_jpeg (cuda), only where a GPU is: `image_dls(..., decode='gpu')`, the library's `GPUJpegDL` over `JpegBytes`
    (`self_supervised.files`); workers only read the bytes (and decode on the CPU, with `load_image`, the files the GPU
    cannot take: not JPEG, gray/CMYK/12-bit/arithmetic JPEG, no frame header); the main process decodes each batch with
    one batched `decode_jpeg(list, device='cuda')` and fits every image on the GPU (`decode_jpegs`). `--batched-cpu`
    also times that path with device='cpu'.
Also: images/s of ONE process (one thread) reading bytes / PIL+draft / decode_jpeg+fit / decode_jpeg alone, no
DataLoader (divide a GPU's rate by it to size the workers); the mean abs difference (uint8 levels) of every decoder's
224 px images against `load_image`'s; and where odd files (gray, CMYK, progressive, PNG, corrupt, truncated, not an
image) go in the batched path, run on the CPU and, where there is one, on the GPU.

Writes bench/results/loader_<cpu|gpu>.json (versions, machine, rows, checks) and prints the table and the command.
Needs fastai, torchvision and scikit-learn (scikit-image optional); not mlxtend.
"""
from __future__ import annotations
import argparse, hashlib, io, json, os, platform, sys, time, warnings
from pathlib import Path
import numpy as np, torch, torchvision
from PIL import Image, ImageOps
from torchvision.io import decode_jpeg, read_file, ImageReadMode
from host import cpu_model, usable_cores
from self_supervised.files import load_image, ImageFiles, ImageDL, image_dls
from self_supervised.files import fit_tensor, device_decodable, decode_jpegs, JpegBytes, GPUJpegDL  # the library's batched (GPU) decoding

# torchvision 0.29 deprecates its image decoders in favour of TorchCodec (a warning on every call); 0.26 does not.
# The library silences it where it calls them; this covers the bench's own per-file calls
warnings.filterwarnings('ignore', message='.*image decoding and encoding capabilities of TorchVision are deprecated.*')

HERE = Path(__file__).parent
DATA, RESULTS = HERE/'data', HERE/'results'
SKIMAGE_PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'hubble_deep_field', 'immunohistochemistry')

# ---------------------------------------------------------------------------------------------------------------- data
def source_photos(which='all'):
    "[(name, uint8 (H,W,3))]: scikit-learn's two photos, and (`which='all'`) scikit-image's color photos where installed"
    from sklearn.datasets import load_sample_images
    s = load_sample_images()
    out = [(f'sklearn.{Path(f).stem}', a) for f, a in zip(s.filenames, s.images)]
    if which == 'all':
        try: import skimage.data as skd
        except ImportError: skd = None
        for name in SKIMAGE_PHOTOS if skd is not None else ():
            try: a = np.asarray(getattr(skd, name)())
            except Exception: continue  # not in this version, or would need a download
            if a.ndim == 3 and a.shape[2] >= 3: out.append((f'skimage.{name}', np.ascontiguousarray(a[..., :3]).astype(np.uint8)))
    return out

def _ignored_data_dir():
    DATA.mkdir(parents=True, exist_ok=True)
    gi = DATA/'.gitignore'
    if not gi.exists(): gi.write_text('# made by bench/loader.py: generated images, never committed\n*\n')
    return DATA

def make_jpegs(n=512, which='all', seed=0, grain=0.):
    "A folder of `n` JPEGs (quality 90), random crops of `source_photos(which)` rescaled to 500-1000 px sides (plus gaussian `grain`, in uint8 levels); made once"
    photos = source_photos(which)
    names = [p for p, _ in photos]
    tag = hashlib.sha1(' '.join(names + [str(seed), 'v1']).encode()).hexdigest()[:6]
    d = _ignored_data_dir()/(f'jpegs_{n}_{len(names)}photos_{tag}' + (f'_grain{grain:g}' if grain else ''))
    manifest = d/'manifest.json'
    if manifest.exists(): return sorted(d.glob('*.jpg')), json.loads(manifest.read_text())
    tmp = d.with_name(d.name + f'.tmp{os.getpid()}'); tmp.mkdir(parents=True)
    g = np.random.default_rng(seed)
    for i in range(n):
        name, a = photos[i % len(photos)]
        W, H = (int(v) for v in g.integers(500, 1001, 2))
        h, w = a.shape[:2]
        cw, ch = (h * W / H, h) if w / h > W / H else (w, w * H / W)  # largest box of aspect W/H ...
        s = g.uniform(0.6, 1.0); cw, ch = cw * s, ch * s                # ... scaled down at random
        x0, y0 = g.uniform(0, w - cw), g.uniform(0, h - ch)
        im = Image.fromarray(a).resize((W, H), Image.LANCZOS, box=(x0, y0, x0 + cw, y0 + ch))
        if g.random() < 0.5: im = im.transpose(Image.FLIP_LEFT_RIGHT)
        if grain: im = Image.fromarray((np.asarray(im, np.float32) + g.normal(0, grain, (H, W, 3))).round().clip(0, 255).astype(np.uint8))
        im.save(tmp/f'{i:05d}.jpg', quality=90)
    files = sorted(tmp.glob('*.jpg'))
    sizes = [Image.open(f).size for f in files]
    info = dict(photos=names, n=n, seed=seed, quality=90, grain=grain, mean_bytes=float(np.mean([f.stat().st_size for f in files])),
                mean_megapixels=float(np.mean([w * h for w, h in sizes]) / 1e6),
                bits_per_pixel=float(sum(f.stat().st_size for f in files) * 8 / sum(w * h for w, h in sizes)))
    (tmp/'manifest.json').write_text(json.dumps(info, indent=1))
    try: tmp.rename(d)
    except OSError: pass  # made meanwhile by another run
    return sorted(d.glob('*.jpg')), json.loads(manifest.read_text())

def make_odd_files(photo):
    "Files the batched GPU path must route: {kind: path}, in bench/data/odd/"
    d = _ignored_data_dir()/'odd'; d.mkdir(exist_ok=True)
    im = Image.fromarray(photo).resize((720, 540), Image.LANCZOS)
    out = {}
    def save(kind, fn, f):
        out[kind] = d/fn
        if not out[kind].exists(): f(out[kind])
    save('rgb', 'rgb.jpg', lambda p: im.save(p, quality=90))
    save('progressive', 'progressive.jpg', lambda p: im.save(p, quality=90, progressive=True))
    save('gray', 'gray.jpg', lambda p: im.convert('L').save(p, quality=90))
    save('cmyk', 'cmyk.jpg', lambda p: im.convert('CMYK').save(p, quality=90))
    save('png', 'photo.png', lambda p: im.save(p))
    b = io.BytesIO(); im.save(b, 'JPEG', quality=90); good = b.getvalue()
    save('truncated', 'truncated.jpg', lambda p: p.write_bytes(good[:len(good) * 2 // 5]))
    save('corrupt', 'corrupt.jpg', lambda p: p.write_bytes(good[:4] + np.random.default_rng(0).bytes(50_000)))
    save('not_image', 'not_image.jpg', lambda p: p.write_text('not an image\n'))
    return out

# ------------------------------------------------------------------------------------- torchvision decoding, same geometry
def tv_load(fn, size, n_in=3):
    "`load_image` with torchvision: `decode_jpeg` (full size, CPU) then the library's `fit_tensor` (`load_image`'s geometry)"
    return fit_tensor(decode_jpeg(read_file(str(fn)), mode=ImageReadMode.GRAY if n_in == 1 else ImageReadMode.RGB), size)

class TVImageFiles(ImageFiles):
    "`ImageFiles` decoded with `tv_load`; what `decode_jpeg` cannot take (PNG ...) with `load_image`; `(None, i)` if neither can"
    def __getitem__(self, i):
        for f in (tv_load, load_image):
            try: return f(self.files[i], self.size, self.n_in), i
            except Exception: pass
        return None, i

def train_dl(ds, bs, workers, device, cls=ImageDL):
    "The train loader `image_dls` makes, over another dataset / loader class (for `TVImageFiles`)"
    dev = torch.device(device)
    return cls(ds, shuffle=True, drop_last=True, bs=bs, num_workers=workers, pin_memory=dev.type == 'cuda', device=dev)

# ------------------------------------------------------------------------------------------------------------- timing
def time_loader(dl, batches, warm, sync):
    "Seconds for `batches` batches of `dl` after `warm` warm-up batches (workers started, prefetch queues filled once)"
    it = iter(dl)
    try:
        for _ in range(warm): next(it)
        sync(); t = time.perf_counter()
        for _ in range(batches): b = next(it); assert b[0].dtype == torch.float32
        sync(); return time.perf_counter() - t
    finally: it.close()

def one_process_rates(files, size, n_in=3, repeats=1):
    "images/s of this one process, one thread, no DataLoader: read bytes, PIL+draft, decode_jpeg+fit, decode_jpeg alone"
    nt = torch.get_num_threads(); torch.set_num_threads(1)
    mode = ImageReadMode.GRAY if n_in == 1 else ImageReadMode.RGB
    fs = {'read bytes': lambda f: Path(f).read_bytes(),
          'PIL+draft (load_image)': lambda f: load_image(f, size, n_in),
          'decode_jpeg+fit (cpu)': lambda f: tv_load(f, size, n_in),
          'decode_jpeg alone (cpu)': lambda f: decode_jpeg(read_file(str(f)), mode=mode)}
    try:
        out = {}
        for k, f in fs.items():
            f(files[0]); dts = []
            for _ in range(repeats):
                t = time.perf_counter()
                for fn in files: f(fn)
                dts.append(time.perf_counter() - t)
            out[k] = len(files) / min(dts)
        return out
    finally: torch.set_num_threads(nt)

# ------------------------------------------------------------------------------------------------------------- checks
def compare(files, size, n_in, devices):
    "Mean (and max) abs difference, uint8 levels, of each decoder's images of `files` against `load_image`'s (one row: against PIL without draft)"
    ref = torch.stack([load_image(f, size, n_in) for f in files]).float()
    res = {}
    def diff(name, x):
        assert x.shape == ref.shape, (name, x.shape, ref.shape)
        d = (x.float().cpu() - ref).abs()
        res[name] = dict(mean_abs=round(d.mean().item(), 3), max_abs=int(d.max()), share_over_16=round((d > 16).float().mean().item(), 5))
    def no_draft(f):
        with Image.open(f) as im: im = ImageOps.fit(im.convert('L' if n_in == 1 else 'RGB'), (size, size), Image.BICUBIC)
        x = torch.from_numpy(np.array(im, dtype=np.uint8))
        return x[None] if n_in == 1 else x.permute(2, 0, 1)
    nd = torch.stack([no_draft(f) for f in files])
    diff('PIL without draft', nd)  # how much of the difference is `draft` (DCT-domain downscaling) itself
    diff('decode_jpeg+fit (cpu, per file)', torch.stack([tv_load(f, size, n_in) for f in files]))
    d = (torch.stack([tv_load(f, size, n_in) for f in files]).float() - nd.float()).abs()
    res['decode_jpeg+fit vs PIL without draft'] = dict(mean_abs=round(d.mean().item(), 3), max_abs=int(d.max()), share_over_16=round((d > 16).float().mean().item(), 5))
    for dev in devices:
        x, failed = decode_jpegs([torch.frombuffer(bytearray(Path(f).read_bytes()), dtype=torch.uint8) for f in files], size, n_in, dev)
        assert not failed and x.device.type == torch.device(dev).type
        diff(f'decode_jpegs (batched, {dev})', x)
    return res

def odd_files_check(odd, size, n_in, device):
    "Run the `GPUJpegDL` path on each odd file (with one good JPEG beside it): where it went, and the images' difference to `load_image`"
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for kind, fn in odd.items():
            dl = GPUJpegDL(JpegBytes([odd['rgb'], fn], size, n_in), bs=2, device=torch.device(device))
            x, bad = next(iter(dl))
            why = device_decodable(Path(fn).read_bytes(), n_in)
            if 1 in bad.tolist(): route = f'unreadable ({why or "the device and load_image failed"})'
            elif dl.fallbacks.get('the GPU failed to decode it'): route = 'cpu: the GPU failed to decode it'
            else: route = f'cpu: {why}' if why else 'device'
            try: ref = load_image(fn, size, n_in)
            except Exception as e: ref = None; pil = f'load_image fails ({type(e).__name__})'
            else: pil = 'load_image reads it'
            r = dict(route=route, images=len(x), unreadable=bad.tolist(), pil=pil)
            if ref is not None and len(x) == 2:
                r['mean_abs_vs_load_image'] = round((x[-1].cpu() * 255 - ref.float()).abs().mean().item(), 3)
            out[kind] = r
    return out

# --------------------------------------------------------------------------------------------------------------- main
def machine():
    m = dict(platform=platform.platform(), python=platform.python_version(), cpu_count=os.cpu_count(),
             cpus_usable=len(usable_cores()), cpu=cpu_model(),
             load_average_at_end=os.getloadavg() if hasattr(os, 'getloadavg') else None)  # other processes share the CPUs
    if torch.cuda.is_available(): m['gpu'] = torch.cuda.get_device_name(0)
    return m

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=512); p.add_argument('--size', type=int, default=224)
    p.add_argument('--bs', type=int, default=64); p.add_argument('--batches', type=int, default=6)
    p.add_argument('--workers', default='0,1,2'); p.add_argument('--gpu-workers', default='0,1,2,4,8')
    p.add_argument('--photos', default='all', choices=['all', 'sklearn'])
    p.add_argument('--grain', type=float, default=0., help='gaussian noise (uint8 levels) added before encoding: more bits/pixel, as camera photos have')
    p.add_argument('--single', type=int, default=96, help='files for the one-process rates')
    p.add_argument('--repeats', type=int, default=2, help='time each row this many times (a fresh iterator each), keep the best')
    p.add_argument('--batched-cpu', action='store_true', help="also time the batched path with device='cpu'")
    p.add_argument('--out', default=None)
    a = p.parse_args()
    cmd = 'python ' + ' '.join(sys.argv)
    print('command:', cmd)
    cuda = torch.cuda.is_available()
    dev = 'cuda' if cuda else 'cpu'
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    n_in = 3
    t0 = time.perf_counter()
    files, info = make_jpegs(a.n, a.photos, grain=a.grain)
    print(f"{len(files)} JPEGs from {len(info['photos'])} photos ({', '.join(info['photos'])}): {info['mean_megapixels']:.2f} MP, "
          f"{info['mean_bytes'] / 1e3:.0f} kB, {info['bits_per_pixel']:.2f} bits/pixel on average  ({time.perf_counter() - t0:.1f}s)")
    workers = [int(w) for w in a.workers.split(',') if w != '']
    gpu_workers = [int(w) for w in a.gpu_workers.split(',') if w != '']

    def need(w): return a.bs * (max(1, w) + a.batches)
    def cycled(k): return [files[j % len(files)] for j in range(max(k, len(files)))]  # repeat files when an epoch is too short

    rows = []
    def row(decoder, where, w, dl):
        dts = [time_loader(dl, a.batches, max(1, w), sync) for _ in range(a.repeats)]; dt = min(dts)
        r = dict(decoder=decoder, decode_on=where, workers=w, images_per_s=round(a.bs * a.batches / dt, 1), ms_per_batch=round(1e3 * dt / a.batches, 1),
                 images_per_s_each_repeat=[round(a.bs * a.batches / t, 1) for t in dts])
        rows.append(r); print(f"  {decoder:<24} {where:<5} workers={w}: {r['images_per_s']:8.1f} img/s  {r['ms_per_batch']:8.1f} ms/batch", flush=True)
        return dl

    print(f'timing on {dev}: bs {a.bs}, {a.batches} batches after max(1, workers) warm-up batches, {a.size} px, best of {a.repeats}')
    for w in workers:
        row('PIL+draft (load_image)', 'cpu', w, image_dls(cycled(need(w)), size=a.size, n_in=n_in, bs=a.bs, num_workers=w, device=dev).train)
        row('decode_jpeg', 'cpu', w, train_dl(TVImageFiles(cycled(need(w)), a.size, n_in), a.bs, w, dev))
    batched = []
    if cuda: batched.append('cuda')
    if a.batched_cpu: batched.append('cpu')
    for bdev in batched:
        for w in gpu_workers:
            dl = row('decode_jpegs (batched)', bdev, w, image_dls(cycled(need(w)), size=a.size, n_in=n_in, bs=a.bs, num_workers=w, device=bdev, decode='gpu').train)
            rows[-1]['routes'] = dict(dl.counts, **{f'cpu: {k}': v for k, v in dl.fallbacks.items()})

    print('one process, one thread, no DataLoader:')
    single = one_process_rates(files[:a.single], a.size, n_in, a.repeats)
    for k, v in single.items(): print(f'  {k:<26} {v:8.1f} img/s')

    print(f'difference to load_image, first 64 files ({a.size} px, uint8 levels):')
    diffs = compare(files[:64], a.size, n_in, ['cpu'] + (['cuda'] if cuda else []))
    for k, v in diffs.items(): print(f'  {k:<38} mean {v["mean_abs"]:.3f}  max {v["max_abs"]}  share >16: {v["share_over_16"]:.5f}')

    odd = make_odd_files(source_photos('sklearn')[0][1])
    odd_res = {d: odd_files_check(odd, a.size, n_in, d) for d in ['cpu'] + (['cuda'] if cuda else [])}
    for d, res in odd_res.items():
        print(f'odd files, batched path on {d}:')
        for kind, r in res.items(): print(f'  {kind:<12} -> {r["route"]:<48} {r["pil"]}' + (f', mean abs vs it {r["mean_abs_vs_load_image"]}' if 'mean_abs_vs_load_image' in r else ''))

    res = dict(command=cmd, device=dev, versions=dict(torch=torch.__version__, torchvision=torchvision.__version__, pillow=Image.__version__),
               machine=machine(), args=vars(a), data=info, rows=rows, one_process=single, diff_vs_load_image=diffs, odd_files=odd_res,
               wall_s=round(time.perf_counter() - t0, 1))
    out = Path(a.out) if a.out else RESULTS/f'loader_{"gpu" if cuda else "cpu"}.json'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print('\n| decoder | decoded on | workers | images/s | ms/batch |\n|---|---|---|---|---|')
    for r in rows: print(f"| {r['decoder']} | {r['decode_on']} | {r['workers']} | {r['images_per_s']:.0f} | {r['ms_per_batch']:.0f} |")
    print(f"\n{res['machine'].get('gpu', res['machine'].get('cpu', ''))}, {res['machine']['cpus_usable']} CPUs, torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}; wrote {out} ({res['wall_s']}s)\ncommand: {cmd}")

if __name__ == '__main__': main()

#!/usr/bin/env python
"""Execute notebooks in place, top to bottom, and keep their outputs: they are the documentation a reader sees on
GitHub, in Jupyter and on the site (`make docs`). Every cell that ran is stamped with a hash of its source (`src_hash`
in the cell's metadata, kept by nbdev-clean), so that `tools/check_outputs.py` finds outputs that are missing or stale.
Cells flagged `#| slow` or `#| notest` are not run here (`make test-all` runs them) and keep no outputs.
Each notebook's seconds go to `nbs/durations.json`, from which `tools/test_nbs.py` (`make test`) starts the longest first.

usage: python tools/run_nbs.py [-n WORKERS] [NOTEBOOK ...]     (default: every notebook in nbs/); then `nbdev-clean`
"""
import argparse, hashlib, json, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SKIP_FLAGS = ['notest', 'slow']
# figures at 60 dpi as plain PNG (not retina): pictures a reader can see, a few tens of kB each
# and no torch.jit deprecation warning from fastai's import (the CLI filters it too): noise a reader can do nothing about
SETUP = ("import matplotlib as _mpl; _mpl.rcParams['figure.dpi'] = 60\n%config InlineBackend.figure_formats = ['png']\n"
         "import warnings as _w; _w.filterwarnings('ignore', message=r'`torch\\.jit\\.script` is deprecated', category=FutureWarning)")
MAX_STREAM = 4000  # characters of a long log kept: its start and its end
DURATIONS = Path(__file__).resolve().parent.parent/'nbs'/'durations.json'   # each notebook's seconds in its last run here
MAX_PNG = 80_000  # bytes of base64: a larger PNG (a photo) is stored as a JPEG when that is smaller

def durations() -> dict:
    "`{notebook name: seconds}` of each notebook's last run here (`nbs/durations.json`; a fresh-clone test run seeded it)"
    return json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}

def _small_picture(data:dict) -> dict:
    "`data` of a display output with a large PNG replaced by a JPEG (quality 80) when that is smaller"
    png = data.get('image/png')
    if not png or len(png) <= MAX_PNG: return data
    import base64, io
    from PIL import Image
    buf = io.BytesIO()
    Image.open(io.BytesIO(base64.b64decode(png))).convert('RGB').save(buf, 'JPEG', quality=80)
    jpg = base64.b64encode(buf.getvalue()).decode()
    if len(jpg) >= len(png): return data
    return {('image/jpeg' if k == 'image/png' else k): (jpg if k == 'image/png' else v) for k, v in data.items()}

def src_hash(source) -> str:
    "The hash a cell's outputs are stamped with: of its source as stored in the notebook"
    return hashlib.sha1(''.join(source).encode()).hexdigest()[:16]

def _trim(text:str) -> str:
    if len(text) <= MAX_STREAM: return text
    h = MAX_STREAM // 2
    return text[:h] + f"\n[... {len(text) - MAX_STREAM} characters of log left out ...]\n" + text[-h:]

def notebook_to_run(fn) -> tuple:
    "`(nb, skip)`: notebook `fn` as nbdev-test reads it, and the predicate for the cells not run (slow, notest, not code)"
    from nbdev.process import NBProcessor
    from nbdev.test import _skip_cell
    nb = NBProcessor(fn, rm_directives=False, process=True).nb
    return nb, _skip_cell(nb, SKIP_FLAGS)

def run_nb(fn:str) -> tuple:
    "Run notebook `fn` (skipping slow cells) and write it back with its outputs; `(fn, ok, seconds, error)`"
    from fastcore.nbio import write_nb
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    fn, t0 = Path(fn).resolve(), time.time()
    (nb, skip), ran = notebook_to_run(fn), set()
    os.environ['IN_TEST'] = '1'
    k = CaptureShell(fn)
    try:
        with working_directory(fn.parent):
            k.run(SETUP)
            k.run_all(nb, exc_stop=True, preproc=skip, postproc=lambda c: ran.add(c.id))
    except Exception:
        return str(fn), False, time.time() - t0, k.prettytb(fname=fn) or 'failed'
    write_nb(nb, fn)
    d = json.loads(fn.read_text())
    for c in d['cells']:
        if c['cell_type'] != 'code': continue
        if c.get('id') in ran:
            c['metadata']['src_hash'] = src_hash(c['source'])
            for o in c.get('outputs', []):
                if o.get('output_type') == 'stream': o['text'] = _trim(''.join(o['text']))
                if 'data' in o: o['data'] = _small_picture(o['data'])
        else: c['outputs'], _ = [], c['metadata'].pop('src_hash', None)
    fn.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n')
    return str(fn), True, time.time() - t0, None

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('nbs', nargs='*', help='notebooks (default: nbs/*.ipynb)')
    p.add_argument('-n', '--workers', type=int, default=2)
    a = p.parse_args()
    root = Path(__file__).resolve().parent.parent
    nbs = a.nbs or sorted(str(f) for f in (root/'nbs').glob('*.ipynb'))
    failed = []
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run_nbs   # by module name: IPython replaces `__main__` in the workers
    secs_of = durations()
    with ProcessPoolExecutor(a.workers) as ex:   # forked workers, as nbdev-test runs notebooks
        for fn, ok, secs, err in ex.map(run_nbs.run_nb, nbs):
            print(f"{'ran' if ok else 'FAILED'} {Path(fn).name} in {secs:.0f} s", flush=True)
            if ok: secs_of[Path(fn).name] = round(secs)
            else: failed.append(fn); sys.stderr.write(err + '\n')
    DURATIONS.write_text(json.dumps(dict(sorted(secs_of.items())), indent=1) + '\n')   # tools/test_nbs.py starts the longest first
    if failed: sys.exit(f"{len(failed)} notebook(s) failed and were left as they were: {', '.join(Path(f).name for f in failed)}")

if __name__ == '__main__': main()

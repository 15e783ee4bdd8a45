#!/usr/bin/env python
"""Fail when a notebook's outputs are missing, stale or too large: the notebooks are the documentation, committed executed.

A code cell that runs in the docs (not `#| slow`/`#| notest`) must carry the `src_hash` that `tools/run_nbs.py` stamped
on it when it ran; a different hash means the cell was edited since (stale outputs). Every notebook shows at least one
output, the augmentations, method and training notebooks at least one picture. No output is over MAX_OUTPUT bytes.
Fix any of these with `make outputs NBS=nbs/<notebook>` (runs the notebook and stamps it).
"""
import json, re, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_nbs import notebook_to_run, src_hash

PICTURES = re.compile(r'^(02_augmentations|02a_multicrop|1\d_vision\..*|30_train)\.ipynb$')  # must show a picture
MAX_OUTPUT = 300_000  # bytes of one output (a PNG is base64)

def problems(fn:Path) -> list:
    nb, skip = notebook_to_run(fn)
    runs = {c.id for c in nb.cells if c.cell_type == 'code' and not skip(c)}
    cells = json.loads(fn.read_text())['cells']
    out, n_out, n_png = [], 0, 0
    for c in cells:
        if c['cell_type'] != 'code': continue
        outs = c.get('outputs', [])
        n_out += bool(outs)
        n_png += sum(bool({'image/png', 'image/jpeg'} & set(o.get('data', {}))) for o in outs)
        for o in outs:
            if len(json.dumps(o)) > MAX_OUTPUT: out.append(f"cell {c['id']}: an output of {len(json.dumps(o)) // 1000} kB (at most {MAX_OUTPUT // 1000}): make the figure or the log smaller")
        if c['id'] not in runs: continue
        h = c['metadata'].get('src_hash')
        if h is None: out.append(f"cell {c['id']}: never ran (no outputs recorded)")
        elif h != src_hash(c['source']): out.append(f"cell {c['id']}: edited since it ran (stale outputs)")
    if not n_out: out.append("no output at all")
    if PICTURES.match(fn.name) and not n_png: out.append("no picture (a `show` or a plot)")
    return out

def main():
    root = Path(__file__).resolve().parent.parent
    nbs = [Path(f) for f in sys.argv[1:]] or sorted((root/'nbs').glob('*.ipynb'))
    bad = {fn: p for fn in nbs if (p := problems(fn))}
    for fn, ps in bad.items():
        for p in ps[:5]: print(f"{fn.relative_to(root) if fn.is_absolute() else fn}: {p}", file=sys.stderr)
        if len(ps) > 5: print(f"{fn.name}: ... and {len(ps) - 5} more", file=sys.stderr)
    if bad:
        sys.exit(f"ERROR: {len(bad)} notebook(s) with missing or stale outputs: run `make outputs NBS=\"{' '.join(f'nbs/{f.name}' for f in bad)}\"` and commit them.")
    print(f"outputs of {len(nbs)} notebooks present and current")

if __name__ == '__main__': main()

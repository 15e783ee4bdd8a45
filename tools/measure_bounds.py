#!/usr/bin/env python
"""Measure the checks whose value comes out of training or timing, and derive their bounds.

Every such check in the notebooks is a call `check_fit(name, fit, checks)` (`self_supervised.test_utils`). This script
runs each notebook that has one, up to its last `check_fit`, once per kind of arithmetic:
  native       the machine's own ATen kernels (`torch.backends.cpu.get_cpu_capability()`)
  avx2         ATEN_CPU_CAPABILITY=avx2
  default      ATEN_CPU_CAPABILITY=default (no vector instructions)
  onednn-avx2  the native ATen kernels, oneDNN's convolutions limited to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2)
and in each, `check_fit` runs the fit for seeds 0-2 x 1 and 2 threads, and each broken case for the three seeds.
A healthy value's bound sits midway between the least healthy value measured and the broken case's nearest value; a
check whose gap between the two is under twice the spread of its healthy values is reported as TOO CLOSE (make it exact,
or move it out of the default tests) and the script exits non-zero.

usage: python tools/measure_bounds.py [--write [--add]] [--envs native,avx2,default,onednn-avx2] [NOTEBOOK ...]
  (default: every notebook of nbs/ that calls check_fit; --write updates nbs/bounds.json and nbs/measured_checks.md
   for the groups measured, keeping the others; with --add, a group's new runs join those already written for it on
   the same machine and torch (its ranges widen, its bound is derived again) instead of replacing them, so one more
   kind of arithmetic can be measured alone)
"""
import argparse, datetime, json, os, platform, re, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
ENVS = {'native': {}, 'avx2': {'ATEN_CPU_CAPABILITY': 'avx2'}, 'default': {'ATEN_CPU_CAPABILITY': 'default'},
        'onednn-avx2': {'ONEDNN_MAX_CPU_ISA': 'AVX2'}}
SEEDS, THREADS = '0,1,2', '1,2'
CALL = re.compile(r'^([\w, ]+=\s*)?check_fit\(', re.M)   # a statement that checks a fit (not one inside test_fail)

def measured_notebooks() -> list:
    return [f for f in sorted((ROOT/'nbs').glob('*.ipynb')) if 'check_fit(' in f.read_text()]

def run_child(fn:Path):
    "In this process: run notebook `fn` as nbdev-test does, up to and including its last cell with a `check_fit(...)` statement"
    from run_nbs import notebook_to_run
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    nb, skip = notebook_to_run(fn)
    ids = [c.id for c in nb.cells if c.cell_type == 'code' and not skip(c)]
    last = max(i for i, c in enumerate(nb.cells) if c.cell_type == 'code' and not skip(c) and CALL.search(c.source))
    keep = {c.id for c in nb.cells[:last + 1]} & set(ids)
    os.environ['IN_TEST'] = '1'
    k = CaptureShell(fn)
    with working_directory(fn.parent):
        k.run_all(nb, exc_stop=True, preproc=lambda c: c.id not in keep)

def measure(fn:Path, env:str, out:Path) -> float:
    "Run `fn`'s fits in a fresh process with `env`'s kernels; their values are appended to `out`; the seconds it took"
    t0 = time.time()
    e = {**os.environ, **ENVS[env], 'SS_MEASURE': str(out), 'SS_MEASURE_ENV': env, 'SS_MEASURE_SEEDS': SEEDS,
         'SS_MEASURE_THREADS': THREADS, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, __file__, '--child', str(fn)], env=e, capture_output=True, text=True)
    if r.returncode: print(f"{fn.name} under {env} FAILED:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}", flush=True)
    return time.time() - t0 if r.returncode == 0 else None

def _check(op, case, healthy, broken, runs, broken_runs) -> dict:
    "One check's bound, gap and spread from its healthy range `(min, max)` and the broken case's nearest value"
    worst = healthy[0] if op == '>' else healthy[1]
    gap, spread = (worst - broken) * (1 if op == '>' else -1), healthy[1] - healthy[0]
    return dict(op=op, case=case, bound=float(f"{(worst + broken) / 2:.4g}"), healthy=list(healthy), broken=broken,
                runs=runs, broken_runs=broken_runs, gap=gap, spread=spread, ok=gap >= 2 * spread and gap > 0)

def derive(rows:list) -> dict:
    "`{group: {check: dict(op, bound, healthy, broken, runs, ok)}}` from the measured rows"
    out = {}
    for name in dict.fromkeys(r['name'] for r in rows):
        rs = [r for r in rows if r['name'] == name]
        checks = {}
        for k, (op, case) in rs[0]['checks'].items():
            h = [r['values'][k] for r in rs if not r['broken']]
            b = [r['values'][k] for r in rs if r['broken'] == case]
            checks[k] = _check(op, case, (min(h), max(h)), max(b) if op == '>' else min(b), len(h), len(b))
        out[name] = dict(checks=checks, envs=[e for e in ENVS if any(r['env'] == e for r in rs)])
    return out

def merge(old:dict, new:dict) -> dict:
    "Group `new`'s measurement joined to `old`'s (the same checks): ranges over both, bounds derived again"
    if set(old['checks']) != set(new['checks']): sys.exit(f"--add: the checks differ from those written ({sorted(old['checks'])}); measure every kind again")
    checks = {}
    for k, n in new['checks'].items():
        o, op = old['checks'][k], n['op']
        checks[k] = _check(op, n['case'], (min(o['healthy'][0], n['healthy'][0]), max(o['healthy'][1], n['healthy'][1])),
                           (max if op == '>' else min)(o['broken'], n['broken']), o['runs'] + n['runs'], o['broken_runs'] + n['broken_runs'])
    envs = _env_list(old) + new['envs']
    return dict(checks=checks, envs=[e for e in ENVS if e in envs])

def _env_list(d:dict) -> list:
    "The kinds of arithmetic a group was measured under (`derive` lists them, `bounds.json` joins them with commas)"
    e = d.get('envs', [])
    return e if isinstance(e, list) else e.split(',')

def _envs(d:dict) -> str: return ', '.join(_env_list(d))

def table(groups:dict, nbs:dict) -> str:
    g = lambda v: f"{v:.4g}"
    lines = ["| notebook | check | healthy runs: min .. max | broken case | bound | gap / spread | measured |", "|---|---|---|---|---|---|---|"]
    for name, d in groups.items():
        for k, c in d['checks'].items():
            lines.append(f"| {nbs.get(name, '')} | `{name}.{k}` {c['op']} | {g(c['healthy'][0])} .. {g(c['healthy'][1])} ({c['runs']} runs) "
                         f"| {c['case']}: {g(c['broken'])} | {c['op']} {g(c['bound'])} | {g(c['gap'] / c['spread']) if c['spread'] else 'inf'}"
                         f"{'' if c['ok'] else ' TOO CLOSE'} | {d.get('date', '')}, {_envs(d)} |")
    return '\n'.join(lines)

PAGE = """# Measured checks

Checks whose value comes out of training or timing (a loss goes down, embeddings keep their spread, an accuracy clears a
bar) are written in the notebooks as `check_fit(name, fit, checks)` (see [Measured checks](08_test_utils.ipynb)).
Their bounds are in `nbs/bounds.json`, measured by `{cmd}`: each notebook's fits ran for seeds {seeds} x {threads} threads
under each kind of arithmetic of the last column (of {all_envs}), and each broken case (`broken=<case>`) for the same seeds
with 1 thread. A kind the last column does not name was not run for that group (`--add` measures one more kind and joins
its runs to the others): every group ran under native, avx2 and default; onednn-avx2 (oneDNN's convolutions limited to
AVX2, which `ATEN_CPU_CAPABILITY` does not reach) only where named; on a machine whose own kernels are AVX2 (see below),
native and avx2 are the same kind (simclr's and barlow_twins' bounds since 2026-12-06 were measured on one: no AVX-512
run). On the groups measured under all four (byol, test_utils, and simclr's longer fit before 2026-12-06), the kind of arithmetic moved the
least and the largest value of a check by at most 0.28 of its spread over seeds and threads (that simclr fit's spread),
where a bound sits at least one spread from them. A bound sits midway
between the least healthy value and the broken case's nearest value; "gap / spread" is the distance between those two
over the spread of the healthy values (at least 2, or the check does not belong in a short fit).

Measured on {machines}.

{table}
"""

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('nbs', nargs='*', help='notebooks (default: those of nbs/ that call check_fit)')
    p.add_argument('--envs', default=','.join(ENVS))
    p.add_argument('--write', action='store_true', help='update nbs/bounds.json and nbs/measured_checks.md')
    p.add_argument('--add', action='store_true', help="with --write: join the runs to those written for the same group, machine and torch")
    p.add_argument('--child', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child: return run_child(Path(a.child).resolve())
    nbs = [Path(f).resolve() for f in a.nbs] or measured_notebooks()
    rows, where, failed = [], {}, []
    with tempfile.TemporaryDirectory() as d:
        for fn in nbs:
            new = []
            for env in a.envs.split(','):
                out = Path(d)/f'{fn.stem}.{env}.jsonl'
                secs = measure(fn, env, out)
                if secs is None: failed.append(f'{fn.name} ({env})'); continue
                got = [json.loads(l) for l in out.read_text().splitlines()]
                print(f"{fn.name} {env}: {len(got)} fits in {secs:.0f} s", flush=True)
                new += got
            for r in new: where[r['name']] = fn.name
            rows += new
            if a.write and new: write(derive(new), where, a.add)   # after each notebook: a long run keeps what it measured
    groups = derive(rows)
    print(table(groups, where))
    if failed: sys.exit(f"failed: {', '.join(failed)}")
    if not all(c['ok'] for g in groups.values() for c in g['checks'].values()): sys.exit("some checks are TOO CLOSE to their broken case")

def _machines(groups:dict) -> str:
    "Where the groups were measured: the machine and torch, or each with its groups and the most common one for the rest"
    by = {}
    for k, g in sorted(groups.items()): by.setdefault(f"{g['machine']}, torch {g['torch']}", []).append(k)
    if len(by) == 1: return next(iter(by))
    most, *rest = sorted(by, key=lambda m: -len(by[m]))
    return '; '.join(f"{m} ({', '.join(by[m])})" for m in rest) + f"; the other groups on {most}"

def write_page(groups:dict):
    "nbs/measured_checks.md: the table of every measured group"
    (ROOT/'nbs'/'measured_checks.md').write_text(PAGE.format(
        cmd='python tools/measure_bounds.py --write', all_envs=', '.join(ENVS), machines=_machines(groups),
        seeds=SEEDS.replace(',', ', '), threads=THREADS.replace(',', ' and '), table=table(groups, {k: v['notebook'] for k, v in groups.items()})))

def write(groups:dict, where:dict, add=False):
    "Update nbs/bounds.json with `groups` (keeping the others; with `add`, joined to their earlier runs) and rewrite nbs/measured_checks.md"
    import torch
    f = ROOT/'nbs'/'bounds.json'
    old = json.loads(f.read_text()) if f.exists() else {}
    cpu = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name')), platform.machine()) \
          if Path('/proc/cpuinfo').exists() else platform.machine()
    info = dict(machine=f"{cpu} ({torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} CPUs)",
                torch=torch.__version__, date=datetime.date.today().isoformat(), seeds=SEEDS, threads=THREADS)
    if add:
        for k, v in groups.items():
            o = old.get(k)
            if o is None or (o['machine'], o['torch']) != (info['machine'], info['torch']):
                sys.exit(f"--add: {k} was not measured on this machine and torch before; measure it without --add")
            groups[k] = merge(o, v)
    new = {**old, **{k: dict(v, notebook=where[k], **info, envs=','.join(v['envs'])) for k, v in groups.items()}}
    f.write_text(json.dumps(dict(sorted(new.items())), indent=1) + '\n')
    write_page(new)
    print(f"wrote {f.relative_to(ROOT)} and nbs/measured_checks.md", flush=True)

if __name__ == '__main__': main()

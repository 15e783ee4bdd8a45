#!/usr/bin/env python
"""Test the notebooks as `nbdev-test nbs` does (nbdev's own `test_nb` on each, in forked workers, with the project's
`tst_flags`, cell timeout and setup), but start them longest first: by the seconds of each in `nbs/durations.json`
(`tools/run_nbs.py`, `make outputs`, writes those of the notebooks it runs), a notebook without a time first.
nbdev-test starts them in name order, and when the last ones are long (33_guide) one worker waits idle for the other at
the end.

usage: python tools/test_nbs.py [-n WORKERS] [--flags 'slow'] [NOTEBOOK ...]     (default: every notebook of nbs/;
       prints each notebook's seconds, slowest first)
"""
import argparse, sys
from pathlib import Path
from fastcore.parallel import parallel
from fastcore.xtras import working_directory
from nbdev.config import get_config, import_obj
from nbdev.doclinks import nbglob
from nbdev.test import test_nb, nb_test_cells, _keep_file
from run_nbs import DURATIONS, durations   # the times `make outputs` writes (this script's folder is on the path)

def longest_first(files:list, secs:dict) -> list:
    "`files` by their seconds in `secs`, longest first; those without a time before all, in name order"
    return sorted(files, key=lambda f: (f.name in secs, -secs.get(f.name, 0), f.name))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('nbs', nargs='*', help='notebooks (default: every one of nbs/)')
    p.add_argument('-n', '--workers', type=int, default=2)
    p.add_argument('--flags', default='', help="space-separated test flags to run that are normally skipped (e.g. 'slow')")
    a = p.parse_args()
    cfg = get_config(DURATIONS.parent)   # the project's, from wherever the script runs
    skip_flags = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else cfg.tst_flags
    files = longest_first([Path(f).absolute() for f in a.nbs] or [f.absolute() for f in nbglob(cfg.nbs_path, as_path=True) if _keep_file(f, '.notest')], durations())
    with working_directory(cfg.nbs_path):
        if setup := cfg.get('test_setup'): import_obj(setup)([c for f in files for c in nb_test_cells(f, skip_flags, a.flags.split())])
        results = parallel(test_nb, files, skip_flags=skip_flags, force_flags=a.flags.split(), n_workers=a.workers, basepath=cfg.config_path,
                           pause=0.01, do_print=True, cell_timeout=cfg.cell_timeout or None, cell_timing_min=cfg.get('cell_timing_min'))
    for f, (ok, secs) in sorted(zip(files, results), key=lambda o: -o[1][1]): print(f"{f.name}: {secs:.0f} s{'' if ok else ' FAILED'}")
    failed = [f.name for f, (ok, _) in zip(files, results) if not ok]
    if failed: sys.exit(f"notebooks failed: {', '.join(failed)}")
    print("Success.")

if __name__ == '__main__': main()

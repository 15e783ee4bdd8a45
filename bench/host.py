"""Not a benchmark: what the benches record of the machine they ran on, the CPU's name and the cores this process may use.
It imports nothing heavy, so any bench script can name its machine without importing what another script measures."""
import os, platform

def cpu_model() -> str:
    "The CPU's model name (Linux's /proc/cpuinfo), else what `platform` knows of it"
    try: return next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): return platform.processor() or platform.machine()

def usable_cores() -> list:
    "The cores this process may run on (its affinity; every core where the OS has no affinity)"
    return sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else list(range(os.cpu_count()))

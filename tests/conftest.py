"""What the tests share through pytest: an MLflow tracking server (its own SQLite store, on 127.0.0.1) started as soon as
the tests are collected when one of them uses it, so that its start-up (about 12 s on 2 cores) overlaps the tests that
run before `test_trackers.py`; under pytest-xdist (`make test`), by the worker that runs them, when they first ask."""
import os, socket, subprocess, sys, tempfile, time, urllib.request, shutil
from pathlib import Path
import pytest

_server = {}

def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _start():
    d, port = Path(tempfile.mkdtemp(prefix='mlflow-')), _free_port()
    p = subprocess.Popen([sys.executable, '-m', 'mlflow', 'server', '--backend-store-uri', f'sqlite:///{d}/mlflow.db', '--default-artifact-root',
                          str(d/'artifacts'), '--host', '127.0.0.1', '--port', str(port), '--workers', '1'],
                         stdout=subprocess.DEVNULL, stderr=open(d/'server.log', 'w'), env=dict(os.environ, OMP_NUM_THREADS='1'))
    _server.update(proc=p, url=f'http://127.0.0.1:{port}', dir=d)

def pytest_collection_finish(session):
    # in one process only: pytest-xdist's workers each collect every test, and only one of them runs the tracker tests
    # (`make test`: `--dist loadfile`), so there the fixture starts the server when first asked
    if os.environ.get('PYTEST_XDIST_WORKER'): return
    if any('mlflow_server' in getattr(i, 'fixturenames', ()) for i in session.items): _start()

def pytest_sessionfinish(session):
    if _server: _server['proc'].terminate(); _server['proc'].wait(30); shutil.rmtree(_server['dir'], ignore_errors=True)

@pytest.fixture(scope='session')
def mlflow_server():
    "`http://127.0.0.1:<port>` of the MLflow server, once it answers"
    if not _server: _start()
    p, url, t0 = _server['proc'], _server['url'], time.time()
    while True:
        try: urllib.request.urlopen(f'{url}/health', timeout=2); return url
        except OSError:
            assert p.poll() is None, (_server['dir']/'server.log').read_text()[-2000:]
            assert time.time() - t0 < 180, 'the MLflow server did not start in 180 s'
            time.sleep(0.5)

"""Experiment trackers against the real thing: an MLflow tracking server on 127.0.0.1 (its own SQLite store, started by
conftest.py as soon as the tests are collected, or under pytest-xdist when first asked), W&B in offline mode (the records its pinned version writes under the run
folder), and a server that is not there."""
import json, re, socket, struct
from pathlib import Path
import pytest
from self_supervised import pretrain
from self_supervised.cli import main
from _helpers import digit_folders

FAST = dict(model='test_resnet', size=16, batch_size=16, num_workers=0, progress=False)

def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def digits(tmp_path_factory): return digit_folders(tmp_path_factory.mktemp('digits'), 32)

def test_mlflow_server_gets_params_and_epochs_and_a_resume_continues_the_run(tmp_path, digits, mlflow_server):
    from mlflow.tracking import MlflowClient
    out = tmp_path/'run'
    pretrain(out, data=digits, epochs=2, **FAST, loggers=dict(mlflow=dict(tracking_uri=mlflow_server, experiment='tests')))
    c = MlflowClient(tracking_uri=mlflow_server)
    (run,) = c.search_runs([c.get_experiment_by_name('tests').experiment_id])
    assert (run.info.run_name, run.info.status, json.loads((out/'trackers.json').read_text())) == ('run', 'FINISHED', {'mlflow': run.info.run_id})
    assert (run.data.params['method'], run.data.params['model'], run.data.params['method_args.temp']) == ('simclr', 'test_resnet', '0.1')
    rows = (out/'metrics.csv').read_text().splitlines()
    assert [m.step for m in c.get_metric_history(run.info.run_id, 'train_loss')] == [1, 2]
    assert c.get_metric_history(run.info.run_id, 'train_loss')[-1].value == pytest.approx(float(rows[-1].split(',')[1]))
    assert set(run.data.metrics) >= {'train_loss', 'lr', 'seconds', 'data_wait', 'unreadable'}
    # resumed from the command line, with the CLI's keys: the same MLflow run gets epoch 3
    assert main(['pretrain', f'out={out}', f'data={digits}', 'epochs=3', 'model=test_resnet', 'size=16', 'batch_size=16', 'num_workers=0',
                 f'loggers.mlflow.tracking_uri={mlflow_server}', 'loggers.mlflow.experiment=tests']) == 0
    (again,) = c.search_runs([c.get_experiment_by_name('tests').experiment_id])
    assert (again.info.run_id, again.info.status) == (run.info.run_id, 'FINISHED')
    assert [m.step for m in c.get_metric_history(run.info.run_id, 'train_loss')] == [1, 2, 3]

def wandb_records(path) -> list:
    "The protobuf records of a W&B `.wandb` file: LevelDB's log format (32 KiB blocks of pieces with a 7-byte header) after a 7-byte file header"
    from wandb.proto import wandb_internal_pb2 as pb
    data, out, buf, pos, block = Path(path).read_bytes(), [], b'', 7, 32768
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7: pos += left; continue
        _, n, kind = struct.unpack('<IHB', data[pos:pos + 7]); pos += 7
        if n == 0 and kind == 0: pos += left - 7; continue   # a block's zero padding
        buf += data[pos:pos + n]; pos += n
        if kind in (1, 4): r = pb.Record(); r.ParseFromString(buf); out.append(r); buf = b''   # a whole record, or its last piece
    return out

def test_wandb_offline_writes_config_and_each_epoch_and_resumes_the_same_run(tmp_path, digits):
    out = tmp_path/'run'
    for epochs in (2, 3):
        pretrain(out, data=digits, epochs=epochs, **FAST, loggers=dict(wandb=dict(mode='offline', project='tests')))
    wid = json.loads((out/'trackers.json').read_text())['wandb']
    files = sorted((out/'wandb').glob(f'offline-run-*-{wid}/run-{wid}.wandb'))
    assert len(files) == 2   # the first fit and its resume, one W&B run id
    recs = [wandb_records(f) for f in files]
    run = next(r.run for r in recs[0] if r.WhichOneof('record_type') == 'run')
    cfg = {i.key: json.loads(i.value_json) for i in run.config.update}
    assert (run.project, run.run_id, cfg['method'], cfg['model_args.n_in'], cfg['optim_args.optimizer']) == ('tests', wid, 'simclr', 1, 'adamw')
    steps = [{i.key or '/'.join(i.nested_key): json.loads(i.value_json) for i in r.history.item} for rs in recs for r in rs if r.WhichOneof('record_type') == 'history']
    rows = (out/'metrics.csv').read_text().splitlines()[1:]
    assert [s['_step'] for s in steps] == [1, 2, 3]
    assert [s['train_loss'] for s in steps] == [float(r.split(',')[1]) for r in rows]
    pretrain(out, data=digits, epochs=1, **FAST, overwrite=True, loggers=dict(wandb=dict(mode='offline', project='tests')))
    assert json.loads((out/'trackers.json').read_text())['wandb'] != wid   # a new run in the folder: a new W&B run

def test_a_tracker_that_cannot_be_reached_is_a_warning(tmp_path, digits, monkeypatch):
    monkeypatch.setenv('MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', '0')   # its retries without pauses: seconds, not minutes
    out = tmp_path/'run'
    pretrain(out, data=digits, epochs=1, **FAST, loggers=dict(mlflow=dict(tracking_uri=f'http://127.0.0.1:{_free_port()}')))
    assert re.search(r"WARNING Tracker mlflow failed to start \(MlflowException: .*Connection refused.*\); training goes on, metrics.csv has every epoch", (out/'train.log').read_text())
    assert len((out/'metrics.csv').read_text().splitlines()) == 2 and (out/'exported_models'/'backbone.pth').exists()

# Two commands: `make demo` and `make test`. Both create .venv with python3 -m venv + pip when missing.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest/notebook-test workers: 2 cores on CI
NWORK  ?= 2
# what the notebooks and tests write to temporary folders (runs, checkpoints, image folders) goes under one scratch
# folder per command, removed when the command ends, passed or failed: repeated runs leave nothing behind in /tmp
SCRATCH = t=$$(mktemp -d) && trap 'rm -rf "$$t"' EXIT && export TMPDIR="$$t" &&

.PHONY: demo test test-all sync nbs outputs check-outputs docs docs-check export clean-nbs bench venv

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m self_supervised.demo

# the onnx, video and dicom extras (`export format=onnx`, `extract-frames`, .dcm images), installed on first use as the docs extra is: the
# notebooks and tests that `make test` runs need them, so the default test run covers the ONNX export and the videos
ONNX_STAMP := $(VENV)/.onnx-installed
$(ONNX_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,onnx,video,dicom]'
	touch $(ONNX_STAMP)

# notebooks are the source: exporting and cleaning them must change nothing
sync: $(STAMP)
	PATH=$(BIN):$$PATH bash tools/check_sync.sh

# nbdev-test's run of every notebook, the longest first (tools/test_nbs.py: by nbs/durations.json, which `make outputs` writes)
nbs: $(ONNX_STAMP)
	$(SCRATCH) OMP_NUM_THREADS=1 $(PY) tools/test_nbs.py -n $(NWORK)

# pytest in NWORK workers (pytest-xdist), a test file per worker, one thread each: the tests launch processes of their
# own, and torch's threads spin while they wait for a core, so more threads than cores cost time
test: $(ONNX_STAMP) sync check-outputs nbs
	$(SCRATCH) OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(NWORK) --dist loadfile --durations=12 tests

# the notebooks are committed executed (they are the docs): `make outputs` runs them (or NBS="nbs/a.ipynb ...") and
# keeps their outputs; check-outputs fails when a cell's outputs are missing or older than its source
NBS ?=
outputs: $(ONNX_STAMP)
	$(SCRATCH) OMP_NUM_THREADS=1 $(PY) tools/run_nbs.py -n $(NWORK) $(NBS)
	$(BIN)/nbdev-clean

check-outputs: $(STAMP)
	$(PY) tools/check_outputs.py

# the site: README + the executed notebooks (not run again) + each module's API, in _docs/ (open _docs/index.html);
# it serves its own MathJax, fetched by npm the first time (pinned in tools/docs_assets/package.json)
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) tools/build_docs.py

# pages in headless Chromium at 1280 px: home and augmentations not blank, pictures shown, the losses page's math rendered,
# no code block scrolling sideways, no In/Out prompts, nothing fetched from the network (DOCS_CHECK=--all: every page)
DOCS_CHECK ?=
docs-check: docs
	$(PY) tools/docs_check.py $(DOCS_CHECK)

test-all: $(ONNX_STAMP) sync
	$(SCRATCH) OMP_NUM_THREADS=1 $(PY) tools/test_nbs.py -n $(NWORK) --flags slow
	$(SCRATCH) $(PY) -m pytest -q -m '' tests

export: $(STAMP)
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

bench: $(STAMP)
	$(PY) bench/augment.py
	$(PY) bench/throughput.py
	$(PY) bench/quality.py

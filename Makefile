# One command runs the sample job, one runs the tests; each sets up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CUDA extension of sam2 only speeds up mask hole-filling; set SAM2_BUILD_CUDA=1 with nvcc to build it.
SAM2_BUILD_CUDA ?= 0
export SAM2_BUILD_CUDA

.PHONY: setup sample test bench clean check-install

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q setuptools wheel
	# torch first: sam2 builds against the installed torch instead of fetching another one.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q --no-build-isolation -r requirements-dev.txt
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

sample: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" bash run_batch_tracking_multiprocess.sh

test: setup
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/run_cpu.py

# A user's hand install: requirements.txt alone (no dev extras) in a fresh environment, every
# imported module declared, then the CLI on the tiny models.
BARE ?= .venv-bare
check-install:
	rm -rf $(BARE)
	$(PYTHON) -m venv $(BARE)
	$(BARE)/bin/python -m pip install -q setuptools wheel
	$(BARE)/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BARE)/bin/python -m pip install -q --no-build-isolation -r requirements.txt
	$(BARE)/bin/python -m pip install -q --no-build-isolation --no-deps -e .
	bash scripts/check_bare_install.sh $(BARE)/bin/python

clean:
	rm -rf $(VENV) $(BARE) .pytest_cache

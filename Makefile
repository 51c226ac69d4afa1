# One command runs the sample job, one runs the tests; each sets up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CUDA extension of sam2 only speeds up mask hole-filling; set SAM2_BUILD_CUDA=1 with nvcc to build it.
SAM2_BUILD_CUDA ?= 0
export SAM2_BUILD_CUDA

.PHONY: setup sample demo test bench clean check-install

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

# A first try in under a minute on 2 cores, with nothing downloaded: tiny random-weight models in
# the real formats, the sample clips at 5 fps. Random weights give random boxes, so the counts
# and the annotated videos are meaningless: this checks the install and the code paths.
DEMO ?= .demo
demo: setup $(DEMO)/tiny/sam2_tiny.pt
	OMP_NUM_THREADS=1 $(PY) scripts/batch_track_videos.py --video_list video_list.txt --text_prompt "car . person" \
	    --output_jsonl $(DEMO)/results.jsonl --output_video_dir $(DEMO)/videos --no-resume --log_every 5 \
	    --sam_config $(DEMO)/tiny/sam2_tiny.yaml --model_path $(DEMO)/tiny/sam2_tiny.pt \
	    --detector_model $(DEMO)/tiny/grounding_dino_tiny --box_threshold 0 --max_objects 1 \
	    --fps 5 --detection_frequency 5 --min_hits 1

$(DEMO)/tiny/sam2_tiny.pt:
	OMP_NUM_THREADS=1 $(PY) -m lang_sam_tracker.testing.tiny_models --out $(DEMO)/tiny

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
	rm -rf $(VENV) $(BARE) .pytest_cache $(DEMO)

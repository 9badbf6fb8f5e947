# Entry points. Each target makes .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export HOST ?= 127.0.0.1
export PORT ?= 8000

RUNTIME_TESTS := tests/test_api.py tests/test_preprocess.py tests/test_gunicorn.py tests/test_read_numbers.py \
	tests/test_error_codes.py tests/test_hostile.py

.PHONY: install serve test test-runtime lint train finetune finetune-line-model train-line-model export evaluate bench soak report screenshots image clean

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-train.txt requirements-dev.txt
	$(VENV)/bin/pip install -r requirements-dev.txt
	touch $@

install: $(VENV)/.dev  ## everything: runtime, training, test tools

serve: $(VENV)/.runtime  ## the app with the shipped model at http://$(HOST):$(PORT)
	$(VENV)/bin/gunicorn -c server/gunicorn.conf.py server.wsgi:app

test: $(VENV)/.dev  ## the whole suite (needs MNIST_DIR and Debian's chromium)
	$(PY) -m pytest

test-runtime: $(VENV)/.runtime  ## the serving tests on the runtime packages alone (make test-runtime PYTHON=python3.12 VENV=.venv-3.12)
	$(VENV)/bin/pip install $$(grep -E '^(pytest|requests|scipy)==' requirements-dev.txt | cut -d'#' -f1)
	$(PY) -m pytest -q -p no:cacheprovider $(RUNTIME_TESTS)

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

train: $(VENV)/.dev  ## full training (EPOCHS, MEMBERS, SUBSET override; CORRECTIONS=DIR adds exported corrections)
	$(PY) -m train.classifier

finetune: $(VENV)/.dev  ## the shipped classifier fine-tuned on real pen digits (FROM, FT_EPOCHS, FT_LEARNING_RATE, UNIPEN)
	$(PY) -m train.finetune

finetune-line-model: $(VENV)/.dev  ## the shipped line model fine-tuned on lines of real pen digits and amounts (LINE_FROM, LINE_FT_*)
	$(PY) -m train.finetune_line

train-line-model: $(VENV)/.dev  ## the CTC line model behind /api/v1/read (LINE_MEMBERS, LINE_EPOCHS, LINES override)
	$(PY) -m train.line_model

export: $(VENV)/.dev  ## build/model.keras, build/line_model.keras -> artifacts/*.onnx (each also as INT8, the one served) + their cards
	$(PY) -m export.classifier
	$(PY) -m export.quantize
	$(PY) -m export.line_model
	$(PY) -m export.quantize line-model

evaluate: $(VENV)/.dev  ## accuracy on user-like renders of MNIST test digits, whole numbers, and real pen digits and numbers of held-out UNIPEN sites
	$(PY) -m evaluate.realistic
	$(PY) -m evaluate.numbers
	$(PY) -m evaluate.real
	$(PY) -m evaluate.real_numbers
	$(PY) -m evaluate.amounts

bench: $(VENV)/.dev  ## in-process and HTTP benchmarks against a Flask + Keras baseline (needs wrk)
	$(PY) -m bench.run

soak: $(VENV)/.dev  ## 60 s at saturation (errors, worker memory), then kill -9 of a worker under load (needs wrk)
	$(PY) -m bench.soak

report: $(VENV)/.runtime  ## docs/results.md and README.md's results table, from artifacts/*.json
	$(PY) -m evaluate.report

screenshots: $(VENV)/.dev  ## the README's screenshots of the page, from the browser tests
	SCREENSHOTS_DIR=docs $(PY) -m pytest -q tests/test_browser.py -k "drawn_digit_is_read or phone or samples_spell"

IMAGE ?= localhost/digits:latest
BASE ?= docker.io/library/python:3.11-slim
PODMAN ?= podman
image: $(VENV)/.runtime  ## the container image (Containerfile; BASE, IMAGE, PODMAN override), built from wheels fetched here
	rm -rf build/wheels
	$(VENV)/bin/pip download --quiet --only-binary=:all: --dest build/wheels -r requirements.txt
	$(PODMAN) build $(if $(findstring podman,$(PODMAN)),--format docker) --build-arg BASE=$(BASE) --tag $(IMAGE) --file Containerfile .

clean:
	rm -rf build

# Two commands on a fresh machine (Python 3 + a C++ compiler): `make demo`, `make test`.
# Each creates or refreshes its own virtualenv in .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv build demo test lint-imports test-kernel test-native bench airflow clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Build deps first so the editable install can run without build isolation
# (fast rebuilds: `make build` after a C++ change).
$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet "scikit-build-core>=0.10" "nanobind>=2.0"
	$(PIP) install --quiet --no-build-isolation -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

build: $(STAMP)
	$(PIP) install --quiet --no-build-isolation --no-deps -e .

demo: build
	$(PY) -m airflow_provider_cylon.cli demo

# The layer contract (.importlinter): glue -> client -> runtime -> kernel, no Airflow below the glue.
lint-imports: build
	$(VENV)/bin/lint-imports

test: build lint-imports test-native
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The kernel's C++ tests (native/tests), standalone of Python, under ctest.
test-native:
	cmake -S native/tests -B build/native-tests -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
	cmake --build build/native-tests -j2
	ctest --test-dir build/native-tests --output-on-failure

test-kernel: build
	$(PY) -m pytest -q tests/unit/kernel $(PYTEST_ARGS)

bench: build
	$(PY) benchmarks/kernel.py

# Airflow (api-server, scheduler, dag-processor, triggerer) with the provider and dags/;
# state in .airflow/, UI on http://localhost:$${AIRFLOW_PORT:-8080} (scripts/airflow.sh).
airflow: build
	PYTHON=$(PY) scripts/airflow.sh

clean:
	rm -rf build dist $(VENV) .pytest_cache .hypothesis .demo

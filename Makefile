# pyacemaker-fw: `make demo` runs the main job, `make test` runs the checks.
# Both set the environment up first (scripts/setup.sh is idempotent and quick when unchanged).
VENV := .venv
BIN := $(VENV)/bin
# torch and TensorFlow share the cores with other engines: one thread each.
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export TF_USE_LEGACY_KERAS := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo demo-fast test lint typecheck pytest benchmarks clean

setup:
	bash scripts/setup.sh

# A complete campaign on silicon with the real engines: MACE, Quantum ESPRESSO, pacemaker,
# LAMMPS (about half an hour on 2 cores); the report and the final potential land in
# runs/si-demo/report/.
demo: export OMPI_ALLOW_RUN_AS_ROOT := 1
demo: export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
demo: setup
	$(BIN)/pyacemaker-fw doctor
	$(BIN)/pyacemaker-fw run workflows/si_demo.yaml --restart
	$(BIN)/pyacemaker-fw report workflows/si_demo.yaml

# The same loop in two minutes, Stillinger-Weber standing in for DFT and MACE (runs/si-fast/).
demo-fast: setup
	$(BIN)/pyacemaker-fw run workflows/si_fast.yaml --restart
	$(BIN)/pyacemaker-fw report workflows/si_fast.yaml

lint:
	$(BIN)/ruff check pyacemaker_fw tests benchmarks
	$(BIN)/ruff format --check pyacemaker_fw tests benchmarks

typecheck:
	$(BIN)/mypy --strict pyacemaker_fw

pytest:
	$(BIN)/pytest

test: setup
	$(MAKE) lint typecheck pytest

benchmarks: setup
	for bench in benchmarks/bench_*.py; do $(BIN)/python $$bench || exit 1; done

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache

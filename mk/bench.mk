# `make bench`: the performance benchmark (not part of CI; ~4 min). See docs/performance.md.
# BENCH_ARGS is passed to bench/run.py, e.g. `make bench BENCH_ARGS="--quick"` or "--event-loop asyncio".
BENCH_ARGS ?=

.PHONY: bench bench-quick

bench: venv
	$(BIN)/python bench/run.py --pin $(BENCH_ARGS)

bench-quick: venv
	$(BIN)/python bench/run.py --pin --quick $(BENCH_ARGS)

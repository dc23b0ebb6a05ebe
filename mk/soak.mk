# Load: `make soak` holds 1,000 concurrent slow streams through modelmuxd against the emulator
# and reports errors, overlap, the daemon's peak RSS (VmHWM) and CPU. Exit 1 on any error.
# Knobs: SOAK_ARGS="--concurrency 1000 --words 40 --slow-ms 250 --deadline-s 120"
SOAK_ARGS ?=

.PHONY: soak
soak: venv
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

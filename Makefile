# `make run`: the whole stack in the foreground: nginx on 127.0.0.1:${PORT:-8080} in front of
# ${WORKERS:-2} responder processes, state under ${RUN_DIR:-./.run} (scripts/run-stack).
# `make test`: installs what is missing, builds, runs the unit and integration tests.
# `make bench`: speed and memory against the ceilings of the same machine (bench/results.md).
.PHONY: run test bench deps

run:
	@scripts/run-stack

test: deps
	swift build
	swift test
	swift build -c release
	python3 -m pytest -q Tests/integration

bench: deps
	swift build -c release
	python3 bench/run.py

deps:
	@scripts/install-deps

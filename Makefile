# `make run`: the whole stack in the foreground: nginx on 127.0.0.1:${PORT:-8080} in front of
# ${WORKERS:-2} responder processes, state under ${RUN_DIR:-./.run} (scripts/run-stack).
# `make test`: installs what is missing, builds, runs the unit and integration tests.
# `make bench`: speed and memory against the ceilings of the same machine (bench/results.md).
.PHONY: run test bench deps deb test-deploy cluster bench-check bench-baseline

run:
	@scripts/run-stack

# `make cluster`: ${HOSTS:-3} responder hosts on 127.0.0.2… behind one nginx on
# 127.0.0.1:${PORT:-8080} configured from nginx/production.conf, sharing one S3
# bucket (a local moto server when AWS_S3_BUCKET_NAME is unset) (scripts/run-cluster).
cluster:
	@scripts/run-cluster

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

# --- bench-check (issue 13) ---
# Under 2 minutes: instructions per settings GET and per 200-session listing, counted
# by callgrind on one worker, against bench/baseline.json; fails on a rise over 10 %.
# `make bench-baseline` records the current counts (commit the file with the change
# that explains them).
bench-check:
	swift build -c release
	python3 bench/instructions.py --check

bench-baseline:
	swift build -c release
	python3 bench/instructions.py --write-baseline
# --- end bench-check ---

# --- packaging (deb) -----------------------------------------------------------
# `make deb`: .build-deb/recstore_VERSION_ARCH.deb (scripts/build-deb; Debian tools only).
# `make test-deploy`: installs that package with apt in a clean Debian 12 root
# (debootstrap, cached under .debootstrap-cache/) and serves a save and a read through
# the root's nginx (Tests/deploy). Needs root; .ci/run runs it after make test.
deb: deps
	@scripts/build-deb

test-deploy: deb
	python3 -m pytest -q Tests/deploy
# --- end packaging -------------------------------------------------------------

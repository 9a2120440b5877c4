# Two commands on a fresh machine:
#   make demo   sample video of real people -> video_publisher -> pose_node -> gesture_node (real ROS 2 graph)
#   make test   unit, property and real-DDS integration tests + lint (the CI command)
#   make test-fast   the in-process unit tests only (-m "unit and not slow"), in seconds
#   make check-arm64 the core pipeline under arm64 emulation vs x86-64 (~1 min set-up once, ~3 min)
SHELL := /bin/bash
ENV := . scripts/env.sh &&

.PHONY: setup test test-fast demo lint bench clean check-arm64
setup:
	bash scripts/setup.sh

test: setup
	$(ENV) python -m pytest test -q -p no:cacheprovider
	$(ENV) ruff check .

test-fast: setup
	$(ENV) python -m pytest test -q -p no:cacheprovider -m "unit and not slow"

lint: setup
	$(ENV) ruff check .

demo: setup
	$(ENV) python -m blazepose_ros.ros.demo --out out/demo

bench: setup
	$(ENV) python bench/run_all.py

check-arm64: setup
	$(ENV) python scripts/check_arm64.py setup --install
	$(ENV) python scripts/check_arm64.py run

clean:
	rm -rf .colcon out

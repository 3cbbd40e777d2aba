# The two commands of the README. Both set up what they need on first use:
# a virtual environment at .venv/ (pip) and, for tests, Bazel (apt).
.PHONY: demo test venv bazel clean-demo

DEMO_DIR ?= work/demo
DEMO_FLAGS ?=

venv:
	@tools/setup_venv.sh

bazel:
	@tools/setup_bazel.sh

demo: venv
	.venv/bin/python experiments/run_pipeline.py --dataset=synthetic \
	  --work_dir=$(DEMO_DIR) --preset=quick $(DEMO_FLAGS)

test: venv bazel
	@tools/bazel_test.sh

clean-demo:
	rm -rf $(DEMO_DIR)

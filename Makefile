# The two commands of the README. Both set up what they need on first use:
# a virtual environment at .venv/ with wsvis-tf installed editable (pip) and,
# for tests, Bazel (apt).
.PHONY: demo test venv bazel clean-demo

DEMO_DIR ?= work/demo
DEMO_FLAGS ?=

venv:
	@tools/setup_venv.sh

bazel:
	@tools/setup_bazel.sh

# `wsvis-pipeline` (the console script `make venv` installs) runs the same
# binary; `-m` from the checkout runs this checkout's code even when .venv/
# is shared with another checkout (tools/setup_venv.sh does not install into
# a linked .venv).
demo: venv
	.venv/bin/python -m experiments.run_pipeline --dataset=synthetic \
	  --work_dir=$(DEMO_DIR) --preset=quick $(DEMO_FLAGS)

test: venv bazel
	@tools/bazel_test.sh

clean-demo:
	rm -rf $(DEMO_DIR)

"""Runs an absl binary's main, as a file or as a pip console script.

Every binary (experiments/*.py) ends with

  def run() -> None:
    entry_point.run(main, __name__)

  if __name__ == '__main__':
    run()

and pyproject.toml points its console script (`wsvis-evaluate`, ...) at
`run`. `python experiments/evaluate.py` runs the file as `__main__`, and
absl's `--help` prints `__main__`'s docstring and the flags defined by the
module named `sys.argv[0]`. A console script's `__main__` is pip's few-line
wrapper and the binary is an imported module (`experiments.evaluate`), so
`--help` would print neither: the wrapper has no docstring, or, where the
interpreter's path is too long for a `#!` line, a shell `exec` line that pip
puts in a triple-quoted string. `run` gives absl the binary's docstring and
flags, so the two ways of starting a binary print the same help.
"""

import sys
from typing import Any, Callable, List

from absl import app
from absl import flags


def run(main: Callable[[List[str]], Any], module_name: str) -> None:
  """app.run(main), with `--help` describing the binary module_name.

  Args:
    main: the binary's main(argv); its return value is the exit status, as
      app.run makes it.
    module_name: the binary's `__name__` (`'__main__'` when run as a file).

  Raises:
    ValueError: module_name is not an imported module.
  """
  module = sys.modules.get(module_name)
  if module is None:
    raise ValueError(f'entry_point.run: {module_name!r} is not an imported '
                     'module; pass the binary\'s __name__')
  wrapper = sys.modules['__main__']
  if module is not wrapper:
    # absl names the main module after sys.argv[0] (absl flags/_helpers.py,
    # get_module_object_and_name), and its short help lists that name's key
    # flags (FlagValues.main_module_help).
    wrapper.__doc__ = module.__doc__
    for flag in flags.FLAGS.get_key_flags_for_module(module_name):
      flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  app.run(main)

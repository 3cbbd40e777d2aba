"""Runs an experiments/ binary as a user would: a subprocess, as a script."""

import os
import subprocess
import sys


def repo_root(binary: str = 'run_pipeline.py') -> str:
  """The checkout (or Bazel runfiles tree) holding experiments/<binary>."""
  here = os.path.dirname(os.path.abspath(__file__))
  for base in (os.path.join(os.environ.get('TEST_SRCDIR', ''),
                            os.environ.get('TEST_WORKSPACE', 'wsvis_tf')),
               os.path.dirname(os.path.dirname(here))):
    if os.path.exists(os.path.join(base, 'experiments', binary)):
      return base
  raise FileNotFoundError(f'experiments/{binary} not found')


def run(binary: str, *args: str, check: bool = True,
        timeout: int = 1800) -> subprocess.CompletedProcess:
  """experiments/<binary> with args; check: fail with its output if rc != 0."""
  root = repo_root(binary)
  env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run(
      [sys.executable, os.path.join(root, 'experiments', binary), *args],
      capture_output=True, text=True, env=env, timeout=timeout)
  if check and proc.returncode != 0:
    raise AssertionError(f'{binary} failed ({proc.returncode}):\n'
                         f'{proc.stdout}\n{proc.stderr[-4000:]}')
  return proc

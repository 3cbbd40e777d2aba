"""Runs one Python module as every worker of a local TF_CONFIG cluster.

The multi-worker tests start two processes on loopback ports, as a user
would start one per machine; each process sees only its own TF_CONFIG.
"""

import json
import os
import socket
import subprocess
import sys
from typing import List, Sequence, Tuple


def free_ports(n: int) -> List[int]:
  """n distinct ports free on localhost now (bound, then released)."""
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('localhost', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def run_workers(module: str, args_of_worker: Sequence[Sequence[str]],
                repo: str, timeout: float = 600.0
               ) -> List[Tuple[int, str]]:
  """Runs `python -m module *args` once per worker, all at once.

  Args:
    module: The worker's module (run from repo, on PYTHONPATH).
    args_of_worker: Command-line arguments of worker 0, 1, ...
    repo: The source root the module is imported from.
    timeout: Seconds before a worker is killed (a hung collective).

  Returns:
    (exit status, combined stdout and stderr) of each worker.
  """
  cluster = {'worker': [f'localhost:{p}'
                        for p in free_ports(len(args_of_worker))]}
  procs = []
  for index, args in enumerate(args_of_worker):
    env = dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL='2',
               CUDA_VISIBLE_DEVICES='-1',
               TF_CONFIG=json.dumps({'cluster': cluster, 'task': {
                   'type': 'worker', 'index': index}}))
    procs.append(subprocess.Popen(
        [sys.executable, '-m', module, *args], env=env, cwd=repo,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  results = []
  for proc in procs:
    try:
      log = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
      for p in procs:
        p.kill()
      log = proc.communicate()[0] + f'\n[killed after {timeout} s]'
    results.append((proc.returncode, log))
  return results


def run_reporting_workers(module: str, args_of_worker: Sequence[Sequence[str]],
                          reports: Sequence[str], repo: str,
                          timeout: float = 600.0) -> List[dict]:
  """run_workers, for workers that each write a JSON report.

  Args:
    module, args_of_worker, repo, timeout: As run_workers.
    reports: The JSON file each worker writes, in worker order.

  Returns:
    The reports, parsed.

  Raises:
    AssertionError: A worker exited with a non-zero status (its log's tail
      is the message).
  """
  for status, log in run_workers(module, args_of_worker, repo, timeout):
    if status != 0:
      raise AssertionError(f'a worker of {module} exited with status '
                           f'{status}:\n{log[-4000:]}')
  parsed = []
  for path in reports:
    with open(path) as f:
      parsed.append(json.load(f))
  return parsed

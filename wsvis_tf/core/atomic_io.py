"""Atomic file and directory writes: a crash never leaves a half-written file.

Everything is written to a temporary sibling first and moved into place with
os.replace (atomic on POSIX within one file system), so a reader either sees
the previous complete file or the new complete file.
"""

import contextlib
import io
import json
import os
import shutil
import tempfile
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
  """Yields a temporary path in path's directory; renames it to path on exit.

  On an exception the temporary file is removed and path is left untouched.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  base = os.path.basename(path)
  fd, tmp = tempfile.mkstemp(prefix=f'.{base}.', suffix='.tmp', dir=directory)
  os.close(fd)
  try:
    yield tmp
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_bytes(path: str, data: bytes) -> None:
  with atomic_path(path) as tmp:
    with open(tmp, 'wb') as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())


def write_text(path: str, text: str) -> None:
  write_bytes(path, text.encode('utf-8'))


def write_json(path: str, obj: Any, indent: int = None) -> None:
  """Writes strict JSON (NaN/Inf are an error, not invalid output)."""
  write_text(path, json.dumps(obj, indent=indent, sort_keys=indent is not None,
                              allow_nan=False))


def write_npz(path: str, compressed: bool = True, **arrays: np.ndarray) -> None:
  buf = io.BytesIO()
  (np.savez_compressed if compressed else np.savez)(buf, **arrays)
  write_bytes(path, buf.getvalue())


@contextlib.contextmanager
def atomic_dir(path: str) -> Iterator[str]:
  """Yields a temporary directory; it replaces path (a directory) on exit.

  An existing directory at path is moved aside and deleted only after the new
  one is in place.
  """
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(path)}.', dir=parent)
  try:
    yield tmp
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  old = None
  if os.path.exists(path):
    old = tempfile.mkdtemp(prefix=f'.{os.path.basename(path)}.old.',
                           dir=parent)
    os.rmdir(old)
    os.replace(path, old)
  os.replace(tmp, path)
  if old:
    shutil.rmtree(old, ignore_errors=True)


def read_json(path: str) -> Any:
  """The JSON object in a file (e.g. one write_json wrote)."""
  with open(path) as f:
    return json.load(f)

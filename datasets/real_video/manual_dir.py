"""Files of a manual download, extracted or still inside its zip archives.

Real datasets come as the user downloaded them (TFDS "manual_dir"): zips such
as YouTube-VIS's `train_all_frames.zip`, or the directories those zips
extract to. A `FileTree` reads either the same way, without extracting
anything (YouTube-VIS all-frames and Cityscapes sequences are tens to hundreds
of GB; reading members in place avoids a second copy on disk).

A location is a path relative to the manual dir; `archive.zip!inner/path`
names a path inside an archive. Builders list the locations where a layout
may keep something, in order of preference, and `find` returns the first
that exists, or raises an `InputError` that lists every place it looked.
"""

import os
import threading
import zipfile
from typing import Dict, List, Optional, Sequence, Set

ZIP_SEPARATOR = '!'


class InputError(ValueError):
  """The user's data is missing or malformed; the message names the file."""


class FileTree:
  """A read-only directory: a folder on disk or a folder inside a zip.

  Paths given to the methods are relative to the tree's root, with '/'
  separators, e.g. 'vid0001/00005.jpg'.
  """

  def __init__(self, root: str, prefix: str = '',
               archive: Optional['_Archive'] = None):
    self._root = root
    self._prefix = prefix.strip('/')
    self._archive = archive

  @property
  def location(self) -> str:
    """Where the tree is, for messages: '/d/x' or '/d/a.zip!x'."""
    if self._archive is None:
      return self._root
    return f'{self._archive.path}{ZIP_SEPARATOR}{self._prefix}'

  @property
  def is_archive(self) -> bool:
    return self._archive is not None

  def _member(self, path: str) -> str:
    path = path.strip('/')
    return f'{self._prefix}/{path}' if self._prefix else path

  def describe(self, path: str) -> str:
    """The full name of a file in the tree, for error messages."""
    if self._archive is None:
      return os.path.join(self._root, path)
    return f'{self._archive.path}{ZIP_SEPARATOR}{self._member(path)}'

  def subtree(self, path: str) -> 'FileTree':
    if self._archive is None:
      return FileTree(os.path.join(self._root, path))
    return FileTree(self._root, self._member(path), self._archive)

  def is_file(self, path: str) -> bool:
    if self._archive is None:
      return os.path.isfile(os.path.join(self._root, path))
    return self._archive.is_file(self._member(path))

  def is_dir(self, path: str = '') -> bool:
    if self._archive is None:
      return os.path.isdir(os.path.join(self._root, path))
    return self._archive.is_dir(self._member(path))

  def list_files(self, path: str = '') -> List[str]:
    """Names of the files directly in a folder of the tree (unsorted)."""
    if self._archive is None:
      full = os.path.join(self._root, path)
      return [n for n in os.listdir(full)
              if os.path.isfile(os.path.join(full, n))]
    return self._archive.list_files(self._member(path))

  def list_dirs(self, path: str = '') -> List[str]:
    """Names of the folders directly in a folder of the tree (unsorted)."""
    if self._archive is None:
      full = os.path.join(self._root, path)
      return [n for n in os.listdir(full)
              if os.path.isdir(os.path.join(full, n))]
    return self._archive.list_dirs(self._member(path))

  def read(self, path: str) -> bytes:
    """The bytes of a file; InputError naming it when it is not there."""
    if not self.is_file(path):
      raise InputError(f'missing file: {self.describe(path)}')
    if self._archive is None:
      with open(os.path.join(self._root, path), 'rb') as f:
        return f.read()
    return self._archive.read(self._member(path))

  def fingerprint(self, path: str) -> str:
    """Size and modification time of a file (changes when it is replaced)."""
    if self._archive is None:
      st = os.stat(os.path.join(self._root, path))
      return f'{st.st_size}:{st.st_mtime_ns}'
    st = os.stat(self._archive.path)
    return f'{st.st_size}:{st.st_mtime_ns}:{self._member(path)}'


class _Archive:
  """An open zip file with an index of its folders (built once)."""

  def __init__(self, path: str):
    self.path = path
    try:
      self._zip = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
      raise InputError(f'cannot open archive {path}: {e}') from e
    # zipfile is not safe for concurrent reads of one handle.
    self._lock = threading.Lock()
    self._files: Dict[str, List[str]] = {}
    self._dirs: Dict[str, Set[str]] = {'': set()}
    self._members: Set[str] = set()
    for name in self._zip.namelist():
      is_dir = name.endswith('/')
      name = name.strip('/')
      if not name:
        continue
      parts = name.split('/')
      # Register every ancestor folder: zips need not list folders.
      for i in range(len(parts) - (0 if is_dir else 1)):
        parent = '/'.join(parts[:i])
        self._dirs.setdefault(parent, set()).add(parts[i])
        self._dirs.setdefault('/'.join(parts[:i + 1]), set())
      if not is_dir:
        self._members.add(name)
        self._files.setdefault('/'.join(parts[:-1]), []).append(parts[-1])

  def is_file(self, member: str) -> bool:
    return member in self._members

  def is_dir(self, member: str) -> bool:
    return member in self._dirs

  def list_files(self, member: str) -> List[str]:
    if member not in self._dirs:
      raise InputError(f'missing folder: {self.path}{ZIP_SEPARATOR}{member}')
    return list(self._files.get(member, []))

  def list_dirs(self, member: str) -> List[str]:
    if member not in self._dirs:
      raise InputError(f'missing folder: {self.path}{ZIP_SEPARATOR}{member}')
    return sorted(self._dirs[member])

  def read(self, member: str) -> bytes:
    with self._lock:
      try:
        return self._zip.read(member)
      except (zipfile.BadZipFile, OSError, ValueError) as e:
        # A damaged member (bad CRC, truncated archive).
        raise InputError(f'cannot read {self.path}{ZIP_SEPARATOR}{member}: '
                         f'{e}') from e


class ManualDir:
  """The user's download directory; opens each archive at most once."""

  def __init__(self, root: Optional[str], instructions: str = ''):
    if not root:
      raise InputError('no data directory given (--data_dir): it must hold '
                       'the downloaded dataset.\n' + instructions)
    root = os.fspath(root)
    if not os.path.isdir(root):
      raise InputError(f'data directory {root} does not exist or is not a '
                       'directory.\n' + instructions)
    self.root = os.path.abspath(root)
    self.instructions = instructions
    self._archives: Dict[str, _Archive] = {}

  def _archive(self, name: str) -> Optional[_Archive]:
    path = os.path.join(self.root, name)
    if not os.path.isfile(path):
      return None
    if name not in self._archives:
      self._archives[name] = _Archive(path)
    return self._archives[name]

  def tree(self) -> FileTree:
    return FileTree(self.root)

  def _resolve(self, location: str, want_dir: bool) -> Optional[FileTree]:
    """The tree (want_dir) or the tree holding the file at a location."""
    if ZIP_SEPARATOR in location:
      archive_name, inner = location.split(ZIP_SEPARATOR, 1)
      archive = self._archive(archive_name)
      if archive is None:
        return None
      inner = inner.strip('/')
      if want_dir:
        return (FileTree(self.root, inner, archive)
                if archive.is_dir(inner) else None)
      parent = inner.rsplit('/', 1)[0] if '/' in inner else ''
      return (FileTree(self.root, parent, archive)
              if archive.is_file(inner) else None)
    path = os.path.join(self.root, location)
    if want_dir:
      return FileTree(path) if os.path.isdir(path) else None
    return FileTree(os.path.dirname(path)) if os.path.isfile(path) else None

  def find_dir(self, locations: Sequence[str]) -> Optional[FileTree]:
    """The first location that is a folder, or None."""
    for location in locations:
      tree = self._resolve(location, want_dir=True)
      if tree is not None:
        return tree
    return None

  def find_file(self, locations: Sequence[str]):
    """(FileTree of its folder, file name) of the first existing file."""
    for location in locations:
      tree = self._resolve(location, want_dir=False)
      if tree is not None:
        return tree, location.split(ZIP_SEPARATOR)[-1].rsplit('/', 1)[-1]
    return None

  def missing(self, what: str, locations: Sequence[str]) -> InputError:
    """An InputError saying where `what` was expected and what is there."""
    looked = '\n'.join(f'  {self.describe(loc)}' for loc in locations)
    present = sorted(os.listdir(self.root))
    shown = ', '.join(present[:20]) + (' ...' if len(present) > 20 else '')
    return InputError(
        f'{what} not found in the data directory {self.root}. Looked for:\n'
        f'{looked}\nThe directory holds: {shown or "(nothing)"}\n'
        f'{self.instructions}')

  def describe(self, location: str) -> str:
    if ZIP_SEPARATOR in location:
      archive_name, inner = location.split(ZIP_SEPARATOR, 1)
      return (f'{os.path.join(self.root, archive_name)}{ZIP_SEPARATOR}'
              f'{inner}')
    return os.path.join(self.root, location)

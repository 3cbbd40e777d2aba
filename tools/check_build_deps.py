"""Checks that every Bazel Python target declares what its sources import.

A test whose BUILD rule misses a first-party dependency passes when run from
the checkout (everything is importable there) and fails in Bazel's sandbox,
where only declared dependencies are in the runfiles. This script finds such
rules before any test runs: for every py_library, py_binary and py_test it
reads the module-level imports of the rule's sources and reports each
first-party module that is not among the rule's transitive source files.
Imports inside functions are left alone: they are deliberate (heavy or
cyclic modules loaded on use) and their callers declare them.

Usage: tools/check_build_deps.py
Exit status 1 when something is missing, with one line per import.
"""

import ast
import os
import subprocess
import sys
from xml.etree import ElementTree

FIRST_PARTY = ('wsvis_tf', 'datasets', 'experiments', 'serving', 'tests')


def _rules(pattern):
  """{label: (srcs, deps)} of the Python rules under pattern (one query)."""
  result = subprocess.run(
      ['bazel', 'query', '--noshow_progress', '--output=xml',
       f'kind("py_(test|binary|library) rule", {pattern})'],
      capture_output=True, text=True, check=False)
  if result.returncode != 0:
    sys.exit(f'bazel query failed:\n{result.stderr}')
  rules = {}
  for rule in ElementTree.fromstring(result.stdout).iter('rule'):
    lists = {l.get('name'): [e.get('value') for e in l.iter('label')]
             for l in rule.iter('list')}
    rules[rule.get('name')] = (lists.get('srcs', []), lists.get('deps', []))
  return rules


def _label_path(label):
  """//a/b:c.py -> a/b/c.py."""
  package, _, name = label[2:].partition(':')
  return os.path.join(package, name) if package else name


def _module_level_imports(path):
  with open(path, encoding='utf-8') as f:
    tree = ast.parse(f.read(), filename=path)
  for node in tree.body:
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
      yield node.module
      for alias in node.names:
        yield f'{node.module}.{alias.name}'
    elif isinstance(node, ast.Import):
      for alias in node.names:
        yield alias.name


def main(argv):
  rules = _rules('//...')
  closure = {}

  def transitive_srcs(label):
    if label not in closure:
      closure[label] = set()
      srcs, deps = rules.get(label, ([], []))
      found = {_label_path(s) for s in srcs}
      for dep in deps:
        found |= transitive_srcs(dep)
      closure[label] = found
    return closure[label]

  missing = []
  for label, (srcs, _) in sorted(rules.items()):
    available = transitive_srcs(label)
    for src in srcs:
      src = _label_path(src)
      if not src.endswith('.py'):
        continue
      for module in _module_level_imports(src):
        if not module.startswith(FIRST_PARTY):
          continue
        path = module.replace('.', '/') + '.py'
        if os.path.exists(path) and path not in available:
          missing.append(f'{label}: {src} imports {module}, '
                         'which is not in its deps')
  for line in sorted(set(missing)):
    print(line)
  if missing:
    print(f'{len(set(missing))} first-party imports missing from BUILD deps '
          '(Bazel\'s sandbox will not find them)')
  return 1 if missing else 0


if __name__ == '__main__':
  os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
  sys.exit(main(sys.argv))

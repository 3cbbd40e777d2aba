"""pyproject.toml: the wheel, its console scripts, and an install that runs.

Builds the wheel from a copy of the sources with the project venv's
setuptools (`pip wheel --no-deps --no-build-isolation --no-index`: no
network), checks what it holds, then installs it into a new venv (made with
--without-pip) that sees the project venv's site-packages through a .pth
file, the way `pip install .` into a fresh venv would resolve the stack from
PyPI. From a temporary directory outside the repository, and with no
PYTHONPATH, it runs `wsvis-evaluate` (--help and a real evaluation) and
`wsvis-pipeline --preset=smoke --until=data`.

Run directly, the sources are the checkout's; under Bazel, the runfiles
(the binaries the BUILD file lists, with their dependencies, and every file
of experiments/). ~1 min on 2 CPU cores, most of it the smoke data stage.
"""

import ast
import configparser
import email.parser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

from absl.testing import absltest
import numpy as np
from packaging import requirements
from pycocotools import mask as mask_util

# What the wheel installs, and the repository's other top-level directories.
PACKAGES = ('wsvis_tf', 'datasets', 'experiments', 'serving')
NOT_SHIPPED = ('tests', 'third_party', 'tools', 'external', 'work')
PROJECT_FILES = ('pyproject.toml', 'MANIFEST.in', 'README.md',
                 'requirements.txt')
DIST_INFO = 'wsvis_tf-0.1.0.dist-info'

# The script names the README documents (issue 13); every other binary gets
# a `wsvis-` name too (checked below).
NAMED_SCRIPTS = {
    'wsvis-pipeline': 'experiments.run_pipeline:run',
    'wsvis-evaluate': 'experiments.evaluate:run',
    'wsvis-train-flow': 'experiments.train_flow:run',
    'wsvis-extract-flow': 'experiments.extract_flow:run',
    'wsvis-train-cam': 'experiments.train_cam:run',
    'wsvis-train-irn': 'experiments.train_irn:run',
    'wsvis-pseudo-labels': 'experiments.make_pseudo_labels:run',
    'wsvis-ablate-flowirn': 'experiments.ablate_flowirn:run',
    'wsvis-bench-flow': 'experiments.bench_flow:run',
    'wsvis-bench-irn': 'experiments.bench_irn:run',
    'wsvis-bench-tracker': 'experiments.bench_tracker:run',
    'wsvis-export': 'serving.export:run',
}


def repo_root() -> str:
  """The checkout, or under Bazel the runfiles tree, holding pyproject.toml."""
  here = os.path.dirname(os.path.abspath(__file__))
  for base in (os.path.join(os.environ.get('TEST_SRCDIR', ''),
                            os.environ.get('TEST_WORKSPACE', 'wsvis_tf')),
               os.path.dirname(os.path.dirname(here))):
    if os.path.exists(os.path.join(base, 'pyproject.toml')):
      return base
  raise FileNotFoundError('pyproject.toml not found')


def run(cmd, cwd=None, env=None, timeout=600) -> subprocess.CompletedProcess:
  return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=timeout)


def check(proc: subprocess.CompletedProcess, rc: int = 0):
  if proc.returncode != rc:
    raise AssertionError(f'{proc.args} exited {proc.returncode}, not {rc}:\n'
                         f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
  return proc


def is_binary(source: str) -> bool:
  """Whether a module ends in `if __name__ == '__main__':` (a binary)."""
  for node in ast.parse(source).body:
    if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == '__name__'
        and isinstance(node.test.comparators[0], ast.Constant)
        and node.test.comparators[0].value == '__main__'):
      return True
  return False


def clean_env(**extra) -> dict:
  """os.environ without what would import from elsewhere than the venv."""
  env = {k: v for k, v in os.environ.items()
         if k not in ('PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP',
                      'PYTHONSAFEPATH', 'VIRTUAL_ENV')}
  env.update(TF_CPP_MIN_LOG_LEVEL='2', PIP_DISABLE_PIP_VERSION_CHECK='1',
             PIP_NO_INPUT='1', **extra)
  return env


class InstallTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = repo_root()
    cls.tmp = absltest.TEST_TMPDIR.value
    cls.src = os.path.join(cls.tmp, 'src')
    shutil.rmtree(cls.src, ignore_errors=True)
    for name in PROJECT_FILES:
      os.makedirs(cls.src, exist_ok=True)
      shutil.copy(os.path.join(cls.root, name), cls.src)
    for name in PACKAGES:
      # Copies follow Bazel's runfiles symlinks.
      shutil.copytree(os.path.join(cls.root, name),
                      os.path.join(cls.src, name),
                      ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    dist = os.path.join(cls.tmp, 'dist')
    shutil.rmtree(dist, ignore_errors=True)
    check(run([sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
               '--no-build-isolation', '--no-index', '--no-cache-dir',
               '--wheel-dir', dist, cls.src], env=clean_env()))
    wheels = os.listdir(dist)
    if wheels != ['wsvis_tf-0.1.0-py3-none-any.whl']:
      raise AssertionError(f'expected one pure-Python wheel, got {wheels}')
    cls.wheel = os.path.join(dist, wheels[0])
    with zipfile.ZipFile(cls.wheel) as z:
      cls.names = set(z.namelist())
      cls.entry_points = z.read(f'{DIST_INFO}/entry_points.txt').decode()
      cls.metadata = z.read(f'{DIST_INFO}/METADATA').decode()
      cls.modules = {n: z.read(n).decode() for n in cls.names
                     if n.endswith('.py')}

  def source_files(self, suffix):
    """Paths (relative, '/'-separated) under the copied packages."""
    out = set()
    for package in PACKAGES:
      for d, dirs, files in os.walk(os.path.join(self.src, package)):
        dirs[:] = [x for x in dirs if x != '__pycache__']
        rel = os.path.relpath(d, self.src).replace(os.sep, '/')
        out.update(f'{rel}/{f}' for f in files if f.endswith(suffix))
    return out

  def test_wheel_holds_the_packages_and_nothing_else(self):
    py = self.source_files('.py')
    self.assertGreater(len(py), 20)
    self.assertContainsSubset(py, self.names)
    # The READMEs are package data; BUILD files and tests stay out.
    self.assertContainsSubset(self.source_files('README.md'), self.names)
    self.assertIn('datasets/real_video/README.md', self.names)
    top = {n.split('/')[0] for n in self.names}
    self.assertEqual(top, set(PACKAGES) | {DIST_INFO})
    self.assertEmpty([n for n in self.names if n.endswith('BUILD')])
    self.assertEqual(self.names - py - self.source_files('README.md'),
                     {f'{DIST_INFO}/{f}' for f in (
                         'METADATA', 'WHEEL', 'entry_points.txt',
                         'top_level.txt', 'RECORD')})

  def test_every_python_package_of_the_repository_is_shipped(self):
    # A new top-level package must be added to pyproject.toml's
    # packages.find or listed here as not shipped.
    for name in os.listdir(self.root):
      if (os.path.isfile(os.path.join(self.root, name, '__init__.py'))
          and not name.startswith('bazel-')):
        self.assertIn(name, PACKAGES + NOT_SHIPPED, name)

  def test_every_binary_has_a_console_script(self):
    parser = configparser.ConfigParser()
    parser.optionxform = str
    parser.read_string(self.entry_points)
    scripts = dict(parser['console_scripts'])
    self.assertEqual(set(parser.sections()), {'console_scripts'})
    for name, target in NAMED_SCRIPTS.items():
      self.assertEqual(scripts.get(name), target, name)
    binaries = {
        n[:-3].replace('/', '.') for n, text in self.modules.items()
        if not n.endswith('_test.py') and is_binary(text)}
    self.assertContainsSubset(
        {'experiments.evaluate', 'experiments.run_pipeline',
         'datasets.synthetic.export_ytvis'}, binaries)
    self.assertEqual({t.split(':')[0] for t in scripts.values()}, binaries,
                     'binaries without a console script, or scripts '
                     'without a binary: edit [project.scripts]')
    for name, target in scripts.items():
      self.assertTrue(name.startswith('wsvis-'), name)
      module, func = target.split(':')
      self.assertEqual(func, 'run', name)
      tree = ast.parse(self.modules[module.replace('.', '/') + '.py'])
      runs = [n for n in tree.body
              if isinstance(n, ast.FunctionDef) and n.name == 'run']
      self.assertLen(runs, 1, module)
      # run() takes no arguments and goes through entry_point.run, so
      # `--help` shows the binary's docstring and flags.
      self.assertEmpty(runs[0].args.args, module)
      self.assertEqual(ast.unparse(runs[0].body[-1]),
                       'entry_point.run(main, __name__)', module)
      self.assertNotIn('sys.path.insert', self.modules[
          module.replace('.', '/') + '.py'], module)

  def test_dependencies_are_requirements_txt(self):
    with open(os.path.join(self.src, 'requirements.txt')) as f:
      lines = [l.split('#')[0].strip() for l in f]
    want = [requirements.Requirement(l) for l in lines if l]
    meta = email.parser.Parser().parsestr(self.metadata)
    got = [requirements.Requirement(r) for r in meta.get_all('Requires-Dist')]
    self.assertGreaterEqual(len(want), 10)
    self.assertEqual(got, want)
    self.assertEqual(meta['Name'], 'wsvis-tf')
    self.assertEqual(meta['Requires-Python'], '>=3.10')

  def test_console_scripts_run_outside_the_repository(self):
    venv = os.path.join(self.tmp, 'venv')
    shutil.rmtree(venv, ignore_errors=True)
    check(run([sys.executable, '-m', 'venv', '--without-pip', venv]))
    python = os.path.join(venv, 'bin', 'python')
    site = check(run([python, '-c', 'import sysconfig; '
                      'print(sysconfig.get_paths()["purelib"])'],
                     env=clean_env())).stdout.strip()
    # The stack (TensorFlow, ...) from this interpreter's site-packages,
    # after the venv's own: the wheel's modules come first. A plain path
    # line, so .pth files there (an editable wsvis-tf) are not processed.
    stack = sorted({sysconfig.get_paths()[k] for k in ('purelib', 'platlib')})
    with open(os.path.join(site, 'wsvis_stack.pth'), 'w') as f:
      f.write('\n'.join(stack) + '\n')
    check(run([python, '-m', 'pip', 'install', '--quiet', '--no-deps',
               '--no-index', '--no-cache-dir', self.wheel],
              env=clean_env()))
    for script in NAMED_SCRIPTS:
      self.assertTrue(os.access(os.path.join(venv, 'bin', script), os.X_OK),
                      script)

    cwd = self.create_tempdir('elsewhere').full_path
    env = clean_env()
    where = json.loads(check(run(
        [python, '-c', 'import json, datasets, experiments, wsvis_tf; '
         'print(json.dumps([m.__file__ for m in '
         '(datasets, experiments, wsvis_tf)]))'], cwd=cwd, env=env)).stdout)
    for path in where:
      self.assertTrue(path.startswith(site + os.sep), path)

    evaluate = os.path.join(venv, 'bin', 'wsvis-evaluate')
    # absl exits 1 after --help.
    out = check(run([evaluate, '--help'], cwd=cwd, env=env), rc=1).stdout
    self.assertIn('Evaluates instance segmentation results', out)
    for flag in ('--annotations', '--results', '--mode'):
      self.assertIn(flag, out)

    # A real evaluation: one 4x4 frame, one instance, found exactly.
    square = np.zeros((4, 4), np.uint8)
    square[1:3, 1:3] = 1
    rle = mask_util.encode(np.asfortranarray(square))
    rle['counts'] = rle['counts'].decode('ascii')
    gt = {'images': [{'id': 1, 'height': 4, 'width': 4,
                      'file_name': 'a.jpg'}],
          'categories': [{'id': 1, 'name': 'thing'}],
          'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1,
                           'segmentation': rle, 'area': 4,
                           'bbox': [1, 1, 2, 2], 'iscrowd': 0}]}
    res = [{'image_id': 1, 'category_id': 1, 'segmentation': rle,
            'score': 0.9}]
    for name, value in (('gt.json', gt), ('res.json', res)):
      with open(os.path.join(cwd, name), 'w') as f:
        json.dump(value, f)
    metrics = json.loads(check(run(
        [evaluate, '--annotations=gt.json', '--results=res.json'],
        cwd=cwd, env=env)).stdout)
    self.assertCountEqual(metrics, ['AP', 'AP50', 'AP75'])
    for name, value in metrics.items():
      self.assertAlmostEqual(value, 1.0, places=6, msg=name)

    proc = check(run([os.path.join(venv, 'bin', 'wsvis-pipeline'),
                      '--dataset=synthetic', '--preset=smoke',
                      '--until=data', '--work_dir=work'], cwd=cwd, env=env))
    self.assertRegex(proc.stdout, r'\ndata +ran ')
    with open(os.path.join(cwd, 'work', 'data', 'dataset.json')) as f:
      splits = json.load(f)['splits']
    self.assertEqual((splits['train']['videos'],
                      splits['validation']['videos']), (4, 2))


if __name__ == '__main__':
  absltest.main()

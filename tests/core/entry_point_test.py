"""entry_point.run: a binary behaves the same as a file and as a script.

Writes a tiny absl binary and a console-script wrapper of the form pip
generates (with and without pip's long-path prologue), and runs them in
subprocesses (~3 s).
"""

import os
import subprocess
import sys
import textwrap

from absl.testing import absltest

from wsvis_tf.core import entry_point

BINARY = textwrap.dedent('''\
    """Greets someone; the first line of the help.

    Usage: greet --name=NAME
    """

    from absl import flags

    from wsvis_tf.core import entry_point

    _NAME = flags.DEFINE_string('name', 'world', 'Who is greeted.')


    def main(argv):
      print(f'hello {_NAME.value} {argv[1:]}')
      return 3


    def run():
      entry_point.run(main, __name__)


    if __name__ == '__main__':
      run()
    ''')

# What pip writes to bin/<script> for `greet = greet:run`, after a `#!` line;
# when the interpreter's path is too long for `#!`, after the LONG_PATH lines.
WRAPPER = textwrap.dedent('''\
    # -*- coding: utf-8 -*-
    import re
    import sys
    from greet import run
    if __name__ == '__main__':
        sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
        sys.exit(run())
    ''')
LONG_PATH = ('#!/bin/sh\n'
             "'''exec' \"/a/very/long/venv/bin/python\" \"$0\" \"$@\"\n"
             "' '''\n")
SCRIPTS = ('greet-script', 'greet-long-script')


class EntryPointTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    for name, text in (('greet.py', BINARY), ('greet-script', WRAPPER),
                       ('greet-long-script', LONG_PATH + WRAPPER)):
      with open(os.path.join(self.dir, name), 'w') as f:
        f.write(text)
    # The binary's directory and the one holding wsvis_tf.
    root = os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(entry_point.__file__))))
    self.env = dict(os.environ,
                    PYTHONPATH=os.pathsep.join([self.dir, root]))

  def run_file(self, name, *args):
    return subprocess.run(
        [sys.executable, os.path.join(self.dir, name), *args],
        capture_output=True, text=True, env=self.env, cwd=self.dir,
        timeout=120)

  def test_help_is_the_same_as_a_file_and_as_a_script(self):
    helps = {}
    for name in ('greet.py',) + SCRIPTS:
      proc = self.run_file(name, '--help')
      self.assertEqual(proc.returncode, 1, proc.stderr)  # absl's --help
      self.assertIn('Greets someone; the first line of the help.',
                    proc.stdout, name)
      self.assertIn('Usage: greet --name=NAME', proc.stdout, name)
      self.assertIn("--name: Who is greeted.\n    (default: 'world')",
                    proc.stdout, name)
      # The flags section is headed by the program (absl: sys.argv[0]).
      helps[name] = proc.stdout.replace(os.path.join(self.dir, name),
                                        'PROGRAM')
    for name in SCRIPTS:
      self.assertEqual(helps[name], helps['greet.py'], name)

  def test_flags_arguments_and_exit_status_reach_main(self):
    for name in ('greet.py',) + SCRIPTS:
      proc = self.run_file(name, '--name=you', 'extra')
      self.assertEqual(proc.returncode, 3, proc.stderr)
      self.assertEqual(proc.stdout, "hello you ['extra']\n", name)

  def test_unknown_flag_is_a_usage_error(self):
    proc = self.run_file('greet-script', '--nmae=you')
    self.assertEqual(proc.returncode, 1)
    self.assertIn('Unknown command line flag', proc.stderr)
    self.assertIn("'nmae'", proc.stderr)
    self.assertEqual(proc.stdout, '')

  def test_module_must_be_imported(self):
    with self.assertRaisesRegex(ValueError, "'no_such_binary' is not an "
                                'imported module'):
      entry_point.run(lambda argv: 0, 'no_such_binary')


if __name__ == '__main__':
  absltest.main()

"""``python -m drconsole`` is the same as the ``drconsole`` command.

The process ends as soon as the command has returned and its output is flushed: the
interpreter's teardown of every imported module takes about 0.1 s (measured by
tests/bench/pitr.py) and does nothing a finished command needs (every file drconsole writes is
closed, and fsynced where it matters, before the command returns).
"""

import os
import sys

from drconsole.cli import main

code = main()
try:
    sys.stdout.flush()
    sys.stderr.flush()
except OSError:  # the reader went away; the command's work is done
    pass
os._exit(code)

"""``python -m drconsole`` is the same as the ``drconsole`` command."""

from drconsole.cli import main

raise SystemExit(main())

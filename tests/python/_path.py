"""Import helper: puts the source tree's python/ first on sys.path, so the
unit tests test the package in this tree, not an installed one.  Each test
module does ``import _path`` before importing daemonproxy, and calls
``_path.check()``."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(REPO, 'python')

if sys.path[:1] != [PYTHON_DIR]:
    sys.path.insert(0, PYTHON_DIR)


def check():
    """Fail loudly if the daemonproxy imported is not this tree's."""
    import daemonproxy
    if not daemonproxy.__file__.startswith(PYTHON_DIR + os.sep):
        raise ImportError('testing %s, not the source tree %s' % (daemonproxy.__file__,
                                                                   PYTHON_DIR))

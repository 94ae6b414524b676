"""The parser fuzz target (fuzz_session.py) replayed: every seed of
tests/fuzz/py-corpus as it is, then a few hundred mutations from a fixed
seed, each checked against the target's invariants (only ProtocolError,
exactly when a line cannot be daemonproxy's; a bounded partial line; the
same outcome however the bytes are split).  `make fuzz-py` runs it
longer with random seeds."""

import io
import os
import random
import unittest
from unittest import mock

import _path
import fuzz_session

_path.check()

CORPUS = os.path.join(_path.REPO, 'tests', 'fuzz', 'py-corpus')


class Replay(unittest.TestCase):
    def test_corpus_and_fixed_seed(self):
        seeds = fuzz_session.load_corpus([CORPUS])
        self.assertGreaterEqual(len(seeds), 5)
        out = io.StringIO()
        n = fuzz_session.fuzz(seeds, seed=18, iterations=400, out=out)
        self.assertEqual(n, len(seeds) + 400)
        self.assertIn('invariants held', out.getvalue())

    def test_oracle(self):
        limit = fuzz_session.EVENT_LINE_MAX
        could = fuzz_session.daemon_could_send
        self.assertTrue(could(b'x' * (limit - 1) + b'\nfd.state\tnull\n'))
        self.assertFalse(could(b'x' * limit + b'\n'))
        self.assertFalse(could(b'ok\n' + b'y' * limit))          # the last, unfinished line
        self.assertFalse(could(b'HTTP/1.0 400 Bad Request\r\n'))
        self.assertTrue(could(b'a\tb\t\xff\n'))

    def test_a_parser_without_the_limit_is_caught(self):
        # the session as it was before the limit: long lines buffered and taken
        big = 10 ** 9
        with mock.patch.multiple('daemonproxy.session', EVENT_LINE_MAX=big, _LONG_CHARS=big):
            with self.assertRaisesRegex(fuzz_session.Broken, "cannot be daemonproxy's"):
                fuzz_session.check(b'x' * (fuzz_session.EVENT_LINE_MAX + 5) + b'\n',
                                   random.Random(1))


if __name__ == '__main__':
    unittest.main()

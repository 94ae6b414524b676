"""What a service chooses to say cannot steer the terminal of whoever reads
daemonproxy's log (issue 18): text from a service that reaches a log line
(an FDNAME or a MAINPID= that is refused, say) shows every control
character but TAB as '?', as events do, and one message stays one line."""

from test_notify import NotifyBase

ESCAPES = '\x1b[2J\x1b]0;owned\x07\x7f\x08'


class ControlCharacters(NotifyBase):

    def test_refused_texts_of_a_service_are_made_safe(self):
        d = self.daemon()
        self.agent(d, 'app', opts=['notify', 'fdstore=2'])
        self.up(d, 'app')
        mark = self.log_mark(d)
        f = self.write_file('f.txt', 'x')
        self.send_notify('app', 'FDSTORE=1\nFDNAME=x' + ESCAPES, fds=[['ro', f]])
        self.send_notify('app', 'MAINPID=1' + ESCAPES)
        self.marker(d, 'app')
        self.expect_warnings(d, mark, 2, 'the two refusals')
        text = '\n'.join(d.log.snapshot()[mark:])
        for c in ESCAPES:
            if c != '[' and not c.isalnum() and c not in ']0;':
                self.assertNotIn(c, text, 'control character %r in the log' % c)
        self.assertIn('?[2J?]0;owned???', text)

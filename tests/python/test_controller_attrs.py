"""dpcontroller's execution attributes (issue 22), without a daemon:
``user``, ``group``, ``groups``, ``umask``, ``nice``, ``limits``,
``no_new_privs``, ``capabilities`` and ``cwd``, sent as daemonproxy's
service.opts words (no chain-loader); each bad value with its key; the
definition hash; --check's user and group lookups and plan; a service.opts
that daemonproxy refuses: that service failed, nothing started."""

import grp
import io
import os
import pwd
import sys
import unittest

import _path

_path.check()

from daemonproxy import ServiceWant                                 # noqa: E402
from test_controller_policy import NEED, ControllerCase             # noqa: E402

if sys.version_info >= (3, 11):
    from daemonproxy.controller.__main__ import print_plan
    from daemonproxy.controller.check import check_runnable
    from daemonproxy.controller.config import Config, ConfigError, Service, parse
    from daemonproxy.controller.policy import REFUSED_HASH, define_commands, read_tags
    from daemonproxy.controller.unit import Phase


def service(**table):
    return parse({'service': {'a': dict(table, run=['true'])}}, 'f.toml').services['a']


def problems(**table):
    try:
        parse({'service': {'a': dict(table, run=['true'])}}, 'f.toml')
    except ConfigError as e:
        return e.problems
    raise AssertionError('no ConfigError for %r' % (table,))


def opts(svc):
    return [c for c in define_commands(svc, fresh=True) if c[0] == 'service.opts']


def unused_id(db):
    """An id that db (pwd.getpwuid or grp.getgrgid) does not know."""
    for n in range(40000, 60000):
        try:
            db(n)
        except KeyError:
            return n
    raise AssertionError('every id is taken')


@NEED
class Keys(unittest.TestCase):
    def test_every_key_as_daemonproxy_words(self):
        svc = service(user='www', group='www', groups=['adm', 'video', 'adm'], umask='0027',
                      nice=5, limits={'nproc': '100:200', 'nofile': 65536, 'core': 'infinity',
                                      'stack': '8:8'},
                      no_new_privs=True, cwd='/srv', capabilities=['CAP_NET_RAW',
                                                                  'net_bind_service'])
        self.assertEqual(opts(svc), [(
            'service.opts', 'a', 'user=www', 'group=www', 'groups=adm,video', 'umask=0027',
            'nice=5', 'limit-core=infinity', 'limit-nofile=65536', 'limit-nproc=100:200',
            'limit-stack=8', 'no-new-privs', 'cwd=/srv',
            'caps=cap_net_bind_service,cap_net_raw')])
        self.assertEqual(define_commands(svc, fresh=True)[0], ('service.args', 'a', 'true'),
                         'no chain-loader for cwd')

    def test_other_forms(self):
        self.assertEqual(opts(service(user=0, group=65534, groups=[], umask=0o22, nice=-20)),
                         [('service.opts', 'a', 'user=0', 'group=65534', 'groups=', 'umask=0022',
                           'nice=-20')])
        self.assertEqual(opts(service(umask='7', no_new_privs=False, limits={})),
                         [('service.opts', 'a', 'umask=0007')])
        self.assertEqual(opts(service(ready='notify', user='1000', group='g')),
                         [('service.opts', 'a', 'notify', 'user=1000', 'group=g')])
        self.assertEqual(opts(service()), [], 'nothing sent for a new service without them')

    def test_bad_values_name_their_key(self):
        for table, key, what in [
                ({'user': ''}, 'user', 'a user name or a number'),
                ({'user': -1}, 'user', 'a user name or a number'),
                ({'user': 2 ** 32 - 1}, 'user', 'from 0 to 4294967294'),
                ({'user': 'a,b'}, 'user', 'a user name'),
                ({'user': 'a\tb'}, 'user', 'a user name'),
                ({'user': True}, 'user', 'a user name'),
                ({'group': ['g']}, 'group', 'a group name'),
                ({'groups': 'adm'}, 'groups', 'a list of group names'),
                ({'groups': ['adm', '']}, 'groups', 'a list of group names'),
                ({'umask': '0778'}, 'umask', 'octal digits'),
                ({'umask': '01000'}, 'umask', 'octal digits'),
                ({'umask': 0o1000}, 'umask', 'at most 0777'),
                ({'umask': -1}, 'umask', 'at most 0777'),
                ({'umask': 'u=rwx'}, 'umask', 'octal digits'),
                ({'nice': 20}, 'nice', 'from -20 to 19'),
                ({'nice': -21}, 'nice', 'from -20 to 19'),
                ({'nice': '5'}, 'nice', 'from -20 to 19'),
                ({'limits': 5}, 'limits', 'must be a table'),
                ({'limits': {'files': 5}}, 'limits.files', 'unknown resource'),
                ({'limits': {'nofile': -1}}, 'limits.nofile', 'must be an integer'),
                ({'limits': {'nofile': '10:5'}}, 'limits.nofile', 'soft limit is above'),
                ({'limits': {'nofile': 'infinity:5'}}, 'limits.nofile', 'soft limit is above'),
                ({'limits': {'nofile': 'lots'}}, 'limits.nofile', 'must be an integer'),
                ({'limits': {'nofile': '1:2:3'}}, 'limits.nofile', 'must be an integer'),
                ({'limits': {'nofile': 2 ** 63}}, 'limits.nofile', 'must be an integer'),
                ({'limits': {'nofile': True}}, 'limits.nofile', 'must be an integer'),
                ({'no_new_privs': 'yes'}, 'no_new_privs', 'true or false'),
                ({'capabilities': 'cap_kill'}, 'capabilities', 'a list of capability'),
                ({'capabilities': ['cap_bogus'], 'user': 'www'}, 'capabilities',
                 "no such capability 'cap_bogus'"),
                ({'capabilities': ['cap_kill']}, 'capabilities', 'needs user'),
                ({'capabilities': ['cap_kill'], 'user': 'root'}, 'capabilities', 'needs user'),
                ({'capabilities': ['cap_kill'], 'user': 0}, 'capabilities', 'needs user'),
                ({'cwd': ''}, 'cwd', 'must be a directory path')]:
            got = problems(**table)
            self.assertEqual(len(got), 1, (table, got))
            self.assertTrue(got[0].startswith('f.toml: service.a.%s: ' % key), got)
            self.assertIn(what, got[0])

    def test_hash(self):
        plain = service()
        self.assertEqual(plain.hash, service(no_new_privs=False, limits={}).hash,
                         'nothing set: the hash of before issue 22 (nothing restarts)')
        self.assertNotIn('attributes', plain.definition())
        seen = {plain.hash}
        for table in ({'user': 'www'}, {'user': 'www2'}, {'group': 'g'}, {'groups': []},
                      {'umask': '022'}, {'nice': 1}, {'limits': {'core': 0}},
                      {'no_new_privs': True}, {'user': 'www', 'capabilities': ['cap_kill']}):
            h = service(**table).hash
            self.assertNotIn(h, seen, table)
            seen.add(h)
        self.assertEqual(service(cwd='/srv').definition()['cwd'], '/srv',
                         'cwd: the same key as before (no restart for the change of form)')

    def test_logger_runs_as_daemonproxy(self):
        cfg = parse({'service': {'a': {'run': ['a'], 'user': 'www', 'umask': '077',
                                       'log': ['cat'], 'cwd': '/srv'}}})
        self.assertEqual(cfg.services['a.log'].attributes(), [])
        self.assertEqual(cfg.services['a'].attributes(), ['user=www', 'umask=0077', 'cwd=/srv'])


@NEED
class Check(unittest.TestCase):
    def check(self, **table):
        cfg = parse({'service': {'a': dict(table, run=['true'])}}, 'f.toml')
        return check_runnable(cfg, '/usr/bin:/bin')

    def test_users_and_groups_exist(self):
        me = pwd.getpwuid(0)
        group0 = grp.getgrgid(0).gr_name
        self.assertEqual(self.check(user=me.pw_name, group=group0, groups=[group0, '12345']),
                         [])
        self.assertEqual(self.check(user='0'), [])
        free_uid = unused_id(pwd.getpwuid)
        self.assertEqual(self.check(user='no-such-user-x', group='no-such-group-x',
                                    groups=[group0, 'no-such-group-y']), [
            "f.toml: service.a.user: 'no-such-user-x': no such user",
            "f.toml: service.a.group: 'no-such-group-x': no such group",
            "f.toml: service.a.groups: 'no-such-group-y': no such group"])
        self.assertEqual(self.check(user=free_uid), [
            'f.toml: service.a.user: uid %d is not in /etc/passwd: give group too' % free_uid])
        self.assertEqual(self.check(user=free_uid, group=free_uid), [],
                         'a numeric group need not exist')

    def test_capabilities_of_a_root_user(self):
        # a name of uid 0 other than "root" passes parse(): --check looks it up
        cfg = Config('f.toml', {'a': Service('a', ('true',), user=pwd.getpwuid(0).pw_name,
                                             capabilities=('cap_kill',))})
        self.assertEqual(check_runnable(cfg, '/usr/bin:/bin'), [
            "f.toml: service.a.capabilities: user %r is root, which gets every capability "
            "at the exec" % pwd.getpwuid(0).pw_name])

    def test_the_plan_shows_the_keys(self):
        cfg = parse({'service': {
            'a': {'run': ['a'], 'user': 'www', 'group': 'g', 'groups': [], 'umask': 0o27,
                  'nice': 5, 'limits': {'nofile': 10, 'core': '0:infinity'},
                  'no_new_privs': True, 'capabilities': ['cap_kill']},
            'b': {'run': ['b']}}}, 'f.toml')
        out = io.StringIO()
        print_plan(cfg, out)
        text = out.getvalue()
        self.assertIn(' user=www group=g groups=[] umask=0027 nice=5 '
                      'limits=core=0:infinity,nofile=10 no_new_privs=true '
                      'capabilities=cap_kill\n', text)
        self.assertIn('stop=SIGTERM/10s\n', text.split('# b:')[1], 'b: as before')
        self.assertIn('service.opts\ta\tuser=www\tgroup=g\tgroups=\tumask=0027', text)


@NEED
class Refused(ControllerCase):
    """daemonproxy refuses a service.opts (a user gone from /etc/passwd
    since --check): that service is failed, nothing of it runs."""

    WHY = "invalid option 'user=gone': no such user"

    def controller(self, services, refuse=True, **ctl):
        self.dp.refuse = {('service.opts', 'web', 'user=gone', 'umask=0022'): self.WHY} \
            if refuse else {}
        return super().controller(services, **ctl)

    def sent(self, kind, name='web'):
        return [f for f in self.dp.sent if f[0] == kind and f[1] == name]

    def test_refused_is_a_failure_not_a_start(self):
        c = self.controller({'web': {'run': ['w'], 'user': 'gone', 'umask': '022'},
                             'ok': {'run': ['ok'], 'user': 'x'},
                             'dep': {'run': ['d'], 'requires': ['web']}})
        self.assertEqual(self.sent('service.start'), [], 'never started')
        self.assertEqual(self.sent('service.start', 'dep'), [])
        self.assertEqual(self.sent('service.start', 'ok'), [('service.start', 'ok')])
        self.assertEqual(self.sent('service.args'), [('service.args', 'web')],
                         'its argv unset: nothing runs it with the attributes it had')
        opts = self.dp.sent.index(('service.opts', 'web', 'user=gone', 'umask=0022'))
        self.assertLess(opts, self.dp.sent.index(('service.args', 'web')),
                        'the opts first, waited for')
        self.assertEqual(c.units['web'].phase, Phase.FAILED)
        self.assertEqual(c.units['dep'].phase, Phase.GAVE_UP)
        reason = 'daemonproxy refused its execution attributes: ' + self.WHY
        self.assertIn(('service.want', 'web', 'failed', reason), self.dp.sent)
        self.assertIn('web: ' + reason, self.lines)
        self.assertEqual(read_tags(self.sent('service.tags')[-1][2:]).hash, REFUSED_HASH,
                         'a controller started later defines it again')

    def test_wanted_up_defines_it_again(self):
        c = self.controller({'web': {'run': ['w'], 'user': 'gone', 'umask': '022'}})
        self.dp.refuse = {}                             # the user was added
        n = len(self.dp.sent)
        self.feed(c, ServiceWant('web', 'up', 'uid=0', 50, 'dpctl start'))
        again = self.dp.sent[n:]
        self.assertIn(('service.opts', 'web', 'user=gone', 'umask=0022'), again)
        self.assertIn(('service.args', 'web', 'w'), again)
        self.assertIn(('service.start', 'web'), again)
        self.assertIsNone(c.units['web'].refused)
        self.assertEqual(c.units['web'].phase, Phase.STARTING)

    def test_accepted(self):
        c = self.controller({'web': {'run': ['w'], 'user': 'gone', 'umask': '022'}},
                            refuse=False)
        self.assertEqual(self.sent('service.args'), [('service.args', 'web', 'w')])
        self.assertEqual(self.sent('service.start'), [('service.start', 'web')])
        self.assertEqual(c.units['web'].phase, Phase.STARTING)


if __name__ == '__main__':
    unittest.main()

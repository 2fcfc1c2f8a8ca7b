# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""BIRD 2 as the calico_bird module runs it: the system's bird.service, or a bird process of its own
inside a network namespace (its configuration, control socket, pid file and log), started, reloaded,
stopped and asked for its sessions and routes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import tempfile
import time

from ansible_collections.labnet.calico.plugins.module_utils.bird import lab_prefixes, wait_for_bgp, wait_message
from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError, parse_json_output, run_argv

HEADER = '# labnet.calico: the lab wrote this file (calico_bird); state=absent removes it.\n'
SERVICE_RECORD = 'bird-service.json'
SAVED_CONFIG = 'bird.conf.before-lab'
# What birdc configure answers when BIRD took the new file (or will, after the one it is loading).
RECONFIGURE_ACCEPTED = ('Reconfigured', 'Reconfiguration in progress', 'queueing new config')
# daemon=service: once the lab's BIRD runs, a drop-in (in /run: a reboot, which loses the kernel routes
# too, drops it) makes every later start of the unit (Restart=on-abort after a crash, a restart by hand,
# a re-run after systemd gave up) recover with -R, as calico-node always starts BIRD. The command line
# is Debian bird2's bird.service ExecStart with -R added; $BIRD_ARGS of /etc/bird/envvars still applies.
RECOVER_DROPIN = '/run/systemd/system/%s.service.d/labnet-calico-recover.conf'
RECOVER_UNIT = (HEADER + '[Service]\nExecStart=\n'
                'ExecStart=%s -f -u $BIRD_RUN_USER -g $BIRD_RUN_GROUP $BIRD_ARGS -R\n')


class Bird:
    """One BIRD instance: its files, how to start, reconfigure and stop it, what it says."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.daemon = params['daemon']
        self.service = self.daemon == 'service'
        self.config_path = params['config_path'] or ('/etc/bird/bird.conf' if self.service else None)
        self.socket = params['socket'] or ('/run/bird/bird.ctl' if self.service else None)
        self.pid_file = params['pid_file']
        self.recover_dropin = RECOVER_DROPIN % params['service_name']
        self.actions = []

    def run(self, argv, check_rc=True):
        return run_argv(self.module, argv, check_rc=check_rc)

    def binary(self, name):
        path = self.module.get_bin_path(name)
        if path:
            return path
        if name == 'systemctl':
            raise LabError('systemctl is not on PATH: daemon=service runs the system service bird.service, and this '
                           'host has no systemd (a container?). Boot it with systemd, or use daemon=process '
                           '(the netns provider does: calico_lab_provider: netns)')
        raise LabError('%s is not on PATH: BIRD 2 is not installed on this host. Install it: apt-get install bird2 '
                       '(Debian/Ubuntu), or dnf install bird (Fedora)' % name)

    def bird_routes(self, strict=True):
        """The kernel's ``proto bird`` routes of both families (``ip -j -4`` and ``ip -j -6``), as dicts.
        Not strict (a poll): a read that fails counts as no routes, and the next poll reads again."""
        ip = self.binary('ip')
        routes = []
        # A kernel without IPv6 (ipv6.disable=1) has no v6 routes to read, and ip -6 would fail.
        families = ['-4', '-6'] if os.path.isdir('/proc/sys/net/ipv6') else ['-4']
        for family in families:
            rc, out, _err = self.run([ip, '-j', family, 'route', 'show', 'proto', 'bird'], check_rc=strict)
            try:
                routes.extend(parse_json_output(out) if rc == 0 else [])
            except ValueError:
                if strict:
                    raise LabError('ip -j %s route show proto bird: not JSON: %s' % (family, out[:200]))
        return routes

    def bgp_state(self):
        """(``birdc show protocols`` text or None when BIRD does not answer, [dst of proto bird routes])."""
        rc, out, _err = self.run([self.binary('birdc'), '-s', self.socket, 'show', 'protocols'], check_rc=False)
        return (out if rc == 0 else None), [route.get('dst') for route in self.bird_routes(strict=False)]

    def wait(self):
        """Until the wanted sessions are Established and the wanted routes in the kernel; one message if not."""
        params = self.module.params
        if self.module.check_mode:
            return 0.0
        start = time.time()
        sessions, routes = wait_for_bgp(self.bgp_state, params['wait_sessions'], params['wait_routes'],
                                        params['wait_timeout'])
        if sessions or routes:
            log = params['log'] or 'journalctl -u %s' % params['service_name']
            raise LabError(wait_message(params['wait_timeout'], sessions, routes, self.socket, log))
        return round(time.time() - start, 1)

    # The configuration file.

    def current_config(self):
        try:
            with open(self.config_path) as handle:
                return handle.read()
        except (IOError, OSError):
            return None

    def check_config(self, text):
        """bird -p on a copy: a configuration BIRD rejects fails the task before anything changes."""
        if self.module.check_mode and not self.module.get_bin_path('bird'):
            return  # an earlier task would install it
        handle, path = tempfile.mkstemp(prefix='labnet-bird-', suffix='.conf')
        try:
            with os.fdopen(handle, 'w') as out:
                out.write(text)
            rc, out, err = self.run([self.binary('bird'), '-p', '-c', path], check_rc=False)
            if rc != 0:
                raise LabError('config: bird rejects it: %s' % (err or out).strip().replace(path, 'config'))
        finally:
            os.unlink(path)

    def write_config(self, text):
        directory = os.path.dirname(self.config_path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        old = os.stat(self.config_path) if os.path.exists(self.config_path) else None
        handle, path = tempfile.mkstemp(dir=directory, prefix='.labnet-bird-')
        with os.fdopen(handle, 'w') as out:
            out.write(text)
        # BIRD may re-read the file as its own user (Debian runs it as bird:bird): keep the old
        # file's owner and mode, or make it world-readable.
        if old:
            os.chown(path, old.st_uid, old.st_gid)
            os.chmod(path, old.st_mode & 0o7777)
        else:
            os.chmod(path, 0o644)
        os.rename(path, self.config_path)

    # The daemon.

    def process_pid(self):
        """Pid of the process this configuration runs in (its pid file, a bird, our config), or None."""
        try:
            with open(self.pid_file) as handle:
                pid = int(handle.read().strip())
            with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                argv = handle.read().decode('utf-8', 'replace').split('\0')
        except (IOError, OSError, ValueError):
            return None
        if os.path.basename(argv[0]) == 'bird' and self.config_path in argv:
            return pid
        return None

    def service_active(self):
        return self.systemctl_says('is-active')

    def service_enabled(self):
        return self.systemctl_says('is-enabled')

    def systemctl_says(self, question):
        rc, _out, _err = self.run([self.binary('systemctl'), question, '--quiet', self.module.params['service_name']],
                                  check_rc=False)
        return rc == 0

    def running(self):
        return self.service_active() if self.service else self.process_pid() is not None

    def start(self):
        if self.service:
            # The drop-in is there only after the lab's BIRD ran in this boot: it died since.
            if os.path.exists(self.recover_dropin):
                self.actions.append('recovered after a crash')
            self.run([self.binary('systemctl'), 'start', self.module.params['service_name']])
        else:
            argv = [self.binary('bird'), '-c', self.config_path, '-s', self.socket, '-P', self.pid_file]
            # A pid file without its process: the last BIRD crashed, and its routes are still in
            # the kernel (persist). Recover as calico-node's BIRD always starts (bird -R): keep them
            # until the peers have sent theirs again.
            crashed = os.path.exists(self.pid_file)
            if os.path.exists(self.socket):
                os.unlink(self.socket)  # left by a process that did not stop cleanly
            self.run(argv + (['-R'] if crashed else []))
            if crashed:
                self.actions.append('recovered after a crash')
        self.actions.append('started')

    def reconfigure(self):
        _rc, out, err = self.run([self.binary('birdc'), '-s', self.socket, 'configure'])
        text = out + err
        if not any(answer in text for answer in RECONFIGURE_ACCEPTED):
            raise LabError('birdc configure: %s' % text.strip())
        self.actions.append('reconfigured')

    def stop(self):
        if self.service:
            self.run([self.binary('systemctl'), 'stop', self.module.params['service_name']])
        else:
            pid = self.process_pid()
            try:
                os.kill(pid, signal.SIGTERM)  # BIRD shuts its sessions down and removes its routes
            except ProcessLookupError:
                pass  # it exited since we looked
            if not wait_until(lambda: process_gone(pid), 15):
                raise LabError('bird (pid %d) did not stop within 15 s of SIGTERM' % pid)
        self.actions.append('stopped')
        self.withdraw_routes()

    def withdraw_routes(self):
        """After a clean stop: BIRD kept its kernel routes (persist); remove the lab's, at once."""
        prefixes = set(lab_prefixes(self.current_config()))
        ip = self.binary('ip')
        for route in self.bird_routes():
            if route.get('dst') in prefixes:
                family = '-6' if ':' in route['dst'] else '-4'
                self.run([ip, family, 'route', 'del', route['dst'], 'proto', 'bird'], check_rc=False)

    def recover_on_restart(self, wanted=True):
        """daemon=service: the -R drop-in present (after the first start) or removed (state=absent)."""
        text = RECOVER_UNIT % self.binary('bird') if wanted else None
        try:
            with open(self.recover_dropin) as handle:
                current = handle.read()
        except (IOError, OSError):
            current = None
        if current == text:
            return
        if not self.module.check_mode:
            if text is None:
                os.unlink(self.recover_dropin)
                try:
                    os.rmdir(os.path.dirname(self.recover_dropin))  # made with the drop-in; kept if not empty
                except OSError:
                    pass
            else:
                if not os.path.isdir(os.path.dirname(self.recover_dropin)):
                    os.makedirs(os.path.dirname(self.recover_dropin), 0o755)
                with open(self.recover_dropin, 'w') as out:
                    out.write(text)
            self.run([self.binary('systemctl'), 'daemon-reload'])
        self.actions.append('restarts recover with -R' if wanted else 'restarts as packaged')

    def disable(self):
        self.run([self.binary('systemctl'), 'disable', '--quiet', self.module.params['service_name']])
        self.actions.append('disabled')


def process_gone(pid):
    """True once the process has exited (a zombie waiting for its parent counts as gone)."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except (IOError, OSError):
        return True


def wait_until(condition, timeout, interval=0.5):
    deadline = time.time() + timeout
    while True:
        if condition():
            return True
        if time.time() >= deadline:
            return False
        time.sleep(interval)

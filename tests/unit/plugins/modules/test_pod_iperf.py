"""pod_iperf's pid file handling: a server is stopped only when its pid file names a running iperf3 server
of that very file (a reused pid of another process is never signalled)."""

import os

import pytest

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.modules import pod_iperf


def test_pidfile_names_are_checked():
    assert pod_iperf.pidfile_of('netns03-1a2b') == '/run/labnet-calico/iperf3-netns03-1a2b.pid'
    with pytest.raises(LabError, match='name'):
        pod_iperf.pidfile_of('../etc')


def test_a_pid_file_of_another_process_is_not_a_server(tmp_path):
    pidfile = str(tmp_path / 'iperf3-x.pid')
    with open(pidfile, 'w') as handle:
        handle.write('%d\n' % os.getpid())     # this pytest process: not iperf3
    assert pod_iperf.running_server(pidfile) is None
    assert pod_iperf.stop_server(pidfile) is None
    assert not os.path.exists(pidfile)          # the stale file is removed, nothing signalled
    assert pod_iperf.running_server(str(tmp_path / 'missing.pid')) is None

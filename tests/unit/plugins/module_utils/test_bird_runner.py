"""bird_runner.Bird with daemon=service: the lab's drop-in that makes every restart of bird.service after
the first start recover with -R (graceful restart), as calico-node starts BIRD; removed at state=absent."""
import pytest

from ansible_collections.labnet.calico.plugins.module_utils import bird_runner

# Debian bird2 2.0.12-7, /lib/systemd/system/bird.service (recorded): the line the drop-in replaces.
DEBIAN_EXECSTART = 'ExecStart=/usr/sbin/bird -f -u $BIRD_RUN_USER -g $BIRD_RUN_GROUP $BIRD_ARGS'


class FakeModule:
    """Enough of AnsibleModule for Bird: params, binaries in /usr/sbin, every command recorded."""

    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self.params = dict(daemon='service', config_path=None, socket=None, pid_file=None, service_name='bird')
        self.commands = []

    def get_bin_path(self, name, required=False):
        return '/usr/sbin/' + name

    def run_command(self, argv, **_kwargs):
        self.commands.append(argv)
        return 0, '', ''


@pytest.fixture
def bird(tmp_path):
    service = bird_runner.Bird(FakeModule())
    assert service.recover_dropin == '/run/systemd/system/bird.service.d/labnet-calico-recover.conf'
    service.recover_dropin = str(tmp_path / 'bird.service.d' / 'labnet-calico-recover.conf')
    return service


def test_the_drop_in_restarts_debians_command_line_with_minus_r(bird):
    bird.recover_on_restart()
    text = open(bird.recover_dropin).read()
    assert text.startswith(bird_runner.HEADER)
    # ExecStart= first clears the package's line (systemd appends ExecStart lines otherwise).
    assert text.split('\n', 1)[1] == '[Service]\nExecStart=\n' + DEBIAN_EXECSTART + ' -R\n'
    assert bird.module.commands == [['/usr/sbin/systemctl', 'daemon-reload']]
    assert bird.actions == ['restarts recover with -R']
    # Already there: nothing run, nothing reported.
    bird.actions, bird.module.commands = [], []
    bird.recover_on_restart()
    assert bird.actions == [] and bird.module.commands == []


def test_a_start_with_the_drop_in_is_a_recovery(bird):
    bird.start()
    assert bird.actions == ['started']
    bird.recover_on_restart()
    bird.actions, bird.module.commands = [], []
    bird.start()  # the service died after the lab had started it
    assert bird.actions == ['recovered after a crash', 'started']
    assert bird.module.commands == [['/usr/sbin/systemctl', 'start', 'bird']]


def test_state_absent_removes_the_drop_in(bird):
    bird.recover_on_restart()
    bird.actions, bird.module.commands = [], []
    bird.recover_on_restart(False)
    assert not bird_runner.os.path.exists(bird_runner.os.path.dirname(bird.recover_dropin))  # nor its directory
    assert bird.module.commands == [['/usr/sbin/systemctl', 'daemon-reload']]
    assert bird.actions == ['restarts as packaged']
    bird.actions, bird.module.commands = [], []
    bird.recover_on_restart(False)
    assert bird.actions == [] and bird.module.commands == []


def test_check_mode_writes_nothing_and_says_what_it_would_do(tmp_path):
    bird = bird_runner.Bird(FakeModule(check_mode=True))
    bird.recover_dropin = str(tmp_path / 'labnet-calico-recover.conf')
    bird.recover_on_restart()
    assert bird.actions == ['restarts recover with -R']
    assert bird.module.commands == [] and not bird_runner.os.path.exists(bird.recover_dropin)


@pytest.mark.skipif(not bird_runner.os.path.exists('/lib/systemd/system/bird.service'), reason='no bird2 package here')
def test_the_recorded_line_is_the_installed_packages():
    assert DEBIAN_EXECSTART in open('/lib/systemd/system/bird.service').read().splitlines()


def test_a_directory_with_other_drop_ins_stays(bird):
    bird.recover_on_restart()
    other = bird_runner.os.path.join(bird_runner.os.path.dirname(bird.recover_dropin), 'local.conf')
    open(other, 'w').close()
    bird.recover_on_restart(False)
    assert bird_runner.os.path.exists(other) and not bird_runner.os.path.exists(bird.recover_dropin)

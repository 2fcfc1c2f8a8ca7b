"""The netns connection plugin without root: argv, options, errors and file copies."""
import base64
import hashlib
import importlib.util
import io
import marshal
import zipfile
import zipimport

import pytest

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.playbook.play_context import PlayContext

from ansible_collections.labnet.calico.plugins.connection import netns


class FakeProcess:
    returncode = 0

    def __init__(self, calls, argv, **kwargs):
        calls.append({'argv': [a.decode() for a in argv], 'kwargs': kwargs})
        self.calls = calls

    def communicate(self, data=None):
        self.calls[-1]['stdin'] = data
        return b'out', b'err'


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(netns, 'NETNS_DIR', str(tmp_path))
    monkeypatch.setattr(netns, 'find_nsenter', lambda: '/usr/bin/nsenter')
    return tmp_path


def connection(remote_addr='host-a', netns_name=None):
    context = PlayContext()
    context.remote_addr = remote_addr
    conn = netns.Connection(context)
    conn._options = {'netns_name': netns_name, 'pipelining': True}  # what set_options would leave
    return conn


def test_argv_enters_only_the_network_namespace():
    assert netns.nsenter_argv('/usr/bin/nsenter', '/run/netns/host-a', '/bin/sh', 'echo hi') == [
        '/usr/bin/nsenter', '--net=/run/netns/host-a', '--', '/bin/sh', '-c', 'echo hi']


@pytest.mark.parametrize('name', ['', '.', '..', '../etc', 'a/b', None])
def test_names_that_leave_run_netns_are_refused(name):
    with pytest.raises(AnsibleConnectionFailure):
        netns.netns_path(name)


def test_no_nsenter_is_a_clear_error(run_dir, monkeypatch):
    (run_dir / 'host-a').touch()
    monkeypatch.setattr(netns, 'find_nsenter', lambda: None)
    with pytest.raises(AnsibleConnectionFailure, match='nsenter'):
        connection()._connect()


def test_the_plugin_pipelines():
    assert netns.Connection.has_pipelining is True
    assert netns.Connection.transport == 'labnet.calico.netns'


def test_a_missing_namespace_says_to_create_the_lab(run_dir, monkeypatch):
    monkeypatch.setattr(netns.context, 'CLIARGS', {'inventory': ('inventories/two subnets',)})
    with pytest.raises(AnsibleConnectionFailure) as error:
        connection()._connect()
    # What is missing, and the real command that makes it (there is no "create playbook").
    assert str(error.value) == (
        "lab host host-a is not running: network namespace %s/host-a does not exist. Make the lab first: "
        "ansible-playbook playbooks/bgp.yml -i 'inventories/two subnets' (or ipip.yml, vxlan.yml; a --check "
        "run makes nothing), or molecule create in a Molecule scenario" % run_dir)
    monkeypatch.setattr(netns.context, 'CLIARGS', {})
    with pytest.raises(AnsibleConnectionFailure, match=r'Make the lab first: ansible-playbook playbooks/bgp\.yml \(or'):
        connection()._connect()


def test_exec_runs_nsenter_with_stdin_for_pipelining(run_dir, monkeypatch):
    (run_dir / 'host-a').touch()
    calls = []
    monkeypatch.setattr(netns.subprocess, 'Popen', lambda argv, **kw: FakeProcess(calls, argv, **kw))
    conn = connection()
    conn._connect()
    assert conn.exec_command("/bin/sh -c 'python3 && sleep 0'", in_data=b'module source') == (0, b'out', b'err')
    executable = netns.C.DEFAULT_EXECUTABLE.split()[0]
    assert calls[0]['argv'] == ['/usr/bin/nsenter', '--net=%s/host-a' % run_dir, '--', executable, '-c',
                                "/bin/sh -c 'python3 && sleep 0'"]
    assert calls[0]['stdin'] == b'module source'


def test_netns_name_wins_over_the_host_address(run_dir, monkeypatch):
    (run_dir / 'lab-b').touch()
    calls = []
    monkeypatch.setattr(netns.subprocess, 'Popen', lambda argv, **kw: FakeProcess(calls, argv, **kw))
    conn = connection(remote_addr='host-b', netns_name='lab-b')
    conn._connect()
    conn.exec_command('true')
    assert calls[0]['argv'][1] == '--net=%s/lab-b' % run_dir


def test_a_namespace_gone_between_tasks_is_reported(run_dir):
    (run_dir / 'host-a').touch()
    conn = connection()
    conn._connect()
    (run_dir / 'host-a').unlink()
    with pytest.raises(AnsibleConnectionFailure, match='lab host host-a is not running'):
        conn.exec_command('true')


def test_become_with_a_password_is_refused(run_dir):
    (run_dir / 'host-a').touch()

    class Become:
        def expect_prompt(self):
            return True

    conn = connection()
    conn._connect()
    conn.become = Become()
    with pytest.raises(AnsibleError, match='become with a password is not supported'):
        conn.exec_command('true')


def test_files_are_plain_copies(run_dir, tmp_path):
    (run_dir / 'host-a').touch()
    source, target, back = tmp_path / 'in.txt', tmp_path / 'out.txt', tmp_path / 'back.txt'
    source.write_text('payload')
    conn = connection()
    conn._connect()
    conn.put_file(str(source), str(target))
    conn.fetch_file(str(target), str(back))
    assert back.read_text() == 'payload'
    with pytest.raises(AnsibleFileNotFound):
        conn.put_file(str(tmp_path / 'nothing-here'), str(target))


def zip_of(files):
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as target:
        for name, data in files.items():
            target.writestr(name, data)
    return out.getvalue()


def test_the_payload_gains_an_unchecked_pyc_beside_every_py_that_zipimport_runs(tmp_path):
    source = b'ANSWER = 6 * 7\n'
    payload = netns.payload_with_bytecode(zip_of({'pkg/__init__.py': b'', 'pkg/answer.py': source, 'pkg/data.txt': b'x'}))
    with zipfile.ZipFile(io.BytesIO(payload)) as result:
        assert sorted(result.namelist()) == ['pkg/__init__.py', 'pkg/__init__.pyc', 'pkg/answer.py',
                                             'pkg/answer.pyc', 'pkg/data.txt']
        pyc = result.read('pkg/answer.pyc')
    # PEP 552: magic, flags 1 (hash-based, not checked against the source), the source's hash, the code.
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert pyc[4:8] == (1).to_bytes(4, 'little')
    assert pyc[8:16] == importlib.util.source_hash(source)
    namespace = {}
    exec(marshal.loads(pyc[16:]), namespace)
    assert namespace['ANSWER'] == 42
    # zipimport takes the bytecode even where the source beside it says something else.
    changed = zip_of({'pkg/__init__.py': b'', 'pkg/answer.py': b'ANSWER = 0\n', 'pkg/answer.pyc': pyc})
    archive = tmp_path / 'payload.zip'
    archive.write_bytes(changed)
    importer = zipimport.zipimporter(str(archive) + '/pkg/')
    spec = importer.find_spec('answer')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ANSWER == 42


def test_the_wrapper_carries_the_bytecode_payload_cached_by_its_hash(tmp_path):
    encoded = base64.b64encode(zip_of({'mod.py': b'X = 1\n'}))
    wrapper = b"def _ansiballz_main():\n    ZIPDATA = None\n    _ansiballz_main(\nzip_data='" + encoded + b"',\n)\n"
    first = netns.wrapper_with_bytecode(wrapper, str(tmp_path))
    line = netns.ZIP_DATA.search(first)
    assert first[:line.start(1)] == wrapper[:netns.ZIP_DATA.search(wrapper).start(1)]
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(line.group(1)))) as result:
        assert sorted(result.namelist()) == ['mod.py', 'mod.pyc']
    cached = list(tmp_path.iterdir())
    assert [path.name for path in cached] == ['labnet-netns-%s.b64' % hashlib.sha256(encoded).hexdigest()]
    cached[0].write_bytes(base64.b64encode(zip_of({'from_cache.py': b''})))  # the second call reads the file
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(netns.ZIP_DATA.search(
            netns.wrapper_with_bytecode(wrapper, str(tmp_path))).group(1)))) as result:
        assert result.namelist() == ['from_cache.py']


def test_a_wrapper_without_a_payload_line_is_left_as_it_is(tmp_path):
    wrapper = b"#!/usr/bin/python\nprint('no zip_data here')\n"
    assert netns.wrapper_with_bytecode(wrapper, str(tmp_path)) is wrapper
    assert list(tmp_path.iterdir()) == []

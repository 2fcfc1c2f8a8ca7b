"""calico_lab_provider: auto - the provider chosen from what this kernel has (read from fake
/sys/module and /lib/modules trees here), and what runs when there is no mode."""
import os

from ansible_collections.labnet.calico.plugins.filter import calico_provider as provider


def kernel(tmp_path, loaded=(), dep=(), builtin=()):
    sys_module = tmp_path / 'sys-module'
    modules = tmp_path / 'modules'
    sys_module.mkdir(parents=True)
    modules.mkdir(parents=True)
    for name in loaded:
        (sys_module / name).mkdir()
    (modules / 'modules.dep').write_text(''.join('kernel/net/ipv4/%s.ko.zst: kernel/net/ipv4/tunnel4.ko.zst\n' % n
                                                 for n in dep))
    (modules / 'modules.builtin').write_text(''.join('kernel/drivers/net/%s.ko\n' % n for n in builtin))
    return {'sys_module': str(sys_module), 'modules_dir': str(modules)}


def test_driver_found_loaded_listed_or_builtin_and_not_by_prefix(tmp_path):
    assert provider.kernel_driver('vxlan', **kernel(tmp_path / 'a', loaded=['vxlan']))[0]
    assert provider.kernel_driver('ipip', **kernel(tmp_path / 'b', dep=['ipip']))[0]
    assert provider.kernel_driver('ipip', **kernel(tmp_path / 'c', builtin=['ipip']))[0]
    found, why = provider.kernel_driver('ipip', **kernel(tmp_path / 'd', dep=['ipip6', 'ip_tunnel']))
    assert not found and 'lists no ipip.ko' in why


def test_auto_picks_vms_for_ipip_without_the_driver_and_namespaces_otherwise(tmp_path):
    bare = kernel(tmp_path / 'bare', loaded=['vxlan'])
    assert provider._choose('auto', 'ipip', 'host-a', None, **bare)[0] == 'qemu'
    assert 'no ipip driver, which IPIP mode needs' in provider._choose('auto', 'ipip', 'host-a', None, **bare)[1]
    assert provider._choose('auto', 'vxlan', 'host-a', None, **bare)[0] == 'netns'
    assert provider._choose('auto', 'bgp', 'host-a', None, **bare)[0] == 'netns'
    assert provider._choose('auto', 'ipip', 'host-a', None, **kernel(tmp_path / 'full', dep=['ipip']))[0] == 'netns'
    assert provider._choose('auto', 'vxlan', 'host-a', None, **kernel(tmp_path / 'novx'))[0] == 'qemu'


def test_explicit_providers_mean_exactly_that(tmp_path):
    bare = kernel(tmp_path)
    assert provider._choose('netns', 'ipip', 'host-a', None, **bare)[0] == 'netns'
    assert provider._choose('qemu', 'bgp', 'host-a', None, **bare)[0] == 'qemu'
    assert provider.calico_provider(None, 'bgp', 'host-a') == ''


def test_without_a_mode_auto_follows_what_runs(tmp_path):
    netns_dir, run_dir = tmp_path / 'netns', tmp_path / 'run'
    (run_dir / 'host-b').mkdir(parents=True)
    netns_dir.mkdir()
    (netns_dir / 'host-a').write_text('')
    (run_dir / 'host-b' / 'qemu.pid').write_text('1')

    def choose(host):
        return provider._choose('auto', 'any', host, str(run_dir), netns_dir=str(netns_dir))[0]
    assert (choose('host-a'), choose('host-b'), choose('host-c')) == ('netns', 'qemu', 'netns')


def test_hosts_of_a_provider(tmp_path):
    hostvars = {'a': {'calico_lab_provider': 'qemu'}, 'b': {'calico_lab_provider': 'netns'}, 'c': {}}
    assert provider.calico_provider_hosts(hostvars, ['a', 'b', 'c'], 'qemu', 'bgp') == ['a']
    assert provider.calico_provider_hosts(hostvars, ['a', 'b', 'c'], 'netns', 'bgp') == ['b']
    assert os.path.isdir('/sys')  # the real lookups below read only
    assert provider.calico_provider('auto', 'bgp', 'x') == 'netns'


def test_missing_commands_looks_on_the_path_then_in_sbin(tmp_path):
    tool = tmp_path / 'labnet-tool'
    tool.write_text('#!/bin/sh\n')
    tool.chmod(0o755)
    found_on_path = provider.calico_missing_commands(['labnet-tool', 'labnet-no-such-tool'], path=str(tmp_path))
    assert found_on_path == ['labnet-no-such-tool']
    # With an empty PATH the sbin directories are still searched (ip lives in /usr/sbin or /sbin).
    assert provider.calico_missing_commands(['ip', 'labnet-tool'], path='') == ['labnet-tool']
    assert provider.calico_missing_commands([], path='') == []

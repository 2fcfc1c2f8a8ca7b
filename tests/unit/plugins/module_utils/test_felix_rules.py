"""Felix's chains rendered for one host, compared with a recorded iptables-save of a netns host."""
import base64
import hashlib
import os

from ansible_collections.labnet.calico.plugins.module_utils import felix_rules as fr
from ansible_collections.labnet.calico.plugins.module_utils.calico_policy import normalize
from ansible_collections.labnet.calico.plugins.module_utils.calico_selector import ipset_name, parse

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
# The policies and pods the recorded host was programmed with (calico_policy, then `iptables -A FORWARD -j other`).
POLICIES = normalize([
    {'name': 'web-default-deny', 'order': 100, 'selector': 'app == "web"', 'types': ['Ingress']},
    {'name': 'allow-clients', 'order': 10, 'selector': 'app == "web"', 'ingress': [
        {'action': 'Allow', 'protocol': 'TCP', 'source': {'selector': 'role == "client"',
                                                          'nets': ['10.244.0.0/24', '10.245.0.0/24']},
         'destination': {'ports': [80, '8000:8080']}},
        {'action': 'Log', 'protocol': 'ICMP', 'icmp': {'type': 8}}]},
])
PODS = [{'name': 'a1', 'ip': '10.244.0.2', 'host_ifname': 'cali1234567890a', 'labels': {'app': 'web'}},
        {'name': 'a2', 'ip': '10.244.0.3', 'host_ifname': 'cali1234567890b', 'labels': {'role': 'client'}}]


def recorded():
    with open(os.path.join(FIXTURES, 'policy-iptables-save.txt')) as f:
        saved = fr.parse_save(f.read())
    with open(os.path.join(FIXTURES, 'policy-ipset-save.txt')) as f:
        sets = fr.parse_ipset_save(f.read())
    return saved, sets


def test_names_as_felix():
    assert fr.endpoint_chain('to', 'cali1234567890a') == 'cali-tw-cali1234567890a'
    assert fr.profile_chain('ingress') == 'cali-pri-kns.default'
    # np/default/allow-clients is too long for 28 characters: '_' and the start of its SHA-256
    digest = base64.urlsafe_b64encode(hashlib.sha256(b'np/default/allow-clients').digest()).decode()
    assert fr.policy_chain('ingress', 'allow-clients') == 'cali-pi-_' + digest[:19]
    assert fr.policy_chain('egress', 'a') == 'cali-po-np/default/a'
    assert fr.length_limited('cali-pi-', '_' * 20) .startswith('cali-pi-_')


def test_rule_ids_chain_the_hash():
    first = fr.rule_ids('cali-x', ['-j ACCEPT'])
    two = fr.rule_ids('cali-x', ['-j DROP', '-j ACCEPT'])
    assert len(first[0]) == 16 and first[0] != two[1]          # a rule's id depends on the rules before it
    assert fr.rule_ids('cali-y', ['-j ACCEPT']) != first       # and on the chain
    h = hashlib.sha224(hashlib.sha224(b'cali-x').digest() + b'-A cali-x HASH -j ACCEPT').digest()
    assert first[0] == base64.urlsafe_b64encode(h).decode()[:16]


def test_render_layout():
    wanted = fr.render(PODS, PODS, POLICIES)
    chains = wanted['chains']
    assert list(chains)[:6] == ['cali-INPUT', 'cali-wl-to-host', 'cali-FORWARD', 'cali-OUTPUT',
                                'cali-from-wl-dispatch', 'cali-to-wl-dispatch']
    tw = chains['cali-tw-cali1234567890a']
    assert 'RELATED,ESTABLISHED -j ACCEPT' in tw[0]
    jumps = [line.split(' -j ')[1] for line in tw if '-j cali-pi-' in line]
    assert jumps == [fr.policy_chain('ingress', 'allow-clients'), fr.policy_chain('ingress', 'web-default-deny')]
    assert 'End of tier default' in tw[-4] and tw[-1].endswith('-j DROP')
    # the client is selected by no policy: its chain goes straight to the profile
    assert not any('cali-pi-' in line for line in chains['cali-tw-cali1234567890b'])
    assert chains[fr.policy_chain('ingress', 'web-default-deny')] == []
    clients = ipset_name(parse('(projectcalico.org/namespace == "default") && (role == "client")'))
    assert wanted['sets'] == {fr.net_set_name(['10.244.0.0/24', '10.245.0.0/24']): ['10.244.0.0/24', '10.245.0.0/24'],
                              clients: ['10.244.0.3']}
    assert clients == 'cali40s:ZGa_lby9e9aiwiNsOx93UJY'
    assert wanted['jumps']['FORWARD'].startswith('-I FORWARD 1 -m comment --comment "cali:')


def test_recorded_host_needs_nothing():
    saved, sets = recorded()
    wanted = fr.render(PODS, PODS, POLICIES)
    changes = fr.plan(saved, wanted, sets)
    assert not fr.changed(changes), changes
    assert 'other' not in saved['chains'] and 'other' in saved['builtin']


def test_deleted_rule_rewrites_its_chain_only():
    saved, sets = recorded()
    saved['chains']['cali-FORWARD'].pop(1)
    changes = fr.plan(saved, fr.render(PODS, PODS, POLICIES), sets)
    assert changes['write'] == ['cali-FORWARD'] and not changes['delete'] and not changes['insert']
    text = fr.restore_text(changes, fr.render(PODS, PODS, POLICIES))
    assert text.splitlines()[:2] == ['*filter', ':cali-FORWARD - [0:0]']
    assert 'other' not in text and not any(line.startswith(('-F', '-X')) for line in text.splitlines())


def test_policy_removed_deletes_its_chain_and_set():
    saved, sets = recorded()
    policies = [p for p in POLICIES if p['name'] != 'allow-clients']
    wanted = fr.render(PODS, PODS, policies)
    changes = fr.plan(saved, wanted, sets)
    assert changes['delete'] == [fr.policy_chain('ingress', 'allow-clients')]
    assert changes['write'] == ['cali-tw-cali1234567890a']
    assert sorted(changes['destroy']) == sorted(sets)
    assert fr.ipset_cleanup_text(changes).count('destroy') == 2


def test_absent_removes_only_the_lab():
    saved, sets = recorded()
    changes = fr.plan(saved, None, sets)
    text = fr.restore_text(changes, None)
    assert len(changes['unjump']) == 3 and not changes['write']
    assert '-D FORWARD -m comment --comment "cali:7pTy6zL-g-qtvVY1" -j cali-FORWARD' in text
    assert '-X cali-FORWARD' in text and 'other' not in text
    assert set(changes['destroy']) == set(sets)


def test_foreign_sets_are_not_the_labs():
    sets = fr.parse_ipset_save('create cali40s:felix hash:net family inet hashsize 1024 maxelem 1048576\n'
                               'add cali40s:felix 10.0.0.1\ncreate mine hash:ip family inet comment\n')
    assert sets == {}


def test_ipset_text_new_and_changed_members():
    changes = fr.plan({'chains': {}, 'builtin': {}}, {'chains': {}, 'jumps': {}, 'sets': {'cali40s:a': ['10.0.0.1', '10.0.0.2']}},
                      {'cali40s:a': ['10.0.0.2', '10.0.0.9']})
    assert fr.ipset_create_text(changes) == 'add cali40s:a 10.0.0.1\n'
    assert fr.ipset_cleanup_text(changes) == 'del cali40s:a 10.0.0.9\n'


def test_profile_per_namespace():
    pods = [dict(PODS[0], namespace='shop'), PODS[1]]
    chains = fr.render(pods, pods, [])['chains']
    assert 'cali-pri-kns.shop' in chains and 'cali-pro-kns.default' in chains
    assert chains['cali-tw-cali1234567890a'][-3].endswith('-j cali-pri-kns.shop')
    assert fr.policy_chain('ingress', 'a', 'shop') == 'cali-pi-np/shop/a'

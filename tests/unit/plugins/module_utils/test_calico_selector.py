"""Calico's selector language: parsing, evaluation, the canonical text and Felix's IP set names."""
import base64
import hashlib

import pytest

from ansible_collections.labnet.calico.plugins.module_utils.calico_selector import (
    SelectorError, canonical, ipset_name, parse, selects, unique_id,
)

WEB = {'app': 'web', 'tier': 'frontend', 'role': 'client-01'}
DB = {'app': 'db', 'tier': 'backend', 'k8s.io/name': 'pg'}
BARE = {}


@pytest.mark.parametrize('selector, labels, expected', [
    ('', WEB, True),
    ('all()', BARE, True),
    ('global()', BARE, True),
    ('app == "web"', WEB, True),
    ("app == 'web'", DB, False),
    ('app == "web"', BARE, False),
    ('app != "web"', DB, True),
    ('app != "web"', WEB, False),
    ('app != "web"', BARE, True),            # a missing label is "not equal"
    ('app in {"web", "db"}', DB, True),
    ('app in {"web"}', DB, False),
    ('app in {}', WEB, False),
    ('app in {"web",}', WEB, True),          # a trailing comma, as Calico's parser takes it
    ('app in {"web"}', BARE, False),
    ('app not in {"web"}', DB, True),
    ('app not in {"web", "db"}', DB, False),
    ('app not in {"web"}', BARE, True),      # a missing label is "not in"
    ('has(app)', WEB, True),
    ('has( app )', WEB, True),
    ('has(k8s.io/name)', DB, True),
    ('has(app)', BARE, False),
    ('!has(app)', BARE, True),
    ('!!has(app)', WEB, True),
    ('! ! !has(app)', WEB, False),
    ('role starts with "client"', WEB, True),
    ('role ends with "-01"', WEB, True),
    ('role contains "ent-0"', WEB, True),
    ('role contains "x"', WEB, False),
    ('role starts with "c"', BARE, False),
    ('app == "web" && tier == "frontend"', WEB, True),
    ('app == "web" && tier == "backend"', WEB, False),
    ('app == "web" || app == "db"', DB, True),
    ('app == "x" || app == "y"', DB, False),
    # && binds tighter than ||
    ('app == "db" || app == "web" && tier == "backend"', DB, True),
    ('app == "db" || app == "web" && tier == "backend"', WEB, False),
    ('(app == "db" || app == "web") && tier == "backend"', WEB, False),
    ('(app == "db" || app == "web") && tier == "frontend"', WEB, True),
    ('!(app == "web")', WEB, False),
    ('!(app == "web") && has(tier)', DB, True),
    ('((has(app)))', WEB, True),
    ('app=="web"&&tier=="frontend"', WEB, True),
    ('in == "x"', {'in': 'x'}, True),        # operator words are label names where a label is expected
    ('app == "it\'s"', {'app': "it's"}, True),
    ("app == 'say \"hi\"'", {'app': 'say "hi"'}, True),
])
def test_evaluate(selector, labels, expected):
    assert selects(selector, labels) is expected


@pytest.mark.parametrize('selector, reason', [
    ('app = "web"', 'expected =='),
    ('app == web', 'expected a quoted string'),
    ('app == "web', 'unterminated string'),
    ('app "web"', 'expected == or != after label'),
    ('app', 'expected == or != after label'),
    ('app web', 'expected an operator'),
    ('app in "web"', 'expected a set literal'),
    ('app in {"web"', "expected '}'"),
    ('has(app', "no closing ')'"),
    ('has()', 'expected a label name'),
    ('all(x)', "no closing ')'"),
    ('(app == "web"', "expected ')'"),
    ('app == "web")', 'unexpected'),
    ('app == "web" &', 'expected &&'),
    ('app == "web" |', 'expected ||'),
    ('app == "web" &&', 'unexpected end of input'),
    ('app == "web" app == "db"', 'unexpected label'),
    ('!', 'unexpected end of input'),
    ('app == "a" + 1', "unexpected character '+'"),
    ('a' * 513 + ' == "x"', 'label too long'),
    (5, 'is not a string'),
])
def test_refused(selector, reason):
    with pytest.raises(SelectorError) as info:
        parse(selector)
    assert reason in str(info.value)


@pytest.mark.parametrize('selector, text', [
    ('', 'all()'),
    ("app=='web'", 'app == "web"'),
    ('app == \'say "x"\'', "app == 'say \"x\"'"),
    ('a in {"z", "b"}', 'a in {"b", "z"}'),
    ('a not in {"z"}', 'a not in {"z"}'),
    ('has(a) && !b == "c" || all()', '((has(a) && !b == "c") || all())'),
    ('role starts with "x"', 'role starts with "x"'),
])
def test_canonical(selector, text):
    assert canonical(parse(selector)) == text
    assert canonical(parse(text)) == text    # the canonical text parses to itself


def test_ipset_name_is_felix_naming():
    """cali40s: + the hash of 's:<canonical>' (hash.MakeUniqueID), cut to 31 characters."""
    node = parse("app == 'web'")
    digest = base64.urlsafe_b64encode(hashlib.sha224(b's:app == "web"').digest()).decode().rstrip('=')
    assert unique_id(node) == 's:' + digest
    assert ipset_name(node) == ('cali40s:' + digest)[:31]
    assert len(ipset_name(node)) == 31
    # equal selectors written differently share one set; different ones do not
    assert ipset_name(parse('app=="web"')) == ipset_name(node)
    assert ipset_name(parse('app == "db"')) != ipset_name(node)

"""The preload callback: one call at the playbook's start imports the collection's filter plugins."""
import os
import subprocess
import sys

from ansible_collections.labnet.calico.plugins.callback import preload

# preload.py is at <path>/ansible_collections/labnet/calico/plugins/callback/: <path> is a collections path.
COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(preload.__file__))))
COLLECTIONS = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION)))

# A fresh interpreter, so that no earlier test has imported the filters already.
SCRIPT = '''
import sys
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
from ansible_collections.labnet.calico.plugins.callback.preload import CallbackModule
prefix = 'ansible_collections.labnet.calico.plugins.filter.'
before = sorted(name for name in sys.modules if name.startswith(prefix))
CallbackModule().v2_playbook_on_start(None)
after = sorted(name for name in sys.modules if name.startswith(prefix))
print(len(before), ' '.join(after))
'''


def test_the_playbooks_start_imports_every_filter_of_the_collection():
    output = subprocess.run([sys.executable, '-c', SCRIPT, COLLECTIONS], check=True,
                            capture_output=True, text=True).stdout.split()
    before, loaded = output[0], {name.rsplit('.', 1)[1] for name in output[1:]}
    assert before == '0'
    filters = {name[:-3] for name in os.listdir(os.path.join(COLLECTION, 'plugins', 'filter'))
               if name.endswith('.py') and name != '__init__.py'}
    assert filters and filters <= loaded

"""Make ``ansible_collections.labnet.calico`` importable in plain pytest (the repo is the collection)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'collections'))

"""Offline stand-in for pip's get-pip.py bootstrap script used by ansible-test.

ansible-test downloads get-pip.py from the internet to seed the virtual environments
of its sanity tests; this machine reaches PyPI but not that host. This script does the
same job with the interpreter's own ensurepip, then installs the requested packages
from the configured package index.
"""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
packages = [a for a in args if not a.startswith("-")]
if packages:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args)

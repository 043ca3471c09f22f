#!/usr/bin/env python3
"""ansible-test sanity on the collection as users install it.

Builds the collection tarball (galaxy.yml's build_ignore applies), installs it into a
temporary collections path and runs `ansible-test sanity` there with no ignore file.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def seed_get_pip():
    """Place the offline get-pip stand-in where ansible-test looks for its cache."""
    source = open(os.path.join(os.path.dirname(__import__("ansible_test").__file__),
                               "_internal", "python_requirements.py")).read()
    versions = set(re.findall(r"pip='([0-9.]+)'", source)) or {"24.2"}
    cache = os.path.expanduser("~/.ansible/test/cache")
    os.makedirs(cache, exist_ok=True)
    for version in versions:
        shutil.copy(os.path.join(ROOT, ".ci", "get_pip_standin.py"),
                    os.path.join(cache, "get_pip_%s.py" % version.replace(".", "_")))


def main():
    seed_get_pip()
    work = tempfile.mkdtemp(prefix="genesis-sanity-")
    try:
        subprocess.check_call([os.path.join(BIN, "ansible-galaxy"), "collection", "build", ROOT, "--output-path", work, "--force"],
                              stdout=subprocess.DEVNULL)
        tarball = glob.glob(os.path.join(work, "genesis-runbook-*.tar.gz"))[0]
        dest = os.path.join(work, "collections")
        subprocess.check_call([os.path.join(BIN, "ansible-galaxy"), "collection", "install", tarball, "-p", dest,
                               "--no-deps", "--force"], stdout=subprocess.DEVNULL)
        coll = os.path.join(dest, "ansible_collections", "genesis", "runbook")
        ignores = glob.glob(os.path.join(coll, "tests", "sanity", "ignore-*.txt"))
        if ignores:
            sys.exit("sanity: ignore files are not allowed: %s" % ", ".join(os.path.basename(i) for i in ignores))
        py = "%d.%d" % sys.version_info[:2]
        cmd = [os.path.join(BIN, "ansible-test"), "sanity", "--python", py, "--color", "no", "--requirements"]
        cmd += sys.argv[1:]
        print("+ " + " ".join(cmd), flush=True)
        rc = subprocess.call(cmd, cwd=coll)
        sys.exit(rc)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

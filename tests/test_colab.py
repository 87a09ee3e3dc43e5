"""The Colab path: what a reader gets who opens a chapter in Colab and runs it top to bottom.

Reproduced here without Colab:
- the repository as a clone gives it (``git clone`` of this repository: committed files only);
- a fresh virtual environment holding what a Colab runtime has before the chapter runs
  (Python, torch, a Jupyter kernel);
- each chapter of the clone's ``_toc.yml`` executed by ``nbclient`` in that environment, with
  its real set-up cell: the test makes ``google.colab`` importable for that cell only and
  points the cell's repository URL at the local clone, so the cell's own ``git clone`` and
  ``%pip install <folder>`` (not editable) run as in Colab;
- ``SGD_ESCAPE_STATIC`` unset, so explorers build their live widgets;
- no myst-nb, so every number the prose names must be printed as ``name = value`` instead;
- after the set-up cell, any network connection other than loopback raises: a chapter must
  not download anything at run time (the package index is used by the set-up cell only).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow

SETUP_LINE_PREFIX = "    REPOSITORY, FOLDER = "
ARTIFACTS = ROOT / "test-artifacts" / "colab"  # each chapter as the Colab-like run executed it

# Run in the chapter's kernel after its set-up cell: a connection to any address other than
# loopback (the kernel's own channels) raises before a packet is sent.
NETWORK_GUARD = """
import socket as _socket, ipaddress as _ipaddress
def _no_network(self, address, _connect=_socket.socket.connect):
    if self.family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            local = _ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            local = address[0] == 'localhost'
        if not local:
            raise OSError('network access while running the chapter: %r' % (address,))
    return _connect(self, address)
_socket.socket.connect = _no_network
"""

# Runs inside the fresh environment: execute one notebook as Colab would.
RUNNER = r'''
import json, queue, sys, time
import nbformat
from jupyter_client.channels import AsyncZMQSocketChannel
from nbclient import NotebookClient

# Wait for kernel messages in one-second slices. With a live widget in a cell, nbclient now
# and then waited forever for the cell's execute_reply although the kernel had sent it and
# gone idle (seen with ipykernel 6 and 7; cf. nbclient issue 312): a socket poll that missed
# its wake-up. A fresh poll looks at the socket first, so slicing the wait cannot miss it.
_get_msg = AsyncZMQSocketChannel.get_msg

async def _get_msg_in_slices(self, timeout=None):
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = 1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
        try:
            return await _get_msg(self, timeout=left)
        except queue.Empty:
            if deadline is not None and time.monotonic() >= deadline:
                raise

AsyncZMQSocketChannel.get_msg = _get_msg_in_slices

notebook, cwd, repository, folder, timeout, prefix, executed = sys.argv[1:8]
nb = nbformat.read(notebook, as_version=4)
setup = nb.cells[0]
lines = setup.source.split("\n")
index = [i for i, line in enumerate(lines) if line.startswith(prefix)]
assert len(index) == 1, "the set-up cell has no 'REPOSITORY, FOLDER = ...' line"
lines[index[0]] = prefix + repr(repository) + ", " + repr(folder)
setup.source = "\n".join(lines)

# google.colab importable for the set-up cell only; afterwards the chapter runs as in Colab's
# kernel, but any connection off this machine raises.
fake_colab = nbformat.v4.new_code_cell(
    "import sys, types\n"
    "sys.modules['google'] = types.ModuleType('google')\n"
    "sys.modules['google.colab'] = types.ModuleType('google.colab')")
AFTER_SETUP = """
import sys, os
del sys.modules['google.colab'], sys.modules['google']
assert os.getcwd() == os.path.join(FOLDER, 'chapters'), os.getcwd()
import sgd_escape
assert 'site-packages' in sgd_escape.__file__, 'sgd_escape is not installed: ' + sgd_escape.__file__
""" + @NETWORK_GUARD@
after_setup = nbformat.v4.new_code_cell(AFTER_SETUP.replace("FOLDER", repr(folder)))
nb.cells = [fake_colab, setup, after_setup] + nb.cells[1:]
start = time.time()
client = NotebookClient(nb, timeout=int(timeout), kernel_name="python3",
                        resources={"metadata": {"path": cwd}}, allow_errors=False)
try:
    client.execute()
finally:
    nbformat.write(nb, executed)  # for a person to read (test-artifacts/colab/)
widgets = sum(1 for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
              if "application/vnd.jupyter.widget-view+json" in out.get("data", {}))
# Without myst-nb the prose shows each glued number by name: every name must be printed somewhere.
import re
printed = {name for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
           if out.get("output_type") == "stream" for name in re.findall(r"^(\w+) = ", out["text"], re.M)}
named = {name for cell in nb.cells if cell.cell_type == "markdown"
         for name in re.findall(r"\{glue:text\}`(\w+)", cell.source)}
print(json.dumps({"seconds": time.time() - start, "widgets": widgets, "unprinted": sorted(named - printed)}))
'''


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def colab():
    """A clone of the repository and a fresh environment with what Colab preinstalls.

    Outside pytest's temporary folders: the environment holds torch (about a gigabyte in
    tens of thousands of files), and pytest's clean-up of old temporary folders would
    delete such trees at the end of later runs, minutes on a busy disk. It is removed here
    in the background once the module is done.
    """
    base = Path(tempfile.mkdtemp(prefix="sgd-escape-colab-"))
    clone = base / "clone"
    _run(["git", "clone", "--quiet", str(ROOT), str(clone)])
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    # What a Colab runtime has before the set-up cell: torch (pinned: a CPU build where one is
    # on disk), a Jupyter kernel and nbclient (the runner). Not sgd_escape, not its other deps.
    # ipykernel 6, as Colab has.
    _run([str(python), "-m", "pip", "install", "--quiet", "-c", str(clone / "constraints.txt"),
          "torch", "ipykernel>=6.17,<7", "nbclient", "nbformat"], timeout=1800)
    (base / "runner.py").write_text(RUNNER.replace("@NETWORK_GUARD@", repr(NETWORK_GUARD)))
    yield {"base": base, "clone": clone, "python": python, "runner": base / "runner.py"}
    subprocess.Popen(["rm", "-rf", str(base)], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _clone_chapters() -> list[str]:
    """The notebooks of the table of contents, as committed (what the clone will hold)."""
    toc = yaml.safe_load(subprocess.run(["git", "show", "HEAD:_toc.yml"], cwd=ROOT,
                                        capture_output=True, text=True, check=True).stdout)
    files = [entry["file"] for part in toc.get("parts", []) for entry in part.get("chapters", [])]
    tracked = set(subprocess.run(["git", "ls-files", "chapters"], cwd=ROOT, capture_output=True,
                                 text=True, check=True).stdout.split())
    return [f for f in files if f"{f}.ipynb" in tracked]


@pytest.mark.parametrize("chapter", _clone_chapters())
def test_chapter_runs_as_in_colab(colab, chapter):
    notebook = colab["clone"] / f"{chapter}.ipynb"
    folder = colab["base"] / "content" / "sgd-escape-book"  # Colab's /content/<repo>
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    executed = ARTIFACTS / f"{Path(chapter).name}.ipynb"
    env = {k: v for k, v in os.environ.items()
           if k not in ("SGD_ESCAPE_STATIC", "PYTHONPATH", "VIRTUAL_ENV", "MPLBACKEND")}
    env["PATH"] = f"{colab['python'].parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [str(colab["python"]), str(colab["runner"]), str(notebook), str(notebook.parent),
         f"file://{colab['clone']}", str(folder), "600", SETUP_LINE_PREFIX, str(executed)],
        capture_output=True, text=True, env=env, cwd=notebook.parent, timeout=1800,
    )
    assert result.returncode == 0, (
        f"{chapter} failed in the Colab-like run:\n{result.stdout[-2000:]}\n{result.stderr[-6000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if "show_explorer(" in notebook.read_text():
        assert report["widgets"] > 0, f"{chapter} calls show_explorer but showed no live widget"
    assert report["unprinted"] == [], f"{chapter}: prose names these glued numbers, but Colab never prints them"
    print(f"{chapter}: {report['seconds']:.0f} s, {report['widgets']} live widgets")


def test_network_guard_blocks_all_but_loopback(monkeypatch):
    """The guard the Colab run installs: checked here against a stub, so no packet is sent."""
    import socket

    calls = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: calls.append(address))
    namespace: dict = {}
    exec(NETWORK_GUARD, namespace)  # replaces socket.socket.connect (undone by monkeypatch)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError, match="network access"):
            sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never reached, the guard raises first
        sock.connect(("127.0.0.1", 9))
    assert calls == [("127.0.0.1", 9)]

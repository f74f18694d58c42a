"""Type-check the ESP32 adapters against the MicroPython ESP32 port's stubs.

    python tools/typecheck_esp32.py            # the ESP32 adapters and the boot loaders
    python tools/typecheck_esp32.py FILE...    # other files, same setup

No board is needed to catch a misspelt ``machine`` or ``network`` call: the
``micropython-esp32-esp32-generic-stubs`` package describes the port's API.
It cannot simply be installed and found, though:

* its modules (``machine.pyi``, ``network.pyi``, ``time.pyi``...) lie loose at
  the top of site-packages, which mypy ignores (PEP 561 only looks at
  packages), and mypy refuses site-packages itself on its search path;
* MicroPython's own ``time``, ``asyncio``, ``builtins``... come from its
  dependency ``micropython-stdlib-stubs``, a typeshed-shaped ``stdlib/``
  directory that must replace CPython's typeshed.

So this tool finds both distributions with importlib.metadata (wherever pip
put them), copies the loose stubs into a temporary directory that goes on
MYPYPATH together with ``firmware/`` (for the ``evse`` imports), and runs

    MYPYPATH=<tmp>/typings:firmware python -m mypy
        --custom-typeshed-dir <micropython-stdlib-stubs root>
        --no-site-packages --check-untyped-defs --follow-imports=silent
        --config-file <tmp>/mypy.ini --cache-dir <tmp>/cache FILE...

where ``mypy.ini`` sets ``ignore_errors`` for each stub module: the stubs'
own flaws are not ours to report.

``--check-untyped-defs`` matters: the firmware has few annotations and mypy
would otherwise skip the body of every unannotated function. Imported
firmware modules (``evse.*``) are analysed for their types but their own
findings are not reported (``--follow-imports=silent``): this check is about
the adapters' use of the port's API. The exit status is mypy's.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
DEFAULT_FILES = (
    FIRMWARE / "hal" / "esp32.py",
    FIRMWARE / "hal" / "wifi_esp32.py",
    FIRMWARE / "hal" / "partition_esp32.py",  # full firmware updates (esp32.Partition)
    FIRMWARE / "boot.py",  # drives the output pins itself before any app module loads
    FIRMWARE / "main.py",
)

BOARD_STUBS = "micropython-esp32-esp32-generic-stubs"
STDLIB_STUBS = "micropython-stdlib-stubs"


class StubsMissing(Exception):
    pass


def _distribution(name):
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise StubsMissing("%s is not installed (pip install %s)" % (name, name)) from None


def stdlib_root():
    """The directory holding MicroPython's ``stdlib/``: the custom typeshed."""
    dist = _distribution(STDLIB_STUBS)
    for f in dist.files or ():
        if f.parts[:2] == ("stdlib", "VERSIONS"):
            return Path(dist.locate_file(f)).parent.parent
    raise StubsMissing("%s has no stdlib/VERSIONS" % STDLIB_STUBS)


def copy_loose_stubs(dest):
    """Copy the stub files both distributions put at the top of site-packages.

    ``stdlib/`` is left out: it is the typeshed, not a module on the path.
    Returns the top-level module names copied.
    """
    modules = set()
    for name in (BOARD_STUBS, STDLIB_STUBS):
        dist = _distribution(name)
        for f in dist.files or ():
            if f.suffix != ".pyi" or f.parts[0] == "stdlib":
                continue
            target = dest.joinpath(*f.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dist.locate_file(f), target)
            modules.add(f.parts[0] if len(f.parts) > 1 else f.stem)
    if not modules:
        raise StubsMissing("no .pyi files listed for %s" % BOARD_STUBS)
    return sorted(modules)


def write_config(path, stub_modules):
    """A mypy config of our own: any [mypy] section in the repo is not for this.

    The stubs have flaws of their own (undefined names, overrides of finals)
    that mypy would report like errors in our code, as it does for anything
    on MYPYPATH; they are silenced per stub module, as mypy silences typeshed.
    """
    lines = ["[mypy]"]
    for module in stub_modules:
        lines += ["", "[mypy-%s,%s.*]" % (module, module), "ignore_errors = True"]
    path.write_text("\n".join(lines) + "\n")


def mypy_command(files, workdir):
    """The mypy command line and environment; stubs are copied into ``workdir``."""
    typings = workdir / "typings"
    config = workdir / "mypy.ini"
    write_config(config, copy_loose_stubs(typings))
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--custom-typeshed-dir",
        str(stdlib_root()),
        "--no-site-packages",
        "--check-untyped-defs",
        "--follow-imports=silent",
        "--config-file",
        str(config),
        "--cache-dir",
        str(workdir / "cache"),
    ]
    cmd += [str(f) for f in files]
    env = dict(os.environ, MYPYPATH=os.pathsep.join((str(typings), str(FIRMWARE))))
    return cmd, env


def check(files=DEFAULT_FILES):
    """Run mypy on ``files``; returns (exit status, mypy's output)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd, env = mypy_command(files, Path(tmp))
        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def main(argv):
    files = [Path(a) for a in argv] or list(DEFAULT_FILES)
    try:
        status, output = check(files)
    except StubsMissing as e:
        print("typecheck_esp32: %s" % e, file=sys.stderr)
        return 2
    print(output, end="")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

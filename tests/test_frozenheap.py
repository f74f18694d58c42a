"""tools/frozen-heap's manifest (evsectl.frozenheap) freezes the whole app:
every firmware package and module but the loaders, and microdot. A package
added later (a protocol's folder) is frozen without anyone listing it, so
the frozen figure keeps counting all the code the ROM figure counts."""

import ast

from evsectl import device, frozenheap, paths


def _calls(text):
    """(function, first argument, base_path) of each call in the manifest."""
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call):
            kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg == "base_path"}
            out.append((node.func.id, ast.literal_eval(node.args[0]), kw.get("base_path")))
    return out


def test_the_manifest_freezes_every_firmware_package_and_module_but_the_loaders(tmp_path):
    firmware = paths.firmware_dir()
    calls = _calls(frozenheap.manifest(firmware, tmp_path / "microdot"))
    packages = {name for f, name, base in calls if f == "package" and base == str(firmware)}
    modules = {name for f, name, base in calls if f == "module"}
    assert packages == {p.name for p in firmware.iterdir() if (p / "__init__.py").is_file()}
    assert modules == {p.name for p in firmware.glob("*.py")} - set(device.ENTRY_POINTS)
    assert ("package", "microdot", str(tmp_path)) in calls
    assert ("include", "$(MPY_DIR)/extmod/asyncio", None) in calls  # as the stock 32-bit build


def test_a_new_package_is_frozen_too(tmp_path):
    fw = tmp_path / "firmware"
    (fw / "mqtt").mkdir(parents=True)
    (fw / "mqtt" / "__init__.py").write_text("")
    (fw / "notes").mkdir()  # no __init__.py: not a package
    (fw / "boot.py").write_text("")
    (fw / "version.py").write_text("")
    calls = _calls(frozenheap.manifest(fw, tmp_path / "md"))
    assert ("package", "mqtt", str(fw)) in calls
    assert ("module", "version.py", str(fw)) in calls
    assert not any(name in ("notes", "boot.py") for _, name, _ in calls)

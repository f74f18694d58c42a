"""``evsectl ota``: signing keys, an update server, and pushing an update to one charger.

    evsectl ota keygen --out DIR            RSA key pair: DIR/ota_signing_key.pem (private,
                                            keep it off the device and out of the repo),
                                            DIR/ota_pubkey.json (for the device's flash root)
                                            and DIR/ota_pubkey.pem (for OpenSSL)
    evsectl ota sign BUNDLE --key KEY       write BUNDLE/manifest.sig
    evsectl ota serve DIR [--port 8000]     serve the signed bundles in DIR to chargers
    evsectl ota push BUNDLE --host H        update one charger now from this machine

Signatures are RSA PKCS#1 v1.5 over SHA-256 of the exact bytes of
manifest.json; the manifest holds the size and SHA-256 of every other file.
The charger verifies with one modular exponentiation by 65537 on
MicroPython's long integers (firmware/app/ota.py), which needs no crypto
library on the device. The same signature checks with OpenSSL::

    openssl dgst -sha256 -verify ota_pubkey.pem -signature manifest.sig manifest.json

The update server's layout, which the firmware fetches (any static web
server holding the same paths works too)::

    /<board>/manifest.json            manifest of the newest signed bundle for <board>
    /<board>/<version>/manifest.sig   its signature
    /<board>/<version>/<path>         the files it lists

``serve`` maps these onto bundle directories (``evse-<version>-<board>/``,
as ``evsectl build --out DIR`` writes them), looked up at every request, so
a newly built and signed bundle is offered at once. ``push`` serves one
bundle the same way on an ephemeral port and asks the charger
(``POST /ota/v1/Update``, with the admin password) to update from it now:
the charger still verifies everything itself, through the same code as a
scheduled update.
"""

import base64
import hashlib
import http.client
import http.server
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from evsectl import build
from evsectl.errors import UserError, tcp_port

PRIVATE_KEY = "ota_signing_key.pem"
PUBLIC_KEY = "ota_pubkey.json"
PUBLIC_PEM = "ota_pubkey.pem"  # the same key for OpenSSL
KEY_BITS = 3072
PUBLIC_EXPONENT = 65537


class OtaFailure(UserError):
    """Why an OTA command cannot do what was asked, in one line."""


# -- keys and signatures ------------------------------------------------------------


def keygen(out_dir, bits=KEY_BITS):
    """Write a new key pair into ``out_dir``; refuses to overwrite a private key.
    Returns the private key's path and the device key file's."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    out_dir = Path(out_dir)
    private_path = out_dir / PRIVATE_KEY
    if private_path.exists():
        raise OtaFailure("%s exists; move it away first (devices trust its public half)" % private_path)
    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Created readable by the owner only, never briefly world-readable.
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise OtaFailure("cannot write into %s (%s); --out takes a directory" % (out_dir, e.strerror))
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path = out_dir / PUBLIC_KEY
    public_path.write_text(public_key_json(key.public_key()))
    (out_dir / PUBLIC_PEM).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path


def public_key_json(public_key):
    """The device's key file: the modulus as hex, exactly two digits per byte."""
    numbers = public_key.public_numbers()
    size = (public_key.key_size + 7) // 8
    return json.dumps({"n": "%0*x" % (2 * size, numbers.n), "e": numbers.e}) + "\n"


def load_private_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as e:
        raise OtaFailure("cannot read the signing key %s: %s" % (path, e.strerror))
    except (ValueError, TypeError) as e:
        raise OtaFailure("%s is not an unencrypted PEM private key: %s" % (path, e))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise OtaFailure("%s is not an RSA key" % path)
    return key


def check_bundle(bundle):
    """The bundle's manifest, once every file it lists has the right size and SHA-256."""
    bundle = Path(bundle)
    manifest = build.load_manifest(bundle)
    for entry in manifest.get("files", []):
        path = bundle / entry["path"]
        try:
            data = path.read_bytes()
        except OSError:
            raise OtaFailure("%s: %s is missing" % (bundle, entry["path"]))
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise OtaFailure("%s: %s does not match the manifest" % (bundle, entry["path"]))
    return manifest


def sign(bundle, key_path):
    """Sign the bundle's manifest.json (after checking the files against it)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    bundle = Path(bundle)
    manifest = check_bundle(bundle)
    key = load_private_key(key_path)
    signature = key.sign((bundle / build.MANIFEST).read_bytes(), padding.PKCS1v15(), hashes.SHA256())
    (bundle / build.SIGNATURE).write_bytes(signature)
    return manifest


def verify(bundle, public_key_file):
    """True if the bundle's signature checks against a device key file (ota_pubkey.json)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = json.loads(Path(public_key_file).read_text())
    public = rsa.RSAPublicNumbers(key["e"], int(key["n"], 16)).public_key()
    bundle = Path(bundle)
    try:
        public.verify((bundle / build.SIGNATURE).read_bytes(), (bundle / build.MANIFEST).read_bytes(),
                      padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, OSError):
        return False


# -- the update server ---------------------------------------------------------------


def _version_key(version):
    return tuple(int(p) for p in version.split("."))


def signed_bundles(root):
    """{board: {version: bundle dir}} for every signed bundle under ``root``."""
    found = {}
    for manifest_path in sorted(Path(root).glob("*/" + build.MANIFEST)):
        bundle = manifest_path.parent
        try:
            manifest = json.loads(manifest_path.read_text())
            version, board = manifest["version"], manifest["board"]
            _version_key(version)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if (bundle / build.SIGNATURE).is_file():
            found.setdefault(board, {})[version] = bundle
    return found


class Progress:
    """One line on stderr, redrawn in place: what a device has fetched of a bundle."""

    def __init__(self, label, total, out=sys.stderr):
        self.label = label
        self.total = max(1, total)
        self.done = 0
        self.out = out
        self._lock = threading.Lock()

    def add(self, n):
        with self._lock:
            self.done += n
            self._draw()

    def _draw(self):
        frac = min(1.0, self.done / self.total)
        bar = "#" * int(frac * 30)
        end = "\n" if self.done >= self.total else ""
        self.out.write("\r%s [%-30s] %3d%% %d/%d KiB%s" % (self.label, bar, frac * 100, self.done // 1024,
                                                          self.total // 1024, end))
        self.out.flush()


class UpdateServer(http.server.ThreadingHTTPServer):
    """Serves the layout above from ``root`` (bundle directories), or from
    the one ``bundle`` given; draws a progress line per device and bundle."""

    daemon_threads = True

    def __init__(self, address, root=None, bundle=None, quiet=False, out=sys.stderr, handler=None):
        super().__init__(address, handler or BundleHandler)
        self.root = Path(root) if root else None
        self.bundle = Path(bundle) if bundle else None
        self.quiet = quiet
        self.out = out
        self.progress = {}  # (client, version) -> Progress
        self.served = []  # paths answered 200, in order
        self.unknown_boards = set()  # boards asked for that no bundle is for
        self.hangups = 0  # requests whose client went away before the answer

    def handle_error(self, request, client_address):
        """A charger that hangs up mid-answer (it read the 404 it needed, or
        lost WiFi) is not the server's fault: count it, print no traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            self.hangups += 1
        else:
            super().handle_error(request, client_address)

    def bundles(self):
        if self.bundle is not None:
            m = build.load_manifest(self.bundle)
            return {m["board"]: {m["version"]: self.bundle}}
        return signed_bundles(self.root)

    def progress_for(self, client, version, manifest, first):
        """The progress line of ``client`` fetching ``version``; its first
        file says what it fetches: the ROM image alone, or every other file."""
        key = (client, version)
        if key not in self.progress:
            if first == build.ROM_IMAGE:
                wanted = (build.ROM_IMAGE,)
            else:
                wanted = [f["path"] for f in manifest["files"]
                          if f["path"] not in ("boot.py", "main.py", "board.json", build.ROM_IMAGE)]
            total = sum(f["size"] for f in manifest["files"] if f["path"] in wanted)
            self.progress[key] = Progress("%s %s" % (client, version), total, self.out)
        return self.progress[key]

    @property
    def url(self):
        host, port = self.server_address[:2]
        return "http://%s:%d" % (host, port)


class BundleHandler(http.server.BaseHTTPRequestHandler):
    server: UpdateServer

    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        bundles = self.server.bundles().get(parts[0], {}) if parts else {}
        if len(parts) == 2 and parts[1] == build.MANIFEST:
            if not bundles:  # push tells the user which board the charger is
                self.server.unknown_boards.add(parts[0])
                return self.send_error(404, "no bundle for this board")
            newest = bundles[max(bundles, key=_version_key)]
            return self._file(newest / build.MANIFEST)
        if len(parts) >= 3 and parts[1] in bundles:
            bundle = bundles[parts[1]]
            rel = "/".join(parts[2:])
            manifest = build.load_manifest(bundle)
            if rel in (build.MANIFEST, build.SIGNATURE):
                return self._file(bundle / rel)
            if rel in {f["path"] for f in manifest["files"]}:
                progress = self.server.progress_for(self.client_address[0], parts[1], manifest, rel)
                return self._file(bundle / rel, progress)
        self.send_error(404, "no such bundle file")

    def _file(self, path, progress=None):
        try:
            data = path.read_bytes()
        except OSError:
            return self.send_error(404, "no such bundle file")
        self._progress = progress  # the progress line stands for the request log
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.send_body(data)
        self.server.served.append(self.path)
        if progress:
            progress.add(len(data))

    def send_body(self, data):
        """Send a file's bytes (tests override this to cut a download short)."""
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        if not (self.server.quiet or getattr(self, "_progress", None)):
            self.server.out.write("%s %s\n" % (self.client_address[0], fmt % args))


def serve(root, port=8000, host="0.0.0.0"):
    root = Path(root)
    if not root.is_dir():
        raise OtaFailure("%s is not a directory" % root)
    try:
        server = UpdateServer((host, port), root=root)
    except OSError as e:
        raise OtaFailure("cannot listen on %s:%d (%s); choose another --port or --bind" % (host, port, e.strerror))
    for bundle in sorted(root.glob("*/" + build.MANIFEST)):
        if not (bundle.parent / build.SIGNATURE).is_file():
            print("evsectl ota serve: %s is not signed; not offered (evsectl ota sign)" % bundle.parent,
                  file=sys.stderr)
    for board, versions in sorted(signed_bundles(root).items()):
        print("evsectl ota serve: %s: %s" % (board, ", ".join(sorted(versions, key=_version_key))), file=sys.stderr)
    print("evsectl ota serve: serving %s on http://%s:%d (UpdateServer for the chargers)"
          % (root, host, server.server_address[1]), file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# -- push ------------------------------------------------------------------------------


class Device:
    """The charger's WebAPI, as push needs it."""

    def __init__(self, host, port=80, password=None):
        self.host, self.port, self.password = host, port, password

    def request(self, method, path, body=None, timeout=10):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.password:
            headers["Authorization"] = "Basic " + base64.b64encode(("admin:" + self.password).encode()).decode()
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            text = r.read().decode()
        finally:
            conn.close()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, {"body": text}

    def info(self):
        status, body = self.request("GET", "/webapi/v1/SystemInfo")
        if status != 200:
            raise OtaFailure("%s answered %d to GET SystemInfo" % (self.host, status))
        return body


def local_address_for(host, port):
    """This machine's address on the route to ``host`` (what the charger must call back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, port))  # UDP: picks the route, sends nothing
        return s.getsockname()[0]


def push(bundle, host, port=80, password=None, advertise=None, timeout=300, out=sys.stderr):
    """Update the charger at ``host`` from ``bundle`` and wait until it runs it, confirmed healthy."""
    bundle = Path(bundle)
    manifest = check_bundle(bundle)
    if not (bundle / build.SIGNATURE).is_file():
        raise OtaFailure("%s is not signed (evsectl ota sign %s --key KEY)" % (bundle, bundle))
    version = manifest["version"]
    device = Device(host, port, password)
    try:
        info = device.info()
        before = info["SystemVersion"]
    except (OSError, http.client.HTTPException) as e:
        raise OtaFailure("cannot reach %s:%d: %s" % (host, port, e))
    if before == version:
        print("evsectl ota push: %s already runs %s; nothing to do" % (host, version), file=out, flush=True)
        return 0
    if _version_key(before) > _version_key(version):
        raise OtaFailure("%s runs %s, newer than %s: a charger installs only newer versions" % (host, before, version))
    advertise = advertise or local_address_for(host, port)
    server = UpdateServer(("0.0.0.0", 0), bundle=bundle, quiet=True, out=out)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "http://%s:%d" % (advertise, server.server_address[1])
        print("evsectl ota push: %s runs %s; offering %s from %s" % (host, before, version, url), file=out, flush=True)
        status, body = device.request("POST", "/ota/v1/Update", {"Server": url})
        if status == 401 and password:
            raise OtaFailure("%s refused the admin password: wrong password (--password or $EVSE_ADMIN_PASSWORD)"
                             % host)
        if status == 401:
            raise OtaFailure("%s needs its admin password (--password or $EVSE_ADMIN_PASSWORD)" % host)
        if status != 200:
            raise OtaFailure("%s refused: %s" % (host, _reason(body)))
        return _wait(device, server, manifest, info.get("OTAMsg"), time.monotonic() + timeout, out)
    finally:
        server.shutdown()
        server.server_close()


def _reason(body):
    errors = body.get("Errors")
    return "; ".join("%s" % v for v in errors.values()) if isinstance(errors, dict) else json.dumps(body)


def _wait(device, server, manifest, stale, deadline, out):
    """Follow OTAMsg until the new version confirms itself, or the update
    fails. ``stale``: OTAMsg before the push, which says nothing about it."""
    version = manifest["version"]
    last = stale
    while time.monotonic() < deadline:
        try:
            info = device.info()
        except (OSError, http.client.HTTPException):
            info = None  # restarting
        # Looked at after OTAMsg: our server saw the charger ask for its own
        # board's manifest before the charger could report the 404.
        if server.unknown_boards:
            board = sorted(server.unknown_boards)[0]
            raise OtaFailure("%s is a %s board; the bundle is for %s (evsectl build --board %s)"
                             % (device.host, board, manifest["board"], board))
        if info:
            msg = info.get("OTAMsg", "")
            if info.get("SystemVersion") == version and msg == "Updated to " + version:
                print("evsectl ota push: %s" % msg, file=out, flush=True)
                return 0
            # The charger's verdict ends the wait at once (and is said once).
            verdict = (msg.startswith(("Update failed", "Up to date")) or "rolled back" in msg
                or "did not come up healthy" in msg)
            if verdict and msg != stale:
                raise OtaFailure(msg)
            if msg != last and not msg.startswith("Downloading"):
                print("evsectl ota push: %s" % msg, file=out, flush=True)
                last = msg
        time.sleep(0.5)
    raise OtaFailure("%s did not confirm %s in time; see its OTAMsg" % (device.host, version))


# -- command line -------------------------------------------------------------------------


def add_parser(sub):
    p = sub.add_parser("ota", help="firmware updates: keys, signing, update server, push")
    ota = p.add_subparsers(dest="ota_command", required=True)

    k = ota.add_parser("keygen", help="create the signing key pair")
    k.add_argument("--out", required=True, help="directory for %s and %s" % (PRIVATE_KEY, PUBLIC_KEY))
    k.add_argument("--bits", type=int, default=KEY_BITS, choices=(2048, 3072, 4096))
    k.set_defaults(func=_keygen)

    s = ota.add_parser("sign", help="sign a bundle's manifest (writes manifest.sig)")
    s.add_argument("bundle", help="bundle directory from evsectl build")
    s.add_argument("--key", required=True, help="the private key (%s)" % PRIVATE_KEY)
    s.set_defaults(func=_sign)

    v = ota.add_parser("serve", help="serve the signed bundles in DIR to chargers")
    v.add_argument("dir", help="directory of bundles (evsectl build --out DIR)")
    v.add_argument("--port", type=tcp_port, default=8000, help="port (default 8000)")
    v.add_argument("--bind", default="0.0.0.0", help="address to listen on (default all)")
    v.set_defaults(func=_serve)

    u = ota.add_parser("push", help="update one charger now from a signed bundle")
    u.add_argument("bundle", help="signed bundle directory")
    u.add_argument("--host", required=True, help="the charger's address")
    u.add_argument("--port", type=tcp_port, default=80, help="its WebAPI port (default 80)")
    u.add_argument("--password", default=os.environ.get("EVSE_ADMIN_PASSWORD"),
                   help="its admin password (default: $EVSE_ADMIN_PASSWORD)")
    u.add_argument("--advertise", help="this machine's address as the charger reaches it (default: found by route)")
    u.add_argument("--timeout", type=float, default=300, help="seconds to wait for the new version (default 300)")
    u.set_defaults(func=_push)


def _keygen(args):
    private_path, public_path = keygen(args.out, args.bits)
    print("evsectl ota keygen: private key %s (keep it secret, off the device)\n"
          "evsectl ota keygen: public key %s (goes to each charger's flash root)\n"
          "evsectl ota keygen: public key %s (for openssl dgst -verify)"
          % (private_path, public_path, public_path.with_name(PUBLIC_PEM)))
    return 0


def _sign(args):
    manifest = sign(args.bundle, args.key)
    print("evsectl ota sign: %s signed (%s for %s)" % (Path(args.bundle) / build.SIGNATURE, manifest["version"],
                                                        manifest["board"]))
    return 0


def _serve(args):
    return serve(args.dir, args.port, args.bind)


def _push(args):
    push(args.bundle, args.host, args.port, args.password, args.advertise, args.timeout)
    print("evsectl ota push: %s now runs %s" % (args.host, build.load_manifest(args.bundle)["version"]))
    return 0

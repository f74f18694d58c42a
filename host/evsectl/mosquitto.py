"""Debian's mosquitto as an MQTT broker of a test's or a bench's own, on a
free loopback port (tests/mqtt's ``broker`` fixture, evsectl.bench_mqtt).

    broker = Broker(tmp_path)                        # anonymous
    broker = Broker(tmp_path, users={"evse": "pw"})  # a password file, no anonymous access
    broker = Broker(tmp_path, certs=make_certs(tmp_path))  # and TLS on broker.tls_port
    broker.start()
    ... broker.port ...
    broker.kill()      # SIGKILL: clients see the link drop without a goodbye
    broker.start()     # the same port again: clients reconnect
    broker.stop()

``certs``: evsectl.wsheap.make_certs's files (a CA, and a certificate for
"localhost" it signed): a second listener, TLS, on ``tls_port``. The
configuration is generated in ``folder``; the broker keeps nothing on
disk (no persistence), so a restarted broker has no retained messages.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

EXE = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, folder, users=None, port=None, certs=None):
        self.folder = str(folder)
        self.port = port or free_port()
        self.users = users
        self.proc = None
        self.log_path = os.path.join(self.folder, "mosquitto-%d.log" % self.port)
        conf = ["listener %d 127.0.0.1" % self.port, "persistence false", "log_dest stderr",
                "log_type error", "log_type warning", "log_type notice"]
        if os.geteuid() == 0:
            conf.append("user root")  # else it drops to 'mosquitto', who cannot read the folder
        if users:
            pw = os.path.join(self.folder, "mosquitto-%d.passwd" % self.port)
            open(pw, "w").close()
            for name, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", pw, name, password], check=True)
            conf += ["allow_anonymous false", "password_file " + pw]
        else:
            conf.append("allow_anonymous true")
        self.tls_port = None
        if certs:
            self.tls_port = free_port()
            conf += ["listener %d 127.0.0.1" % self.tls_port, "cafile %s" % certs["ca"],
                     "certfile %s" % certs["cert"], "keyfile %s" % certs["key"]]
        self.conf_path = os.path.join(self.folder, "mosquitto-%d.conf" % self.port)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(conf) + "\n")

    def start(self, timeout=10):
        """Start it and wait until it accepts connections."""
        assert self.proc is None, "already running"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([EXE, "-c", self.conf_path], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, "mosquitto exited: %s" % self.log()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not listen on %d: %s" % (self.port, self.log())
                time.sleep(0.02)

    def kill(self):
        """SIGKILL, as a crashing broker or a power cut would end it."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

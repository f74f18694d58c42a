"""``evsectl flash``: put MicroPython itself onto an ESP32, with esptool.

    evsectl flash --port /dev/ttyUSB0 --firmware ESP32_GENERIC-v1.29.0.bin

The image is the "firmware" download for the generic ESP32 from
micropython.org: bootloader, partition table and MicroPython in one file,
written at 0x1000. Its partition table is written with a ``romfs`` partition
cut from the end of the filesystem (partitions.py): the charger's two app
slots, whose bytecode then runs from flash instead of taking heap
(``--no-romfs`` writes the image as it is; the app then runs from files). Flashing erases the whole chip first, including the files
of a previous deploy and the charger's settings: deploy again afterwards.

Everything that can be checked is checked before the erase, so a wrong file
or a wrong chip changes nothing: the file must be an ESP32 image and the chip
on the port must be an ESP32. After writing, esptool verifies the flash
against the file (MD5 on the chip) and resets the board into MicroPython.
esptool prints its own progress.
"""

import os
import struct
from pathlib import Path

from evsectl import partitions, romfs
from evsectl.errors import UserError

CHIP = "ESP32"
OFFSET = 0x1000  # where ESP32 images start: the second-stage bootloader
DEFAULT_BAUD = 460800  # what micropython.org suggests; the ROM loader starts at 115200


class FlashError(UserError):
    """Something the owner can fix; said in one line."""


def check_image(path):
    """The image's bytes, if ``path`` holds an ESP32 firmware image."""
    from esptool.bin_image import LoadFirmwareImage
    from esptool.targets import CHIP_DEFS
    from esptool.util import FatalError

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise FlashError("cannot read %s: %s" % (path, e.strerror))
    try:
        image = LoadFirmwareImage(CHIP, data)
    except (FatalError, struct.error, ValueError) as e:  # struct.error: a file shorter than a header
        raise FlashError("%s is not an ESP32 firmware image (%s)" % (path, e))
    if image.chip_id != 0:
        names = {getattr(c, "IMAGE_CHIP_ID", None): c.CHIP_NAME for c in CHIP_DEFS.values()}
        raise FlashError("%s is an image for the %s, not the %s"
                         % (path, names.get(image.chip_id, "chip id %d" % image.chip_id), CHIP))
    return data


def flash(port, firmware, baud=DEFAULT_BAUD, romfs=True):
    """Erase the ESP32 on ``port``, write ``firmware`` at 0x1000 (with a romfs
    partition, unless ``romfs`` is false), verify, reset. Returns whether the
    image's partition table was rewritten to make room for romfs."""
    import serial
    from esptool.cmds import attach_flash, detect_chip, erase_flash, reset_chip, run_stub, verify_flash, write_flash
    from esptool.util import FatalError

    data = original = check_image(firmware)
    if romfs:
        try:
            data = partitions.with_romfs(data)
        except partitions.TableError as e:
            raise FlashError("%s: %s (--no-romfs writes it unchanged)" % (firmware, e))
    if port.startswith("/dev/") and not os.path.exists(port):
        raise FlashError("no serial port %s (is the board plugged in?)" % port)
    try:
        with detect_chip(port) as esp:
            if esp.CHIP_NAME != CHIP:
                raise FlashError("the chip on %s is an %s, not an %s" % (port, esp.CHIP_NAME, CHIP))
            esp = run_stub(esp)
            if baud != esp.ESP_ROM_BAUD:
                esp.change_baud(baud)
            attach_flash(esp)
            erase_flash(esp)
            write_flash(esp, [(OFFSET, data)])
            verify_flash(esp, [(OFFSET, data)])
            reset_chip(esp, "hard-reset")
    except (FatalError, serial.SerialException, OSError) as e:
        raise FlashError(str(e).strip().splitlines()[0])
    return data != original


def add_parser(sub):
    f = sub.add_parser("flash", help="erase an ESP32 and write a MicroPython firmware image (esptool)")
    f.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    f.add_argument("--firmware", required=True, help="MicroPython image for the generic ESP32 (.bin)")
    f.add_argument("--no-romfs", action="store_true",
                   help="keep the image's partition table: no romfs partition, the app runs from files")
    f.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="baud rate while writing (default %d)" % DEFAULT_BAUD)
    f.set_defaults(func=_run)


def _run(args):
    if flash(args.port, args.firmware, args.baud, romfs=not args.no_romfs):
        print("evsectl flash: the image's partition table was rewritten: a %d KiB romfs partition cut from the end "
              "of vfs, for the app slots (--no-romfs writes the image unchanged)" % (romfs.PARTITION_SIZE // 1024))
    print("evsectl flash: MicroPython written to %s; next: evsectl deploy --port %s" % (args.port, args.port))
    return 0

"""The second update path: a whole MicroPython firmware image, written into
the ESP32's other OTA app partition with ``esp32.Partition``.

App bundles (app/ota.py) replace the Python modules and keep the interpreter.
A new MicroPython itself (a new port release, a security fix in ESP-IDF) is a
firmware image, and needs a partition table with two OTA app partitions,
``ota_0`` and ``ota_1``, as MicroPython's ``ESP32_GENERIC`` board in its
``OTA`` variant has (flash it once over USB with ``evsectl flash``). The
image goes into whichever app partition is not running; the ESP-IDF
bootloader then boots it once, and rolls back to the old one at the next
reset unless the new one calls ``confirm()`` (the variant is built with
``CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE``)::

    writer = ImageWriter(size)            # the next update partition; checks the size
    writer.write(chunk)                   # any chunk sizes, in order, as they arrive
    writer.finish(sha256_digest)          # length, hash and a read-back check; set_boot()
    machine.reset()
    ...                                   # the new firmware, once healthy:
    confirm()

Size and SHA-256 come from a manifest whose signature was checked first,
as for app bundles (app/ota.py). The filesystem partition, and so the app
slots, config.json and the key, are not touched. Only whole 4 KiB blocks are
written (the first form of ``writeblocks``, which erases them first), so the
RAM needed is one block.
"""

import hashlib

import esp32

BLOCK = 4096  # the partition's erase block


class ImageError(Exception):
    pass


class ImageWriter:
    """Streams one firmware image into the next OTA app partition."""

    def __init__(self, size):
        # The stubs type the constructor's id as a label string; the port also
        # takes Partition.RUNNING / Partition.BOOT, as its documentation shows.
        running = esp32.Partition(esp32.Partition.RUNNING)  # type: ignore[arg-type]
        self.target = running.get_next_update()
        capacity = self.target.info()[3]
        if size > capacity:
            raise ImageError("image of %d bytes; partition %s holds %d" % (size, self.target.info()[4], capacity))
        self.size = size
        self.written = 0
        self._block = 0
        self._buf = bytearray(BLOCK)
        self._fill = 0
        self._hash = hashlib.sha256()

    def write(self, data):
        if self.written + len(data) > self.size:
            raise ImageError("more data than the announced %d bytes" % self.size)
        self._hash.update(data)
        self.written += len(data)
        view = memoryview(data)
        while len(view):
            n = min(len(view), BLOCK - self._fill)
            self._buf[self._fill:self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == BLOCK:
                self._flush()

    def _flush(self):
        for i in range(self._fill, BLOCK):
            self._buf[i] = 0xFF  # what erased flash reads; past the image's end
        self.target.writeblocks(self._block, self._buf)
        self._block += 1
        self._fill = 0

    def finish(self, sha256_digest):
        """Check the image (as sent and as stored) and make it boot at the next reset."""
        if self.written != self.size:
            raise ImageError("got %d of %d bytes" % (self.written, self.size))
        if self._fill:
            self._flush()
        if self._hash.digest() != sha256_digest:
            raise ImageError("SHA-256 mismatch in the received image")
        if self._stored_digest() != sha256_digest:
            raise ImageError("the image reads back wrong from flash")
        self.target.set_boot()  # the bootloader also checks the image's own checksum

    def _stored_digest(self):
        h = hashlib.sha256()
        left = self.size
        block = 0
        while left > 0:
            self.target.readblocks(block, self._buf)
            n = min(left, BLOCK)
            h.update(self._buf if n == BLOCK else self._buf[:n])
            left -= n
            block += 1
        return h.digest()


def running_label():
    """The running app partition, e.g. "ota_0"."""
    return esp32.Partition(esp32.Partition.RUNNING).info()[4]  # type: ignore[arg-type]


def confirm():
    """The new firmware is healthy: cancel the bootloader's rollback."""
    esp32.Partition.mark_app_valid_cancel_rollback()

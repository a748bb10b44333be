#!/usr/bin/env python3
"""Loopback SMTP sink for the graphmail XOAUTH2 interop test.

Dovecot's submission service relays every accepted message here. Each
message is stored as two files in SINK_DIR:

  <id>.json  envelope: {"mail_from": ..., "rcpt_tos": [...], "peer": ...}
  <id>.eml   the DATA content exactly as received (after dot-unstuffing)

The .eml file is renamed into place last, so a reader that sees it also
sees the complete .json file. Only ever listens on a loopback address and
never relays anything anywhere.

Usage: sink.py HOST PORT SINK_DIR PIDFILE
"""

import ipaddress
import itertools
import json
import os
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    def _write(self, name, data):
        tmp = os.path.join(self.directory, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.directory, name))

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            msg_id = "%d-%06d" % (time.time_ns(), next(self.counter))
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options or []),
            "peer": str(session.peer),
            "helo": session.host_name,
        }
        self._write(msg_id + ".json", json.dumps(meta).encode())
        self._write(msg_id + ".eml", envelope.original_content)
        return "250 2.0.0 Ok: stored as " + msg_id


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    host, port, directory, pidfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("sink.py: refusing to listen on non-loopback address " + host)
    os.makedirs(directory, exist_ok=True)

    controller = Controller(Sink(directory), hostname=host, port=port,
                            decode_data=False, data_size_limit=64 * 1024 * 1024)
    controller.start()
    with open(pidfile + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(pidfile + ".tmp", pidfile)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("sink listening on %s:%d, storing into %s" % (host, port, directory), flush=True)
    while not stop.wait(3600):
        pass
    controller.stop()
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    main()

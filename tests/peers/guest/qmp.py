#!/usr/bin/python3
"""A minimal QMP client for the guest kit (QEMU's JSON machine protocol on a unix socket).

  qmp.py SOCKET execute COMMAND [JSON-ARGUMENTS]   print the command's "return" as JSON
  qmp.py SOCKET migrate URI [TIMEOUT_S]            live-migrate and wait; prints the final
                                                   query-migrate status; exit 0 if completed
Standard library only (runs with Debian's /usr/bin/python3).
"""
import json
import socket
import sys
import time


class Qmp:
    def __init__(self, path, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"qmp.py: cannot connect to {path}")
                time.sleep(0.1)
        self.buf = b""
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("qmp.py: QEMU closed the QMP connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, arguments=None):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise SystemExit(f"qmp.py: {command}: {reply['error'].get('desc')}")
            return reply.get("return")


def main(argv):
    if len(argv) < 4:
        raise SystemExit(__doc__)
    qmp = Qmp(argv[1])
    if argv[2] == "execute":
        args = json.loads(argv[4]) if len(argv) > 4 else None
        print(json.dumps(qmp.execute(argv[3], args)))
        return 0
    if argv[2] == "migrate":
        timeout = float(argv[4]) if len(argv) > 4 else 120.0
        qmp.execute("migrate", {"uri": argv[3]})
        deadline = time.monotonic() + timeout
        while True:
            status = qmp.execute("query-migrate")
            if status.get("status") in ("completed", "failed", "cancelled"):
                print(json.dumps(status))
                return 0 if status["status"] == "completed" else 1
            if time.monotonic() > deadline:
                print(json.dumps(status))
                return 1
            time.sleep(0.2)
    raise SystemExit(f"qmp.py: unknown verb {argv[2]!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))

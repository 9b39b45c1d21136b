#!/usr/bin/python3
"""A JupyterHub service that greets the logged-in user, written as
JupyterHub's own examples/service-whoami-oauth is: tornado with the
unmodified jupyterhub.services.auth.HubOAuthenticated and
HubOAuthCallbackHandler from Debian's python3-jupyterhub (3.0). It reads
only JupyterHub's service environment (JUPYTERHUB_SERVICE_PREFIX,
JUPYTERHUB_SERVICE_URL, JUPYTERHUB_API_TOKEN, JUPYTERHUB_API_URL,
JUPYTERHUB_CLIENT_ID, JUPYTERHUB_OAUTH_ACCESS_SCOPES …).

Run it with /usr/bin/python3, whose dist-packages hold Debian's jupyterhub.
"""
import json
import os
import secrets
from html import escape
from urllib.parse import urlparse

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.web import Application, RequestHandler, authenticated

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join


class WhoAmIHandler(HubOAuthenticated, RequestHandler):
    @authenticated
    def get(self):
        user = self.get_current_user()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(
            "<!DOCTYPE html><html><head><title>whoami</title></head><body>"
            f"<h1 id='greeting'>Hello, {escape(user['name'])}!</h1>"
            f"<pre id='model'>{escape(json.dumps(user, sort_keys=True))}</pre>"
            f"<p id='pid'>{os.getpid()}</p>"
            "</body></html>"
        )


class EnvHandler(RequestHandler):
    """What the hub gave the service, less the token, for the test."""

    def get(self):
        env = {k: v for k, v in os.environ.items() if k.startswith(("JUPYTERHUB_", "JPY_"))}
        env["JUPYTERHUB_API_TOKEN"] = "set" if env.get("JUPYTERHUB_API_TOKEN") else ""
        env["JPY_API_TOKEN"] = "set" if env.get("JPY_API_TOKEN") else ""
        env["cookies"] = sorted(self.request.cookies.keys())
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(env))


def main():
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    app = Application(
        [
            (prefix, WhoAmIHandler),
            (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
            (url_path_join(prefix, "env"), EnvHandler),
        ],
        cookie_secret=secrets.token_bytes(32),
    )
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    HTTPServer(app).listen(url.port, url.hostname)
    print(f"whoami service listening on {url.hostname}:{url.port}{prefix}", flush=True)
    IOLoop.current().start()


if __name__ == "__main__":
    main()

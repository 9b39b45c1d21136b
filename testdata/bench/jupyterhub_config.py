# JupyterHub 3.0 (Debian) for `make bench-peer`'s REST API comparison: the
# hub only (no server is spawned), dummy authentication, and an admin
# service whose token drives the API. Settings come from the environment.
import os

state = os.environ["JH_STATE"]
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ["JH_PORT"])
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ["JH_HUB_PORT"])
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
c.ConfigurableHTTPProxy.pid_file = f"{state}/jupyterhub-proxy.pid"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:" + os.environ["JH_PROXY_API_PORT"]
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.services = [{"name": "bench", "api_token": os.environ["BENCH_ADMIN_TOKEN"]}]
c.JupyterHub.load_roles = [{"name": "admin", "services": ["bench"]}]

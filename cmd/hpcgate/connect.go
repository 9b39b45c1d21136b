package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"hpcgate/batch"
	"hpcgate/batch/sshexec"
	"hpcgate/gateway/config"
	"hpcgate/gateway/store"
)

// forwardCheckAnswer is what the hub answers through the reverse forward
// while check-config tests it, so the check knows it reached this process.
const forwardCheckAnswer = "hpcgate-reverse-forward-ok"

// checkConnect is check-config -connect: it checks the directory (connect,
// StartTLS, service bind, base and group DNs) and a PostgreSQL database,
// logs in to every cluster's login
// node as the service account and runs a trivial command, and for clusters
// with hub_api: reverse-tunnel asks for the forward and has the login node
// connect to it (bash's /dev/tcp, no other tool), so a refusing sshd or a
// port nobody may bind is found before users are. It prints one line per
// check and returns how many failed.
func checkConnect(ctx context.Context, w io.Writer, cfg *config.Config) int {
	failed := 0
	report := func(what string, start time.Time, err error) {
		if err != nil {
			failed++
			fmt.Fprintf(w, "%s: FAILED: %v\n", what, err)
			return
		}
		fmt.Fprintf(w, "%s: ok (%s)\n", what, time.Since(start).Round(time.Millisecond))
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := time.Now()
	report(directoryWhat(cfg.LDAP), start, checkDirectory(ctx, cfg, quiet))
	if cfg.Hub.DatabaseURL != "" && !strings.HasPrefix(cfg.Hub.DatabaseURL, "sqlite:") {
		start = time.Now()
		report("database "+cfg.Hub.DatabaseURL, start, checkDatabase(ctx, cfg))
	}
	for i := range cfg.Clusters {
		c := &cfg.Clusters[i]
		what := fmt.Sprintf("cluster %s: login node %s as %s", c.Name, c.Login.Addr(), c.Login.ServiceUser)
		start := time.Now()
		pool, err := openPool(c, quiet)
		if err != nil {
			report(what, start, err)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Duration(c.Login.ConnectTimeout)+10*time.Second)
		_, err = pool.Run(cctx, batch.Command{Argv: []string{"true"}})
		report(what, start, withAuthHint(err, c))
		if err == nil && c.HubAPI == config.HubAPIReverseTunnel {
			start = time.Now()
			report(fmt.Sprintf("cluster %s: reverse forward of the hub API on %s", c.Name, c.HubAPIBind), start,
				checkForward(cctx, pool, c.HubAPIBind))
		}
		if err == nil && c.HubAPI == config.HubAPIDirect {
			u := c.HubAPIURL(&cfg.Hub)
			start = time.Now()
			report(fmt.Sprintf("cluster %s: hub API %s from the login node", c.Name, u), start,
				checkHubAPIReach(cctx, pool, cfg.Hub.Listen, u))
		}
		cancel()
		pool.Close()
	}
	return failed
}

// directoryWhat names the directory check as its line shows it.
func directoryWhat(l config.LDAP) string {
	as := l.BindDN
	if as == "" {
		as = "anonymous"
	}
	return fmt.Sprintf("directory %s as %s", l.URL, as)
}

// checkDirectory connects to the directory as serve would (TLS, the service
// bind) and checks that the base DNs and groups the site names exist: a
// directory that does not answer or a wrong bind password otherwise shows
// only when the first user fails to log in.
func checkDirectory(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	auth, err := newAuthenticator(cfg, log)
	if err != nil {
		return err
	}
	defer auth.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.LDAP.Timeout)+5*time.Second)
	defer cancel()
	return auth.Check(cctx)
}

// checkDatabase connects to a PostgreSQL database_url with the password
// file's password, as serve will (a SQLite file is checked by -files).
func checkDatabase(ctx context.Context, cfg *config.Config) error {
	url, err := cfg.Hub.DatabaseURLWithPassword()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return store.CheckPostgres(cctx, url)
}

// withAuthHint adds to a refused SSH login what the sshd side needs for the
// cluster's auth mode: x/crypto's "unable to authenticate" names no cause,
// and on a first deployment it is the step most often missed.
func withAuthHint(err error, c *config.Cluster) error {
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		return err
	}
	l := c.Login
	if l.Auth == "sudo" {
		return fmt.Errorf("%w (the login node refused service_key %s: is its public key in the authorized_keys of %s there?)",
			err, l.ServiceKey, l.ServiceUser)
	}
	return fmt.Errorf("%w (the login node refused the certificate signed with user_ca_key %s: is its public key in sshd's TrustedUserCAKeys, and does the account %s exist there?)",
		err, l.UserCAKey, l.ServiceUser)
}

// checkForward establishes the forward on bind, serves a fixed answer on
// it, and has the login node connect to bind and read that answer back.
func checkForward(ctx context.Context, pool *sshexec.Pool, bind string) error {
	f, err := pool.Forward(bind)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.WaitUp(ctx); err != nil {
		return err
	}
	defer answerChecks(f)()
	host, port, _ := net.SplitHostPort(bind)
	out, err := loginNodeGet(ctx, pool, host, port, "/hub/api", forwardCheckAnswer)
	if err != nil {
		return fmt.Errorf("the forward is up, but connecting to it on the login node failed: %w", err)
	}
	if !strings.Contains(string(out), forwardCheckAnswer) {
		return fmt.Errorf("the forward is up, but the login node got %.200q from %s, not the hub's answer", out, bind)
	}
	return nil
}

// checkHubAPIReach has the login node open a connection to the hub API's
// host and port, as the jobs' notebooks will (they check tokens and do
// OAuth there, and exit when they cannot): a firewall or a name only the
// hub resolves shows here instead of as a notebook that answers once and
// dies. The login node stands in for the compute nodes, which the check
// cannot reach without a job. When the hub is not running yet (its listen
// address is free) and the URL is plain http, the check answers on that
// address itself and reads the answer back, so it knows the connection
// reached this hub and not some other service on the port.
func checkHubAPIReach(ctx context.Context, pool *sshexec.Pool, listen, apiURL string) error {
	u, err := url.Parse(apiURL)
	if err != nil {
		return err
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	want := ""
	if u.Scheme == "http" {
		if ln, err := net.Listen("tcp", listen); err == nil {
			want = forwardCheckAnswer
			defer answerChecks(ln)()
		}
	}
	out, err := loginNodeGet(ctx, pool, host, port, u.RequestURI(), want)
	if err != nil {
		return fmt.Errorf("the login node cannot connect to %s port %s (%w); the compute nodes probably cannot either: "+
			"set hub.hub_api_url to an address they reach, or use hub_api: reverse-tunnel", host, port, err)
	}
	if want != "" && !strings.Contains(string(out), want) {
		return fmt.Errorf("the login node reached %s port %s, but what answered there is not this hub (it got %.200q); "+
			"hub.hub_api_url must lead to hub.listen %s", host, port, out, listen)
	}
	return nil
}

// answerChecks serves forwardCheckAnswer on ln until the returned stop.
func answerChecks(ln net.Listener) (stop func()) {
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, forwardCheckAnswer)
	})}
	go srv.Serve(ln)
	return func() { srv.Close() }
}

// loginNodeGet has the login node connect to host:port (bash's /dev/tcp,
// no other tool) and, when want is set, GET path there and print the
// answer up to the line holding want: sshd may keep the socket open after
// the hub closed its end, so reading to EOF could wait. timeout: a
// firewall that drops rather than refuses would otherwise hold the connect
// for the kernel's two minutes.
func loginNodeGet(ctx context.Context, pool *sshexec.Pool, host, port, path, want string) ([]byte, error) {
	return pool.Run(ctx, batch.Command{Argv: []string{"timeout", "15", "bash", "-c",
		`exec 3<>"/dev/tcp/$1/$2" || exit 3
		[ -n "$4" ] || exit 0
		printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
		while IFS= read -r -t 10 line <&3; do printf '%s\n' "$line"; case $line in *"$4"*) break ;; esac; done`,
		"hpcgate-check", host, port, path, want}})
}

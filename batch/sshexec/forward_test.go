package sshexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
)

// serveForward serves HTTP on f until the test ends: the handler answers
// "hub" and the address sshd reported for the caller.
func serveForward(t *testing.T, f *Forward) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hub %s", r.RemoteAddr)
	})}
	go srv.Serve(f)
	t.Cleanup(func() { srv.Close() })
}

// getForwarded fetches / from the login node's forwarded address, as a
// compute node would, with a fresh connection each time.
func getForwarded(addr string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestForwardFollowsTheConnection: sshd listens on the forwarded address
// and the connections made to it reach an http.Server in this process; when
// the login node restarts (every connection killed) the forward comes back
// by itself; Close makes sshd stop listening.
func TestForwardFollowsTheConnection(t *testing.T) {
	n := newLoginNode(t)
	cfg := n.config(t, ModeCertificate)
	cfg.ReconnectMin, cfg.ReconnectMax = 50*time.Millisecond, 500*time.Millisecond
	p := newPool(t, cfg)
	bind := fmt.Sprintf("127.0.0.1:%d", n.ForwardPort)
	f, err := p.Forward(bind)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := f.WaitUp(ctx); err != nil {
		t.Fatalf("WaitUp: %v", err)
	}
	serveForward(t, f)
	body, err := getForwarded(bind)
	if err != nil || !strings.HasPrefix(body, "hub 127.0.0.1:") {
		t.Fatalf("GET through the forward: %q, %v; want the hub's answer with the caller's address", body, err)
	}
	if st := p.Stats(); st.ForwardsUp != 1 || st.ForwardSetups != 1 || st.ForwardConns != 1 {
		t.Errorf("stats %+v: want 1 forward up, 1 setup, 1 connection", st)
	}

	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forward to be reported down", func() bool { return !f.Status().Up })
	if _, err := getForwarded(bind); err == nil {
		t.Fatal("the forwarded address answered while the login node was down")
	}
	stopped := time.Now()
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forward to answer again", func() bool { _, err := getForwarded(bind); return err == nil })
	t.Logf("forward back %v after the login node went down", time.Since(stopped).Round(time.Millisecond))
	if st := p.Stats(); st.ForwardsUp != 1 || st.ForwardSetups != 2 || st.Reconnects != 1 {
		t.Errorf("stats %+v: want 1 forward up, 2 setups, 1 reconnect", st)
	}

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", bind, 2*time.Second); err == nil {
		t.Error("sshd still listens on the forwarded address after Close")
	}
	if st := f.Status(); st.Up || !errors.Is(st.Err, ErrClosed) {
		t.Errorf("status after Close: %+v", st)
	}
	if _, err := f.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// TestForwardMovesOnRenewal: a certificate renewal replaces the service
// connection; the forward moves to the new one and keeps answering.
func TestForwardMovesOnRenewal(t *testing.T) {
	n := newLoginNode(t)
	cfg := n.config(t, ModeCertificate)
	cfg.CertLifetime = 3 * time.Second // renewed after 2s
	p := newPool(t, cfg)
	bind := fmt.Sprintf("127.0.0.1:%d", n.ForwardPort)
	f, err := p.Forward(bind)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	serveForward(t, f)
	waitFor(t, "two setups (one after the renewal)", func() bool { return p.Stats().ForwardSetups >= 2 })
	waitFor(t, "the forward to answer on the renewed connection", func() bool { _, err := getForwarded(bind); return err == nil })
	if st := p.Stats(); st.Renewals < 1 || st.ForwardsUp != 1 {
		t.Errorf("stats %+v: want a renewal and 1 forward up", st)
	}
}

// TestForwardRefused: an address sshd does not permit is refused with a
// message naming the sshd settings; the service account in sudo mode too.
func TestForwardRefused(t *testing.T) {
	n := newLoginNode(t)
	p := newPool(t, n.config(t, ModeSudo))
	other, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.Forward(fmt.Sprintf("127.0.0.1:%d", other))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = f.WaitUp(ctx)
	want := fmt.Sprintf("login node refused the reverse forward on 127.0.0.1:%d: check GatewayPorts clientspecified or PermitListen for user hpcgate", other)
	if !errors.Is(err, ErrForwardRefused) || !strings.Contains(err.Error(), want) {
		t.Fatalf("WaitUp: %v, want ErrForwardRefused saying %q", err, want)
	}
	if st := f.Status(); st.Up || st.Err == nil {
		t.Errorf("status of a refused forward: %+v", st)
	}
	// The connection itself is fine: commands still run on it.
	if _, err := p.Run(ctx, batch.Command{Argv: []string{"true"}}); err != nil {
		t.Errorf("a command after the refusal: %v", err)
	}
}

// TestForwardBadAddress: the bind address is checked before anything is
// sent.
func TestForwardBadAddress(t *testing.T) {
	for _, bind := range []string{"login01:8081", "10.0.0.1", "10.0.0.1:0", "10.0.0.1:http2"} {
		if _, err := (&Pool{}).Forward(bind); err == nil {
			t.Errorf("Forward(%q) accepted", bind)
		}
	}
}

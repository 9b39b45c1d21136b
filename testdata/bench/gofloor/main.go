// Command gofloor is the least a Go HTTP proxy can do, for `make
// bench-peer` to measure beside hpcgate on the same machine: what Go's own
// request parser and, with -ssh, x/crypto/ssh cost before any of the hub's
// work. It is not a proxy to deploy: it checks no one's rights.
//
// Each client connection is read with http.ReadRequest (no net/http
// server: no per-request goroutine, context or background read) and each
// request is written to a pooled keep-alive connection to the origin, over
// plain TCP or, with -ssh, over a direct-tcpip channel of one SSH
// connection to the login node with the hub's cipher order. A 101 answer
// turns the two connections into a byte pipe, for the WebSocket rows.
//
// With -bytes it does not even parse with net/http: it finds the end of
// each head and its Content-Length and copies bytes (no chunked bodies,
// no WebSocket): a lower bound for any HTTP-aware proxy written in Go.
//
//	gofloor -listen 127.0.0.1:18300 -origin 127.0.0.1:PORT
//	gofloor -listen 127.0.0.1:18301 -origin 127.0.0.1:PORT -ssh 127.0.0.1:2222 \
//	        -user alice -key users/alice -known-hosts known_hosts
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18300", "address to serve")
	origin := flag.String("origin", "", "the origin app's host:port")
	sshAddr := flag.String("ssh", "", "login node host:port: tunnel through it")
	user := flag.String("user", "", "SSH user")
	key := flag.String("key", "", "SSH private key (KEY-cert.pub is used if present)")
	known := flag.String("known-hosts", "", "known_hosts file for the login node")
	raw := flag.Bool("bytes", false, "copy heads and Content-Length bodies as bytes instead of parsing them with net/http")
	flag.Parse()
	if *origin == "" {
		log.Fatal("gofloor: -origin is required")
	}
	dial := func() (net.Conn, error) { return net.Dial("tcp", *origin) }
	if *sshAddr != "" {
		c, err := sshClient(*sshAddr, *user, *key, *known)
		if err != nil {
			log.Fatalf("gofloor: %v", err)
		}
		dial = func() (net.Conn, error) { return c.Dial("tcp", *origin) }
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("gofloor: %v", err)
	}
	p := &pool{dial: dial}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("gofloor: %v", err)
		}
		if *raw {
			go serveBytes(c, p)
		} else {
			go serve(c, p)
		}
	}
}

func sshClient(addr, user, keyFile, knownHosts string) (*ssh.Client, error) {
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(keyFile + "-cert.pub"); err == nil {
		pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return nil, err
		}
		cert, ok := pub.(*ssh.Certificate)
		if !ok {
			return nil, fmt.Errorf("%s-cert.pub is not a certificate", keyFile)
		}
		if signer, err = ssh.NewCertSigner(cert, signer); err != nil {
			return nil, err
		}
	}
	hostKey, err := knownhosts.New(knownHosts)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hostKey}
	// The hub's order (batch/sshexec/dial.go): AES-GCM first.
	cfg.Ciphers = []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM, ssh.CipherChaCha20Poly1305}
	return ssh.Dial("tcp", addr, cfg)
}

// backend is one keep-alive connection to the origin.
type backend struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

type pool struct {
	dial func() (net.Conn, error)
	mu   sync.Mutex
	idle []*backend
}

func (p *pool) get() (*backend, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		b := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return b, nil
	}
	p.mu.Unlock()
	c, err := p.dial()
	if err != nil {
		return nil, err
	}
	return &backend{c, bufio.NewReader(c), bufio.NewWriter(c)}, nil
}

func (p *pool) put(b *backend) {
	p.mu.Lock()
	p.idle = append(p.idle, b)
	p.mu.Unlock()
}

func serve(c net.Conn, p *pool) {
	defer c.Close()
	cr, cw := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		req, err := http.ReadRequest(cr)
		if err != nil {
			return
		}
		b, err := p.get()
		if err != nil {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
		if err := req.Write(b.w); err != nil || b.w.Flush() != nil {
			b.c.Close()
			return
		}
		resp, err := http.ReadResponse(b.r, req)
		if err != nil {
			b.c.Close()
			return
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			pipe(c, cr, cw, resp, b)
			return
		}
		err = resp.Write(cw)
		resp.Body.Close()
		if err != nil || cw.Flush() != nil {
			b.c.Close()
			return
		}
		p.put(b)
		if req.Close || resp.Close {
			return
		}
	}
}

// pipe writes the 101 answer and then copies bytes both ways until either
// side closes.
func pipe(c net.Conn, cr *bufio.Reader, cw *bufio.Writer, resp *http.Response, b *backend) {
	defer b.c.Close()
	resp.Body = nil
	if resp.Write(cw) != nil || cw.Flush() != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(b.c, cr); done <- struct{}{} }()
	go func() { io.Copy(c, b.r); done <- struct{}{} }()
	<-done
}

// serveBytes forwards each request and answer as bytes: a head up to its
// blank line, then Content-Length bytes. Anything else ends the connection.
func serveBytes(c net.Conn, p *pool) {
	defer c.Close()
	cr, cw := bufio.NewReader(c), bufio.NewWriter(c)
	var head []byte
	for {
		var n int64
		var err error
		if head, n, err = readHead(cr, head[:0]); err != nil || n < 0 {
			return
		}
		b, err := p.get()
		if err != nil {
			return
		}
		b.w.Write(head)
		if _, err := io.CopyN(b.w, cr, n); err != nil || b.w.Flush() != nil {
			b.c.Close()
			return
		}
		if head, n, err = readHead(b.r, head[:0]); err != nil || n < 0 || bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
			b.c.Close()
			return
		}
		cw.Write(head)
		if _, err := io.CopyN(cw, b.r, n); err != nil || cw.Flush() != nil {
			b.c.Close()
			return
		}
		p.put(b)
	}
}

// readHead appends one HTTP head to buf and returns its Content-Length
// (0 if none; -1 for a chunked body).
func readHead(r *bufio.Reader, buf []byte) ([]byte, int64, error) {
	var n int64
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return buf, 0, err
		}
		buf = append(buf, line...)
		if len(line) <= 2 {
			return buf, n, nil
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok {
			switch {
			case bytes.EqualFold(k, []byte("Content-Length")):
				if n, err = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err != nil {
					return buf, 0, err
				}
			case bytes.EqualFold(k, []byte("Transfer-Encoding")):
				n = -1
			}
		}
	}
}

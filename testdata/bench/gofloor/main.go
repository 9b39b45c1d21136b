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
		if req.Close || resp.Close {
			b.c.Close()
			return
		}
		p.put(b)
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
// blank line, then Content-Length bytes. Anything it does not frame this
// way (a chunked or length-less body, an upgrade) ends the connection.
func serveBytes(c net.Conn, p *pool) {
	defer c.Close()
	cr, cw := bufio.NewReader(c), bufio.NewWriter(c)
	var head []byte
	for {
		var req, resp headInfo
		var err error
		if head, req, err = readHead(cr, head[:0]); err != nil || req.chunked {
			return
		}
		b, err := p.get()
		if err != nil {
			return
		}
		b.w.Write(head)
		if _, err := io.CopyN(b.w, cr, max(req.length, 0)); err != nil || b.w.Flush() != nil {
			b.c.Close()
			return
		}
		isHead := bytes.HasPrefix(head, []byte("HEAD "))
		if head, resp, err = readHead(b.r, head[:0]); err != nil {
			b.c.Close()
			return
		}
		n := resp.length
		switch code := statusCode(head); {
		case code == 101:
			b.c.Close()
			return
		case isHead || code/100 == 1 || code == 204 || code == 304:
			n = 0
		case n < 0 || resp.chunked:
			b.c.Close() // a body without a length: not framed here
			return
		}
		cw.Write(head)
		if _, err := io.CopyN(cw, b.r, n); err != nil || cw.Flush() != nil {
			b.c.Close()
			return
		}
		if req.close || resp.close {
			b.c.Close()
			return
		}
		p.put(b)
	}
}

// headInfo is what serveBytes needs of a head.
type headInfo struct {
	length  int64 // Content-Length, or -1 if there is none
	chunked bool  // any Transfer-Encoding
	close   bool  // Connection: close
}

// readHead appends one HTTP head to buf.
func readHead(r *bufio.Reader, buf []byte) ([]byte, headInfo, error) {
	h := headInfo{length: -1}
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return buf, h, err
		}
		buf = append(buf, line...)
		if len(line) <= 2 {
			return buf, h, nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if h.length, err = strconv.ParseInt(string(v), 10, 64); err != nil || h.length < 0 {
				return buf, h, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			h.chunked = true
		case bytes.EqualFold(k, []byte("Connection")):
			h.close = h.close || bytes.EqualFold(v, []byte("close"))
		}
	}
}

// statusCode reads the status of a response head ("HTTP/1.1 200 OK").
func statusCode(head []byte) int {
	if len(head) < 12 {
		return 0
	}
	code, _ := strconv.Atoi(string(head[9:12]))
	return code
}

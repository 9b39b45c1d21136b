package proxy

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// recorder notes the status sent to the browser and, when the request is
// upgraded, wraps the hijacked connection so WebSocket traffic counts as
// activity. Flush and the other ResponseController methods reach the
// server's ResponseWriter through Unwrap.
type recorder struct {
	http.ResponseWriter
	p      *Proxy
	rt     *route // nil when the request had no route
	status int
	gone   bool // the client left before an answer: counted in no class
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setStatus counts the response once, before it goes out, so a client
// that has it sees it counted.
func (w *recorder) setStatus(code int) {
	if w.status != 0 || w.gone {
		return
	}
	w.status = code
	if class := code / 100; class >= 1 && class <= 5 {
		w.p.stats.status[class].Add(1)
	}
}

func (w *recorder) WriteHeader(code int) {
	// 1xx before the final status (103 Early Hints) are passed on but
	// not counted.
	if code >= 200 {
		w.setStatus(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	w.setStatus(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Hijack is called by ReverseProxy once the server has answered 101
// Switching Protocols; it writes that response itself on the connection.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.setStatus(http.StatusSwitchingProtocols)
	w.p.stats.wsOpen.Add(1)
	w.p.stats.wsTotal.Add(1)
	return &upgradedConn{Conn: c, p: w.p, rt: w.rt}, brw, nil
}

// count counts a request whose handler wrote nothing: net/http sends 200.
func (w *recorder) count() { w.setStatus(http.StatusOK) }

// upgradedConn is the browser's side of an upgraded connection. Every read
// and write is traffic on the route.
type upgradedConn struct {
	net.Conn
	p         *Proxy
	rt        *route
	closeOnce sync.Once
}

func (c *upgradedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.p.stats.wsIn.Add(uint64(n))
		c.touch()
	}
	return n, err
}

func (c *upgradedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.p.stats.wsOut.Add(uint64(n))
		c.touch()
	}
	return n, err
}

func (c *upgradedConn) touch() {
	if c.rt != nil {
		c.p.touch(c.rt)
	}
}

// CloseWrite lets ReverseProxy pass on a half-close from the server.
func (c *upgradedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

func (c *upgradedConn) Close() error {
	c.closeOnce.Do(func() { c.p.stats.wsOpen.Add(-1) })
	return c.Conn.Close()
}

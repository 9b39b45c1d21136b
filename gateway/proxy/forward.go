package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// forward is the proxy's own HTTP/1.1 client for plain requests: the
// handler's goroutine writes the request into a pooled connection and
// reads the answer from it. ReverseProxy with http.Transport hands every
// request to a writer goroutine and every response back from a reader
// goroutine; on the hub's path (one small request, one small answer, many
// at once) those hand-offs, the transport's bookkeeping and its header
// copies cost more than the SSH tunnel itself. The rules are
// ReverseProxy's: hop-by-hop headers removed both ways, X-Forwarded-*
// set by rewrite, the hub's cookies dropped, streamed answers flushed as
// they come. Upgrades, bodies of unknown or large length and
// Expect: 100-continue stay with ReverseProxy (canForward).

// maxForwardBody is the largest request body forward sends. It writes the
// body before reading the answer, so a server that answers early and
// stops reading must not be able to stall it on a full window; larger
// uploads go through ReverseProxy, which writes and reads at once.
const maxForwardBody = 1 << 20

// canForward reports whether forward can carry r.
func canForward(r *http.Request) bool {
	return r.ContentLength >= 0 && r.ContentLength <= maxForwardBody &&
		len(r.TransferEncoding) == 0 &&
		r.Header.Get("Upgrade") == "" && r.Header.Get("Expect") == ""
}

// forward sends r, which ServeRoute has authorized, to pr's server and
// copies the answer to w.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, pr *proxied) {
	out := p.outRequest(r, pr.target)
	b, resp, stop, err := p.send(r, out, pr.route)
	if errors.Is(err, errClientBody) && pr.client.Err() == nil {
		// The browser's body broke off: nobody's server failed.
		writeMessage(w, r, http.StatusBadRequest, "The request body could not be read")
		return
	}
	if err != nil {
		p.serveErrorFor(w, r, pr, err)
		return
	}
	reusable := false
	defer func() {
		// stop reports false once the client's going closed the
		// connection; putBackend closes it if the route is gone.
		if stop() && reusable {
			pr.route.putBackend(b, &p.cfg)
		} else {
			pr.route.dropBackend(b)
		}
	}()
	reusable = p.copyResponse(w, resp, pr)
}

// send writes out on a pooled connection and reads the response head.
// The exchange ends when the client goes or the route is removed: either
// closes the connection (the route through its busy set), which ends any
// read or write on it. stop detaches the connection from the client and
// reports whether it is still open.
func (p *Proxy) send(r, out *http.Request, rt *route) (*backend, *http.Response, func() bool, error) {
	client := r.Context()
	wr, err := prepare(out, r.Body)
	if err != nil {
		return nil, nil, nil, err
	}
	defer wr.release()
	// A request that must not be sent twice takes a kept connection only
	// if it was used a moment ago: an app closes idle connections after a
	// few seconds (Node after 5), and a request written into one that is
	// closing can be neither answered nor retried.
	// An app seen closing connections sooner lowers that bound for its
	// route.
	replayable := idempotent(out) && out.ContentLength == 0
	maxIdle := p.cfg.IdleConnTimeout
	if !replayable {
		maxIdle = min(maxIdle, freshIdle)
		if d := time.Duration(rt.pool.closesAfter.Load()); d > 0 {
			maxIdle = min(maxIdle, d/2)
		}
	}
	for attempt := 0; ; attempt++ {
		b, reused, err := rt.getBackend(client, &p.cfg, &p.stats.opened, maxIdle)
		if err != nil {
			return nil, nil, nil, err
		}
		stop := context.AfterFunc(client, func() { b.Close() })
		resp, sent, err := b.roundTrip(wr)
		if err == nil {
			return b, resp, stop, nil
		}
		stop()
		rt.dropBackend(b)
		// A kept connection failed while the client and the route are
		// fine: the app had closed it.
		closedByApp := reused && client.Err() == nil && rt.ctx.Err() == nil && !errors.Is(err, errClientBody)
		if closedByApp {
			rt.pool.closedAfter(b.reusedAfter)
		}
		if closedByApp && attempt == 0 && (!sent || replayable) {
			// Nothing of this request was acted on, so a fresh
			// connection may carry it (the bytes prepared are sent
			// again; a large body was not read yet if nothing was sent).
			continue
		}
		return nil, nil, nil, err
	}
}

// freshIdle is how long a kept connection counts as surely open for a
// request that cannot be retried.
const freshIdle = time.Second

// idempotent reports whether sending out twice is harmless (RFC 9110 9.2.2).
func idempotent(out *http.Request) bool {
	switch out.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// outRequest is the request as the server gets it: ReverseProxy's
// preparation (hop-by-hop and forwarding headers removed, then rewrite).
func (p *Proxy) outRequest(r *http.Request, t Target) *http.Request {
	out := new(http.Request)
	*out = *r
	u := *r.URL
	out.URL = &u
	out.Header = shallowClone(r.Header)
	removeHopByHop(out.Header)
	// "TE: trailers" says the client takes trailers; ReverseProxy keeps it.
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		out.Header.Set("Te", "trailers")
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		delete(out.Header, h)
	}
	p.rewriteTo(&httputil.ProxyRequest{In: r, Out: out}, t)
	return out
}

// shallowClone copies h's map but shares its value slices, capped so that
// an Add to the copy cannot write into h's. Everything that edits the
// outgoing header (removeHopByHop, rewrite, dropCookies, SetXForwarded)
// replaces or deletes whole entries, so h stays as the browser sent it;
// Clone would copy every value as well, on every request.
func shallowClone(h http.Header) http.Header {
	out := make(http.Header, len(h)+4) // room for X-Forwarded-*
	for k, vs := range h {
		out[k] = vs[:len(vs):len(vs)]
	}
	return out
}

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 7.6.1), as ReverseProxy removes them.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for _, name := range strings.Split(f, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		delete(h, name)
	}
}

// headBuffers holds request heads (and small bodies) while they are built.
var headBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxKeptHead is the largest head buffer returned to headBuffers.
const maxKeptHead = 64 << 10

var errClientBody = errors.New("read request body")

// wireRequest is a request as it is written: its head, with the body
// when it is small (so the request is one SSH packet and can be sent
// again), or the body's rest still to be read.
type wireRequest struct {
	out  *http.Request
	bp   *[]byte
	msg  []byte
	rest io.Reader // the body not in msg, n bytes
	n    int64
}

func prepare(out *http.Request, body io.Reader) (*wireRequest, error) {
	bp := headBuffers.Get().(*[]byte)
	msg := appendRequestHead((*bp)[:0], out)
	wr := &wireRequest{out: out, bp: bp, rest: body, n: out.ContentLength}
	if n := wr.n; n > 0 && int64(len(msg))+n <= int64(cap(msg)) {
		m, err := io.ReadFull(body, msg[len(msg):len(msg)+int(n)])
		msg = msg[:len(msg)+m]
		if err != nil {
			wr.msg = msg
			wr.release()
			return nil, fmt.Errorf("%w: %w", errClientBody, err)
		}
		wr.rest, wr.n = nil, 0
	}
	wr.msg = msg
	return wr, nil
}

func (wr *wireRequest) release() {
	if cap(wr.msg) <= maxKeptHead {
		*wr.bp = wr.msg[:0]
		headBuffers.Put(wr.bp)
	}
	wr.bp, wr.msg = nil, nil
}

// roundTrip writes wr and reads the response head. sent reports whether
// any of the request may have reached the server.
func (b *backend) roundTrip(wr *wireRequest) (resp *http.Response, sent bool, err error) {
	out := wr.out
	if _, err := b.Write(wr.msg); err != nil {
		return nil, false, fmt.Errorf("send request: %w", err)
	}
	if wr.n > 0 {
		bp := buffers.Get().(*[32 << 10]byte)
		m, err := io.CopyBuffer(b.Conn, io.LimitReader(wr.rest, wr.n), bp[:])
		buffers.Put(bp)
		if err == nil && m < wr.n {
			err = fmt.Errorf("%w: %w", errClientBody, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, true, fmt.Errorf("send request body: %w", err)
		}
	}
	b.head.n = maxResponseHead - int64(b.br.Buffered())
	defer func() { b.head.n = -1 }()
	for {
		resp, err = http.ReadResponse(b.br, out)
		if err != nil {
			return nil, true, fmt.Errorf("read response: %w", err)
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			resp.Body.Close()
			return nil, true, errors.New("read response: 101 Switching Protocols to a request that asked for no upgrade")
		case resp.StatusCode < 200:
			// Interim answers (102, 103) carry nothing the browser
			// needs; the final one follows.
			continue
		}
		return resp, true, nil
	}
}

// appendRequestHead appends out's request line and headers in HTTP/1.1
// form, as http.Request.Write would (without its default User-Agent:
// ReverseProxy sends none either).
func appendRequestHead(buf []byte, out *http.Request) []byte {
	buf = append(buf, out.Method...)
	buf = append(buf, ' ')
	buf = append(buf, out.URL.RequestURI()...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	buf = appendHeaderValue(buf, out.Host)
	buf = append(buf, "\r\n"...)
	for k, vs := range out.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vs {
			if v == "" && k == "User-Agent" {
				continue
			}
			buf = append(buf, k...)
			buf = append(buf, ": "...)
			buf = appendHeaderValue(buf, v)
			buf = append(buf, "\r\n"...)
		}
	}
	switch {
	case out.ContentLength > 0:
		buf = append(buf, "Content-Length: "...)
		buf = strconv.AppendInt(buf, out.ContentLength, 10)
		buf = append(buf, "\r\n"...)
	case out.Method == http.MethodPost || out.Method == http.MethodPut || out.Method == http.MethodPatch:
		buf = append(buf, "Content-Length: 0\r\n"...)
	}
	return append(buf, "\r\n"...)
}

// appendHeaderValue appends v with any CR or LF made a space, as
// http.Header.Write does: no value can start a header of its own.
func appendHeaderValue(buf []byte, v string) []byte {
	if !strings.ContainsAny(v, "\r\n") {
		return append(buf, v...)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		buf = append(buf, c)
	}
	return buf
}

// copyResponse writes resp to w and reports whether its connection may
// carry another request (the body was read to its end).
func (p *Proxy) copyResponse(w http.ResponseWriter, resp *http.Response, pr *proxied) bool {
	p.keepHubScope(resp.Header)
	if a := pr.target.App; a != nil {
		a.response(resp)
	}
	removeHopByHop(resp.Header)
	h := w.Header()
	for k, vs := range resp.Header {
		// resp is this request's own: its slices can be shared.
		if old := h[k]; len(old) > 0 {
			vs = append(old, vs...)
		}
		h[k] = vs
	}
	w.WriteHeader(resp.StatusCode)

	c := newBodyCopier(w, resp.ContentLength < 0 || isEventStream(resp.Header))
	err := c.copy(resp.Body, resp.ContentLength)
	c.release()
	if err != nil {
		// Part of the answer went out and the rest cannot follow: end
		// the client's connection so it sees a broken response, not a
		// short one, as ReverseProxy does.
		// The deferred close of the connection ends the body; closing
		// resp.Body would read the rest of it first.
		if pr.client.Err() == nil && !errors.Is(err, errClientWrite) {
			p.cfg.Logger.Warn("proxy: response cut short", "user", pr.route.user, "server", pr.route.server, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	for k, vs := range resp.Trailer {
		h[http.TrailerPrefix+k] = vs
	}
	return !resp.Close
}

func isEventStream(h http.Header) bool {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

var (
	errClientWrite = errors.New("write to client")
	errCopied      = errors.New("body copied") // nothing more may be written
)

// bodyCopier copies a body to the client. A streamed answer (no length,
// or an event stream) is written and flushed after every read. One of
// known length gathers in a buffer and goes out when the buffer is full or
// the body ends, so a small answer takes one write and a large one a write
// per copyBuffer, not one per SSH packet; what has waited flushInterval
// goes out anyway, so a slow answer still arrives as it is produced.
//
// The reading goroutine owns buf[end:]; the timer writes buf[start:end]
// under mu.
type bodyCopier struct {
	w      http.ResponseWriter
	stream bool
	bp     *[copyBuffer]byte

	mu         sync.Mutex
	start, end int
	timer      *time.Timer
	armed      bool  // the timer will fire
	werr       error // the timer's write failed
}

// copyBuffer is the most a known-length body gathers before a write.
const copyBuffer = 128 << 10

var copyBuffers = sync.Pool{New: func() any { return new([copyBuffer]byte) }}

func newBodyCopier(w http.ResponseWriter, stream bool) *bodyCopier {
	return &bodyCopier{w: w, stream: stream, bp: copyBuffers.Get().(*[copyBuffer]byte)}
}

func (c *bodyCopier) copy(body io.Reader, length int64) error {
	var read int64
	for {
		c.mu.Lock()
		if c.werr != nil {
			c.mu.Unlock()
			return c.werr
		}
		if c.end == len(c.bp) {
			if err := c.writeLocked(); err != nil {
				c.mu.Unlock()
				return err
			}
		}
		tail := c.bp[c.end:]
		c.mu.Unlock()

		n, rerr := body.Read(tail)
		read += int64(n)
		last := rerr == io.EOF || length >= 0 && read >= length

		c.mu.Lock()
		c.end += n
		var err error
		switch {
		case c.stream || last || c.end == len(c.bp):
			err = c.writeLocked()
		case n > 0 && !c.armed:
			// Armed once per flush, not pushed back by every read: a
			// body trickling in still goes out every flushInterval.
			if c.timer == nil {
				c.timer = time.AfterFunc(flushInterval, c.delayedWrite)
			} else {
				c.timer.Reset(flushInterval)
			}
			c.armed = true
		}
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			// What came before the break goes out: the browser sees
			// how far the answer got.
			c.mu.Lock()
			if c.writeLocked() == nil {
				flush(c.w)
			}
			c.mu.Unlock()
			return fmt.Errorf("read response body: %w", rerr)
		}
	}
}

// writeLocked writes what is gathered; a stream is flushed too, and the
// rest by net/http when the handler ends or the timer fires.
func (c *bodyCopier) writeLocked() error {
	if c.end > c.start {
		if _, err := c.w.Write(c.bp[c.start:c.end]); err != nil {
			return fmt.Errorf("%w: %w", errClientWrite, err)
		}
		if c.stream {
			flush(c.w)
		}
	}
	c.start = c.end
	if c.end == len(c.bp) {
		c.start, c.end = 0, 0
	}
	return nil
}

func (c *bodyCopier) delayedWrite() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = false
	if c.end > c.start && c.werr == nil {
		if _, err := c.w.Write(c.bp[c.start:c.end]); err != nil {
			c.werr = fmt.Errorf("%w: %w", errClientWrite, err)
			return
		}
		c.start = c.end
		flush(c.w)
	}
}

// release stops the timer and returns the buffer; nothing is written after.
func (c *bodyCopier) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.werr = errCopied
	if c.bp != nil {
		copyBuffers.Put(c.bp)
		c.bp = nil
	}
}

func flush(w http.ResponseWriter) {
	_ = http.NewResponseController(w).Flush()
}

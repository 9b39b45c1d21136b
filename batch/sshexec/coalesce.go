package sshexec

import (
	"bufio"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// coalescingConn is the socket under one SSH connection. x/crypto/ssh
// writes every packet to it with a system call of its own, holding the
// connection's write lock for the call: under load every tunnelled request
// costs the hub a write to the login node, and the login node's sshd a
// read. OpenSSH writes whatever its channels have queued in one call.
//
// Here Write copies the packet into a pending buffer and returns. On a
// quiet connection the tunnel that wrote it flushes the buffer itself,
// outside x/crypto/ssh's lock (Flush); on a busy one a writer goroutine
// does, and while a write is in the kernel the packets other channels send
// meanwhile gather behind it and go out together in the next. The writer
// goroutine also sends what x/crypto/ssh writes on its own. A busy
// connection saves most of its writes (at 32 connections, 0.33 per
// request instead of one).
//
// Write reports an error the writer met on an earlier packet; the
// connection is then closed, so its reader fails too and x/crypto/ssh
// ends every channel. Packets are never reordered or dropped while the
// connection lives.
type coalescingConn struct {
	net.Conn
	r *bufio.Reader // reads ahead: x/crypto/ssh reads in 4 KiB at most

	mu       sync.Mutex
	room     sync.Cond // signalled when pending shrinks or err is set
	pending  []byte
	spare    []byte
	err      error
	flushing bool        // a goroutine is writing to the socket
	busy     atomic.Bool // packets gathered while the last write was under way

	wake     chan struct{} // capacity 1: pending became non-empty
	closing  chan struct{}
	closeErr error
	once     sync.Once
	exited   chan struct{}
}

// maxPending bounds the bytes waiting for the socket: beyond it Write
// blocks, so a stalled login node pushes back on its senders as a full
// socket buffer would.
const maxPending = 512 << 10

// closeFlushTimeout bounds the final write of what is pending at Close.
const closeFlushTimeout = time.Second

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{
		Conn:    c,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	cc.r = bufio.NewReaderSize(c, readAhead)
	cc.room.L = &cc.mu
	go cc.writer()
	return cc
}

// readAhead is the socket read size. x/crypto/ssh reads through a 4 KiB
// buffer, so a 32 KiB data packet took two or more system calls; with
// this, up to two whole packets arrive in one.
const readAhead = 64 << 10

// Read is the reader goroutine's (x/crypto/ssh reads from one goroutine).
func (c *coalescingConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && len(c.pending) > 0 && len(c.pending)+len(p) > maxPending {
		c.room.Wait()
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	first := len(c.pending) == 0
	c.pending = append(c.pending, p...)
	c.mu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// writer writes what x/crypto/ssh sends on its own (window adjustments,
// channel opens and closes, keep-alives) and what no writer flushed
// itself.
func (c *coalescingConn) writer() {
	defer close(c.exited)
	for {
		select {
		case <-c.wake:
			if c.busy.Load() {
				// Under load, let the goroutines ready to run send
				// their packets first, to join this write.
				runtime.Gosched()
			}
			if !c.flush(0) {
				return
			}
		case <-c.closing:
			// Close has set a write deadline: wait for a tunnel's
			// write under way, then send what is left.
			c.mu.Lock()
			for c.flushing {
				c.room.Wait()
			}
			c.mu.Unlock()
			c.flush(0)
			return
		}
	}
}

// Flush writes what is pending now, on the caller's goroutine, unless a
// write is under way (that one writes it next) or the connection is busy
// (the writer goroutine gathers more into each write). A tunnel calls it
// after each write, outside x/crypto/ssh's lock, so on a quiet connection
// a request leaves at once rather than when the writer goroutine is next
// scheduled. Skipping it loses nothing: the writer was woken when the data
// came. It writes one batch at most: a request does not carry other
// channels' traffic.
func (c *coalescingConn) Flush() error {
	if c.busy.Load() || !c.flush(1) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	}
	return nil
}

// flush writes what is pending, and what gathers while it writes, until
// nothing is left or it has written limit batches (0: no limit), unless
// another goroutine is writing. It reports whether the socket is still
// good.
func (c *coalescingConn) flush(limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flushing {
		return c.err == nil
	}
	c.flushing = true
	batches := 0
	for len(c.pending) > 0 && c.err == nil {
		if limit > 0 && batches == limit {
			// What gathered meanwhile is the writer's. Its wake-up may
			// have been spent while this write was under way.
			select {
			case c.wake <- struct{}{}:
			default:
			}
			break
		}
		buf := c.pending
		c.pending = c.spare[:0]
		c.spare = nil
		c.mu.Unlock()
		_, err := c.Conn.Write(buf)
		c.mu.Lock()
		// Packets gathered during the write: the connection is busy.
		c.busy.Store(len(c.pending) > 0)
		batches++
		if cap(buf) <= keptBuffer {
			c.spare = buf[:0]
		}
		if err != nil {
			c.err = err
			// The reader must fail too, or x/crypto/ssh would wait for
			// packets that answer ones never sent.
			c.Conn.Close()
		}
		c.room.Broadcast()
	}
	c.flushing = false
	c.room.Broadcast()
	return c.err == nil
}

// keptBuffer is the largest write buffer kept for reuse: a burst's
// buffer is not held for the connection's life.
const keptBuffer = 64 << 10

// Close writes what is pending (for at most closeFlushTimeout), then
// closes the socket. A write already under way gets the same deadline, so
// a login node that stopped reading cannot hold Close.
func (c *coalescingConn) Close() error {
	c.once.Do(func() {
		c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		close(c.closing)
		<-c.exited
		c.mu.Lock()
		if c.err == nil {
			c.err = net.ErrClosed
		}
		c.room.Broadcast()
		c.mu.Unlock()
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}

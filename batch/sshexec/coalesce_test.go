package sshexec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes that reach the socket; each takes at
// least delay, as a system call does on a busy machine.
type countingConn struct {
	net.Conn
	delay  time.Duration
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	time.Sleep(c.delay)
	return c.Conn.Write(p)
}

// tcpPair is a connected loopback TCP pair.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestCoalescingKeepsPacketsWholeAndInOrder writes numbered packets from
// many goroutines, one at a time as x/crypto/ssh does (under its write
// lock), half of them flushing after each write as a tunnel does: every
// packet arrives whole, in the order written, and while one write is in
// the kernel the others gather behind it: far fewer socket writes than
// packets (without gathering, every packet is a write).
func TestCoalescingKeepsPacketsWholeAndInOrder(t *testing.T) {
	raw, peer := tcpPair(t)
	counted := &countingConn{Conn: raw, delay: 200 * time.Microsecond}
	c := newCoalescingConn(counted)
	defer c.Close()

	const senders, each, size = 8, 200, 300
	var lock sync.Mutex // x/crypto/ssh's write lock
	var order []uint32  // packet ids in the order Write accepted them
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := uint32(s*each + i)
				pkt := bytes.Repeat([]byte{byte(id)}, size)
				binary.BigEndian.PutUint32(pkt, id)
				lock.Lock()
				order = append(order, id)
				_, err := c.Write(pkt)
				lock.Unlock()
				if err == nil && s%2 == 0 {
					// As a tunnel does after each write.
					err = c.Flush()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(s)
	}

	got := make([]byte, senders*each*size)
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatalf("reading %d bytes: %v", len(got), err)
	}
	wg.Wait()
	for k, id := range order {
		pkt := got[k*size : (k+1)*size]
		if gotID := binary.BigEndian.Uint32(pkt); gotID != id {
			t.Fatalf("packet %d is %d, want %d", k, gotID, id)
		}
		if !bytes.Equal(pkt[4:], bytes.Repeat([]byte{byte(id)}, size-4)) {
			t.Fatalf("packet %d (id %d) is not whole", k, id)
		}
	}
	if w := counted.writes.Load(); w >= senders*each/2 {
		t.Errorf("%d packets took %d socket writes; want them gathered", senders*each, w)
	}
	t.Logf("%d packets in %d socket writes", senders*each, counted.writes.Load())
}

// TestCoalescingPushesBack: a peer that does not read makes Write block
// once maxPending bytes wait, and reading lets it go on.
func TestCoalescingPushesBack(t *testing.T) {
	raw, peer := tcpPair(t)
	c := newCoalescingConn(raw)
	defer c.Close()

	pkt := make([]byte, 32<<10)
	done := make(chan int64)
	go func() {
		var n int64
		for n < 64<<20 {
			if _, err := c.Write(pkt); err != nil {
				break
			}
			n += int64(len(pkt))
		}
		done <- n
	}()
	select {
	case n := <-done:
		t.Fatalf("wrote %d bytes to a peer that reads nothing", n)
	case <-time.After(300 * time.Millisecond):
	}
	go io.Copy(io.Discard, peer)
	select {
	case n := <-done:
		if n != 64<<20 {
			t.Fatalf("wrote %d bytes, want %d", n, 64<<20)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Write stayed blocked after the peer began to read")
	}
}

// TestCoalescingReportsBrokenSocket: once the socket fails, Write says so
// and the reader fails too, so x/crypto/ssh ends the connection.
func TestCoalescingReportsBrokenSocket(t *testing.T) {
	raw, peer := tcpPair(t)
	c := newCoalescingConn(raw)
	defer c.Close()
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close()

	deadline := time.Now().Add(10 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = c.Write(make([]byte, 1024))
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("Write never reported the reset socket")
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	}()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("Read succeeded on a broken connection")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still blocked after the socket broke")
	}
}

// TestCoalescingCloseSendsPending: what Write accepted before Close reaches
// the peer, then EOF.
func TestCoalescingCloseSendsPending(t *testing.T) {
	raw, peer := tcpPair(t)
	c := newCoalescingConn(raw)
	want := bytes.Repeat([]byte("bye."), 1000)
	if _, err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("peer got %d bytes, want %d", len(got), len(want))
	}
}

// TestCoalescingCloseWhileWriteStuck: the login node stopped reading and a
// write is stuck in the kernel. Close still returns (within
// closeFlushTimeout), so the connection's channels fail instead of hanging:
// x/crypto/ssh calls Close when the keep-alive gives up.
func TestCoalescingCloseWhileWriteStuck(t *testing.T) {
	raw, _ := tcpPair(t) // the peer never reads
	c := newCoalescingConn(raw)
	big := bytes.Repeat([]byte{1}, 256<<10)
	for blocked := false; !blocked; {
		done := make(chan struct{})
		go func() { c.Write(big); close(done) }()
		select {
		case <-done:
		case <-time.After(500 * time.Millisecond):
			blocked = true // the socket buffers are full
		}
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(closeFlushTimeout + 5*time.Second):
		t.Fatal("Close hangs while a socket write is stuck")
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// Command wsrtt times WebSocket round trips: one connection, -n messages
// of -size bytes after -warmup, each sent when the previous echo arrived.
// It prints one line: p50_us=… p90_us=… p99_us=… dial_ms=….
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
)

func main() {
	url := flag.String("url", "", "ws:// URL")
	n := flag.Int("n", 2000, "timed round trips")
	warmup := flag.Int("warmup", 200, "untimed round trips first")
	size := flag.Int("size", 4096, "message bytes")
	header := flag.String("H", "", "one request header, Name: value")
	flag.Parse()
	h := http.Header{}
	if name, value, ok := strings.Cut(*header, ":"); ok {
		h.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	c, _, err := websocket.Dial(ctx, *url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsrtt: dial:", err)
		os.Exit(1)
	}
	dial := time.Since(t0)
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	msg := []byte(strings.Repeat("x", *size))
	rtts := make([]time.Duration, 0, *n)
	for i := range *warmup + *n {
		t := time.Now()
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			fmt.Fprintln(os.Stderr, "wsrtt: write:", err)
			os.Exit(1)
		}
		if _, _, err := c.Read(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "wsrtt: read:", err)
			os.Exit(1)
		}
		if i >= *warmup {
			rtts = append(rtts, time.Since(t))
		}
	}
	slices.Sort(rtts)
	q := func(p float64) float64 { return float64(rtts[int(p*float64(len(rtts)-1))].Nanoseconds()) / 1e3 }
	fmt.Printf("p50_us=%.0f p90_us=%.0f p99_us=%.0f dial_ms=%.2f\n", q(.5), q(.9), q(.99), float64(dial.Microseconds())/1e3)
}

// Command origin is the app `make bench-peer` runs as a user's job: every
// proxy in the comparison forwards to the same process.
//
//	/…/ws…      WebSocket echo
//	/…/big/…    2,839,377 bytes (the size of notebook's main.min.js)
//	/…/static/… 89,037 bytes (jquery.min.js)
//	anything else: notebook 6's 21-byte /api answer
//
// Bodies are made in memory, so the binary alone is the job's app:
// app.command: [/path/to/origin, "-addr={host}:{port}"].
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"strconv"
	"strings"

	"github.com/coder/websocket"
)

// filler returns n bytes of text that compresses like script source,
// not like zeros.
func filler(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789(){};=.,+-*/ \n"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[(i*7+i/13)%len(alphabet)]
	}
	return b
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8190", "listen address")
	flag.Parse()
	small := []byte(`{"version": "6.4.12"}`)
	static, big := filler(89037), filler(2839377)
	reply := func(w http.ResponseWriter, ctype string, b []byte) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.Contains(p, "/ws"):
			echo(w, r)
		case strings.Contains(p, "/big/"):
			reply(w, "application/javascript", big)
		case strings.Contains(p, "/static/"):
			reply(w, "application/javascript", static)
		default:
			reply(w, "application/json", small)
		}
	})
	log.Printf("origin listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// echo sends every WebSocket message back as it came.
func echo(w http.ResponseWriter, r *http.Request) {
	// The proxies pass the browser's Origin; this app trusts them all.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The server writes the next chunk only after the client has read the one
// before, through the proxy: a proxy that buffered would deadlock, and the
// client's timeout turns that into a failure.
func TestStreamingArrivesIncrementally(t *testing.T) {
	for _, tc := range []struct {
		name, contentType string
		knownLength       bool // Content-Length set: only the proxy's flush interval makes this stream
		chunks            []string
	}{
		{
			name:        "chunked download",
			contentType: "application/octet-stream",
			chunks:      []string{"first chunk\n", "second chunk\n", "last\n"},
		},
		{
			name:        "download of known length",
			contentType: "application/x-ipynb+json",
			knownLength: true,
			chunks:      []string{`{"cells": [`, `{"cell_type": "code"}`, `]}`},
		},
		{
			name:        "event stream",
			contentType: "text/event-stream",
			chunks: []string{
				"data: {\"progress\": 10, \"message\": \"queued\"}\n\n",
				"event: ping\ndata: {}\n\n",
				"data: {\"progress\": 100, \"ready\": true}\n\n",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := make(chan struct{})
			up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				if tc.knownLength {
					w.Header().Set("Content-Length", fmt.Sprint(len(strings.Join(tc.chunks, ""))))
				}
				for i, c := range tc.chunks {
					if i > 0 {
						select {
						case <-next:
						case <-r.Context().Done():
							return
						}
					}
					io.WriteString(w, c)
					w.(http.Flusher).Flush()
				}
			}))
			p, fr := front(t, Config{})
			setRoute(t, p, "alice", up)

			c := fr.Client()
			c.Timeout = hang
			res, err := c.Get(fr.URL + "/user/alice/files/big")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if g, e := res.Header.Get("Content-Type"), tc.contentType; g != e {
				t.Errorf("Content-Type %q; want %q", g, e)
			}
			for i, want := range tc.chunks {
				if i > 0 {
					next <- struct{}{}
				}
				got := make([]byte, len(want))
				if _, err := io.ReadFull(res.Body, got); err != nil {
					t.Fatalf("chunk %d did not arrive before the server wrote the next: %v", i, err)
				}
				if string(got) != want {
					t.Fatalf("chunk %d = %q; want %q", i, got, want)
				}
			}
			if rest, err := io.ReadAll(res.Body); err != nil || len(rest) != 0 {
				t.Errorf("after the last chunk: %q, %v; want a clean end", rest, err)
			}
		})
	}
}

// Deleting a route cuts a response that is still streaming, on both sides.
func TestDeleteEndsStream(t *testing.T) {
	upstreamDone := make(chan struct{})
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(upstreamDone)
	}))
	p, fr := front(t, Config{})
	setRoute(t, p, "alice", up)

	c := fr.Client()
	c.Timeout = hang
	res, err := c.Get(fr.URL + "/user/alice/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	first := make([]byte, len("data: 1\n\n"))
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}

	if !p.Routes().Delete("alice", "") {
		t.Fatal("route was not there")
	}
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Errorf("the stream ended cleanly; want it cut")
	} else if strings.Contains(err.Error(), "Timeout") {
		t.Errorf("the stream was not cut: %v", err)
	}
	<-upstreamDone
}

package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"hpcgate/gateway"
)

// BenchmarkListUsers is GET /hub/api/users?limit=200 by an admin with
// 10,000 users in SQLite, some in a hub group and some with servers: the
// handler, the store and the encoding, without the network. Run with
// `go test -run '^$' -bench ListUsers -benchmem ./gateway/web/`.
func BenchmarkListUsers(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	names := make([]string, 0, 1000)
	for i := range 10000 {
		names = append(names, fmt.Sprintf("u%05d", i))
		if len(names) == cap(names) {
			if _, err := e.store.CreateUsers(ctx, names, false); err != nil {
				b.Fatal(err)
			}
			names = names[:0]
		}
	}
	if _, err := e.store.CreateGroup(ctx, "course", []string{"u00003", "u00010", "u00150"}); err != nil {
		b.Fatal(err)
	}
	var infos []*gateway.ServerInfo
	for _, u := range []string{"u00001", "u00007", "u00100", "u00199"} {
		infos = append(infos, ready(u, e.clock.Now()))
	}
	infos = append(infos, named(queued("u00007", e.clock.Now()), "gpu"))
	e.hub.ServersFn = func(context.Context) ([]*gateway.ServerInfo, error) { return infos, nil }
	token := e.apiToken("carol", TokenUser, 0, e.clock.Now().AddDate(1, 0, 0))
	h := e.srv.Handler()
	for _, tc := range []struct{ name, accept string }{
		{"list", "application/json"},
		{"paginated", paginationType},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/hub/api/users?limit=200", nil)
			req.Header.Set("Authorization", "token "+token)
			req.Header.Set("Accept", tc.accept)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body.String()[:min(200, w.Body.Len())])
				}
			}
		})
	}
}

package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"

	"hpcgate/gateway/proxy"
)

// The hub mounts the proxy under /user/<name>/ after authorizing the
// request. In production Dial is the SSH pool's DialContext and Host is
// the compute node; here a direct dial reaches a local stand-in.
func Example() {
	notebook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "notebook got %s", r.RequestURI)
	}))
	defer notebook.Close()
	host, portStr, _ := net.SplitHostPort(notebook.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	p := proxy.New(proxy.Config{
		OnMissing: func(w http.ResponseWriter, r *http.Request, user, server string) {
			http.Redirect(w, r, "/hub/user/"+user+"/", http.StatusFound)
		},
	})
	defer p.Close()
	var d net.Dialer
	if err := p.Routes().Set("alice", "", proxy.Target{Host: host, Port: port, Dial: d.DialContext}); err != nil {
		fmt.Println(err)
		return
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/user/{name}/", func(w http.ResponseWriter, r *http.Request) {
		// ... authorize r for r.PathValue("name") ...
		p.ServeRoute(w, r, r.PathValue("name"), "")
	})
	hub := httptest.NewServer(mux)
	defer hub.Close()

	res, err := http.Get(hub.URL + "/user/alice/api/contents/a%2Fb?type=file")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.StatusCode, string(body))
	// Output: 200 notebook got /user/alice/api/contents/a%2Fb?type=file
}

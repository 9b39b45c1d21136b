package main

import (
	"hpcgate/gateway"
	"hpcgate/gateway/proxy"
)

// hubRouter is the proxy as the hub's Router: proxy imports nothing of
// hpcgate, so the hub's RouteTarget is translated here.
type hubRouter struct{ *proxy.Proxy }

var _ gateway.Router = hubRouter{}

func (r hubRouter) SetRoute(user, server string, t gateway.RouteTarget) error {
	return r.Routes().Set(user, server, proxyTarget(t))
}

func proxyTarget(t gateway.RouteTarget) proxy.Target {
	pt := proxy.Target{Host: t.Host, Port: t.Port, Dial: t.Dial}
	if a := t.App; a != nil {
		pt.App = &proxy.App{Secret: a.Secret, Header: a.Header, HeaderValue: a.HeaderValue,
			Cookie: a.Cookie, Query: a.Query, Prefix: a.Prefix, Strip: a.Strip, Open: a.Open}
	}
	return pt
}

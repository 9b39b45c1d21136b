package web

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"hpcgate/gateway"
)

// spawnWithProfiles makes the fake hub validate like the real one, with
// the site's config.Profile.Resolve, and record what it was asked.
func (e *env) spawnWithProfiles(calls *[]gateway.SpawnRequest) {
	e.hub.SpawnFn = func(_ context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		*calls = append(*calls, req)
		cl, ok := e.cfg.Cluster(req.Cluster)
		if !ok {
			return nil, gateway.Errorf(gateway.EINVALID, "no cluster %q", req.Cluster)
		}
		p, ok := cl.Profile(req.Profile)
		if !ok {
			return nil, gateway.Errorf(gateway.EINVALID, "no profile %q", req.Profile)
		}
		res, err := p.Resolve(req.Options)
		if err != nil {
			return nil, err
		}
		info := queued(req.User, e.clock.Now())
		info.Cluster, info.Profile, info.Resources = req.Cluster, req.Profile, res
		return info, nil
	}
}

func TestSpawnFormShowsProfiles(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("alice", "alice-pass")
	resp, body := b.get("/hub/spawn")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /hub/spawn: %d", resp.StatusCode)
	}
	for _, want := range []string{
		// a cluster choice, as the site has two
		`name="cluster" value="local"`, `name="cluster" value="other"`,
		// each profile alice may use, keyed by cluster
		`value="local/small"`, `value="local/custom"`, `value="local/gpu"`, `value="other/small"`,
		// bounded fields: inputs with their limits in min/max and the label
		`name="local/custom/cores" type="number" inputmode="numeric" step="1" min="1" max="4" value="2"`,
		`Cores <span class="hint">(1 to 4)</span>`,
		`Memory <span class="hint">(512M to 8G)</span>`,
		`name="local/custom/memory" type="text"`, `value="2G"`,
		`Walltime <span class="hint">(10m to 72h)</span>`,
		`Walltime <span class="hint">(10m to 2h)</span>`,
		`name="local/small/walltime" type="text"`, `value="1h"`,
		`GPUs <span class="hint">(1 to 2)</span>`,
		// choices
		`Partition <span class="hint">(debug or long)</span>`,
		`<option value="debug" selected>debug</option><option value="long">long</option>`,
		`Account <span class="hint">(proj1 or proj2)</span>`,
		// fixed values read-only
		`<span class="fixed" aria-labelledby="f-local-small-cores-label">1</span>`,
		`<span class="fixed" aria-labelledby="f-local-small-memory-label">1G</span>`,
		`<span class="fixed" aria-labelledby="f-local-gpu-partition-label">gpu</span>`,
		`<span class="fixed" aria-labelledby="f-other-small-partition-label">workq</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("spawn form lacks %s", want)
		}
	}
	// The profile choice for the first profile is checked.
	if !regexp.MustCompile(`value="local/small" checked`).MatchString(body) {
		t.Error("the first profile is not preselected")
	}

	// bob is not in gpu-users: no GPU profile for him.
	bob := e.browser()
	bob.login("bob", "bob-pass")
	_, body = bob.get("/hub/spawn")
	if strings.Contains(body, "local/gpu") {
		t.Error("bob is offered the GPU profile, which is for gpu-users")
	}
}

func TestSpawnFormRefusesBadValues(t *testing.T) {
	inject := ";rm -rf /"
	script := `"><script>alert(1)</script>`
	tests := []struct {
		name    string
		profile string
		field   string
		value   string
		message string // part of the message next to the field
	}{
		{"walltime above the limit", "local/small", "walltime", "3h", "above the limit 2h (allowed 10m to 2h)"},
		{"walltime above the custom limit", "local/custom", "walltime", "100h", "above the limit 72h (allowed 10m to 72h)"},
		{"partition not offered", "local/custom", "partition", "gpu", `"gpu" is not offered (choose debug or long)`},
		{"cores above", "local/custom", "cores", "5", "above the limit 4"},
		{"fixed cores changed", "local/small", "cores", "2", "not offered (this profile has 1)"},
		{"memory not a size", "local/custom", "memory", "lots", "not a memory size"},
		{"injection in partition", "local/custom", "partition", inject, "is not offered"},
		{"injection in account", "local/custom", "account", inject, "is not offered"},
		{"injection in cores", "local/custom", "cores", inject, "is not a whole number"},
		{"injection in memory", "local/custom", "memory", inject, "is not a memory size"},
		{"injection in gpus", "local/gpu", "gpus", inject, "is not a whole number"},
		{"injection in walltime", "local/custom", "walltime", inject, "is not a duration"},
		{"markup in walltime", "local/custom", "walltime", script, "is not a duration"},
		{"markup in partition", "local/custom", "partition", script, "is not offered"},
	}
	e := newEnv(t)
	var calls []gateway.SpawnRequest
	e.spawnWithProfiles(&calls)
	b := e.browser()
	b.login("alice", "alice-pass")
	tok := b.xsrf("/hub/spawn")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"_xsrf": {tok}, "profile": {tt.profile}, tt.profile + "/" + tt.field: {tt.value}}
			resp, body := b.post("/hub/spawn", form)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			// The message sits next to the field, by its id.
			id := "f-" + strings.ReplaceAll(tt.profile, "/", "-") + "-" + tt.field + "-error"
			m := regexp.MustCompile(`<p class="error-text" id="` + id + `">([^<]*)</p>`).FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no error next to %s in:\n%s", tt.field, body)
			}
			if got := html.UnescapeString(m[1]); !strings.Contains(got, tt.message) {
				t.Errorf("message %q does not contain %q", got, tt.message)
			}
			// The form keeps what the user typed (escaped) and the profile.
			if tt.field == "walltime" || tt.field == "cores" || tt.field == "memory" || tt.field == "gpus" {
				if !strings.Contains(body, `value="`+html.EscapeString(tt.value)+`"`) && !strings.Contains(body, `value="`+strings.ReplaceAll(html.EscapeString(tt.value), "+", "&#43;")+`"`) {
					t.Errorf("the form did not keep %q", tt.value)
				}
			}
			if !strings.Contains(body, `value="`+tt.profile+`" checked`) {
				t.Errorf("the form did not keep the profile %s", tt.profile)
			}
			if strings.Contains(body, "<script>") {
				t.Error("the user's markup came back unescaped")
			}
		})
	}
	if len(calls) != 0 {
		t.Errorf("refused forms reached Hub.Spawn %d times: %+v", len(calls), calls)
	}
}

func TestSpawnFormSubmits(t *testing.T) {
	e := newEnv(t)
	var calls []gateway.SpawnRequest
	e.spawnWithProfiles(&calls)
	b := e.browser()
	b.login("alice", "alice-pass")
	tok := b.xsrf("/hub/spawn")
	form := url.Values{"_xsrf": {tok}, "cluster": {"local"}, "profile": {"local/custom"},
		"local/custom/cores": {"3"}, "local/custom/walltime": {"12:00:00"}, "local/custom/partition": {"long"},
		// another profile's fields are sent too when the browser has no JS
		"local/small/walltime": {"1h"}}
	resp, body := b.post("/hub/spawn", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/hub/spawn-pending/alice" {
		t.Fatalf("submit: %d to %q, want 303 to /hub/spawn-pending/alice\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if len(calls) != 1 {
		t.Fatalf("Hub.Spawn called %d times", len(calls))
	}
	got := calls[0]
	want := map[string]string{"cores": "3", "walltime": "12:00:00", "partition": "long"}
	if got.User != "alice" || got.By != "alice" || got.Cluster != "local" || got.Profile != "custom" || len(got.Options) != len(want) {
		t.Errorf("spawn request %+v", got)
	}
	for k, v := range want {
		if got.Options[k] != v {
			t.Errorf("option %s = %q, want %q", k, got.Options[k], v)
		}
	}
	if len(got.Groups) != 2 {
		t.Errorf("groups %v, want alice's two", got.Groups)
	}
}

func TestSpawnFormShowsHubFieldErrors(t *testing.T) {
	e := newEnv(t)
	e.hub.SpawnFn = func(context.Context, gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		return nil, &gateway.Error{Code: gateway.EINVALID, Message: "account: proj2 is closed",
			Fields: map[string]string{"account": "proj2 has no hours left this quarter"}}
	}
	b := e.browser()
	b.login("alice", "alice-pass")
	tok := b.xsrf("/hub/spawn")
	resp, body := b.post("/hub/spawn", url.Values{"_xsrf": {tok}, "profile": {"local/custom"}, "local/custom/account": {"proj2"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "proj2 has no hours left this quarter") {
		t.Errorf("status %d; the hub's field message is missing:\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `<option value="proj2" selected>`) {
		t.Error("the form did not keep the chosen account")
	}
}

func TestSpawnProfileNotAllowed(t *testing.T) {
	e := newEnv(t)
	var calls []gateway.SpawnRequest
	e.spawnWithProfiles(&calls)
	b := e.browser()
	b.login("bob", "bob-pass")
	tok := b.xsrf("/hub/spawn")
	resp, body := b.post("/hub/spawn", url.Values{"_xsrf": {tok}, "profile": {"local/gpu"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not a profile you may use") {
		t.Errorf("bob spawning the GPU profile: %d\n%s", resp.StatusCode, body)
	}
	if len(calls) != 0 {
		t.Error("a profile outside the user's groups reached Hub.Spawn")
	}
}

func TestSpawnPageRedirectsActive(t *testing.T) {
	e := newEnv(t)
	e.serverIs(queued("alice", e.clock.Now()), ready("bob", e.clock.Now()))
	a := e.browser()
	a.login("alice", "alice-pass")
	if resp, _ := a.get("/hub/spawn"); resp.Header.Get("Location") != "/hub/spawn-pending/alice" {
		t.Errorf("spawn page of a queued server: Location %q", resp.Header.Get("Location"))
	}
	b := e.browser()
	b.login("bob", "bob-pass")
	if resp, _ := b.get("/hub/spawn"); resp.Header.Get("Location") != "/user/bob/" {
		t.Errorf("spawn page of a ready server: Location %q", resp.Header.Get("Location"))
	}
	// Another user's spawn page is for admins.
	if resp, _ := b.get("/hub/spawn/alice"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob on alice's spawn page: %d, want 403", resp.StatusCode)
	}
}

package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"hpcgate/batch/schedulers"
)

var update = flag.Bool("update", false, "rewrite site-configs/example.yaml from Example()")

// Each bad file lists every problem it must produce, in order, as
// "file:line:col: path: message" (substrings); a problem not listed fails
// the test too, so one mistake is not reported twice.
var badConfigs = []struct {
	file string
	want []string
}{
	{"unknown-top.yaml", []string{
		`unknown-top.yaml:1:1: hubb: unknown key (did you mean hub?)`,
	}},
	{"unknown-nested.yaml", []string{
		`unknown-nested.yaml:11:7: clusters[0].login.keepalive_interval: unknown key (known keys: host, port,`,
		`unknown-nested.yaml:14:9: clusters[0].profiles[0].queue: unknown key (known keys: name,`,
	}},
	{"wrong-type.yaml", []string{
		`wrong-type.yaml:2:11: hub.listen: expected a string, got a list`,
		`wrong-type.yaml:3:17: hub.admin_access: "yes" is not true or false`,
		`wrong-type.yaml:7:19: ldap.allowed_groups: expected a list, got a single value`,
		`wrong-type.yaml:13:13: clusters[0].login.port: "twenty-two" is not a whole number`,
	}},
	{"named-servers.yaml", []string{
		`named-servers.yaml:14:12: named_servers.enabled: "yes please" is not true or false`,
		`named-servers.yaml:15:19: named_servers.limit_per_user: -1 must be 0 (no limit) or more`,
		`named-servers.yaml:16:3: named_servers.limit: unknown key`,
	}},
	{"walltime-words.yaml", []string{
		`walltime-words.yaml:14:34: clusters[0].profiles[1].walltime.max: "2 hours" is not a duration (use 90m, 2h, 1:30:00 or 2-00:00:00)`,
	}},
	{"memory-lots.yaml", []string{
		`memory-lots.yaml:16:20: clusters[0].profiles[0].memory.default: "lots" is not a memory size (use e.g. 512M, 4G or 1T)`,
	}},
	{"min-above-max.yaml", []string{
		`min-above-max.yaml:13:22: clusters[0].profiles[0].cores.min: 4 is above max 2`,
	}},
	{"default-outside.yaml", []string{
		`default-outside.yaml:13:48: clusters[0].profiles[0].walltime.default: 9h is outside the range 10m to 8h`,
		`default-outside.yaml:14:54: clusters[0].profiles[0].partition.default: "gpu" is not one of the choices (debug or long)`,
	}},
	{"duplicate-cluster.yaml", []string{
		`duplicate-cluster.yaml:13:11: clusters[1].name: "local" is also the name of clusters[0]`,
		`duplicate-cluster.yaml:21:15: clusters[1].profiles[1].name: "small" is also the name of profiles[0]`,
	}},
	{"missing-known-hosts.yaml", []string{
		// A missing key is reported at its parent, login:.
		`missing-known-hosts.yaml:7:5: clusters[0].login.known_hosts: required`,
	}},
	{"certificate-no-ca.yaml", []string{
		`certificate-no-ca.yaml:7:5: clusters[0].login.user_ca_key: required with auth: certificate`,
		`certificate-no-ca.yaml:15:5: clusters[1].login.service_key: required with auth: sudo`,
	}},
	{"ldap-rights.yaml", []string{
		`ldap-rights.yaml:4:21: ldap.refresh_interval: "-5m" is not a duration (use e.g. 90s, 30m or 2h)`,
		`ldap-rights.yaml:5:12: ldap.min_uid: must be 0 (no check) or a uid`,
		`ldap-rights.yaml:6:18: ldap.uid_attribute: "uid number" is not an attribute name`,
	}},
	{"hub-api.yaml", []string{
		`hub-api.yaml:9:19: clusters[0].hub_api_bind: "login01:8081" must be an IP address and port of the login node`,
		`hub-api.yaml:11:5: clusters[1].hub_api_bind: required with hub_api: reverse-tunnel`,
		`hub-api.yaml:19:19: clusters[2].hub_api_bind: is only used with hub_api: reverse-tunnel`,
		`hub-api.yaml:24:14: clusters[3].hub_api: "reverse" is not direct or reverse-tunnel`,
	}},
	{"bad-cron.yaml", []string{
		`bad-cron.yaml:14:14: cron.reconcile: "every minute" is not a cron schedule`,
	}},
	{"base-url.yaml", []string{
		`base-url.yaml:2:13: hub.base_url: "jupyter" must start and end with /`,
		`base-url.yaml:3:15: hub.public_url: "https://hub.example.org/jupyter/" must be only scheme, host and port`,
		`base-url.yaml:4:13: hub.tls_cert: needs tls_key`,
		`base-url.yaml:5:11: hub.listen: "127.0.0.1:http": port "http" is not a number`,
	}},
	{"hub-api-loopback.yaml", []string{
		`hub-api-loopback.yaml:1:1: hub.public_url: "http://127.0.0.1:8000" is this host's loopback, which the compute nodes of cluster "main" (login node login.example.org) cannot reach for the hub API`,
	}},
	{"trusted-proxies.yaml", []string{
		`trusted-proxies.yaml:3:44: hub.trusted_proxies[2]: "nginx.example.org" is not an IP address or CIDR`,
		`trusted-proxies.yaml:3:63: hub.trusted_proxies[3]: "10.0.0.0/33" is not an IP address or CIDR`,
	}},
	{"shell.yaml", []string{
		`shell.yaml:6:11: clusters[0].name: "Local_1" must start with a lower-case letter`,
		`shell.yaml:8:14: clusters[0].run_dir: "../.hpcgate" must be a path`,
		`shell.yaml:15:31: clusters[0].app.env.JUPYTERHUB_API_TOKEN: is set by the hub`,
		`shell.yaml:16:21: clusters[0].app.env.BAD NAME: "BAD NAME" is not a valid variable name`,
		`shell.yaml:19:38: clusters[0].profiles[0].partition.choices[1]: "long;reboot" is not a partition name`,
		`shell.yaml:20:26: clusters[0].profiles[0].account.value: "$(id)" is not an account name`,
		`shell.yaml:21:17: clusters[0].profiles[0].extra[0]: "--qos=normal --wrap=reboot" is not one plain scheduler option`,
	}},
	{"structure.yaml", []string{
		`structure.yaml:4:3: ldap.url: given twice (first at line 2)`,
		`structure.yaml:14:16: clusters[0].profiles[0].cores: give either value (a fixed amount) or min and max, not both`,
		`structure.yaml:15:15: clusters[0].profiles[0].gpus: give min and max`,
		`structure.yaml:16:23: clusters[0].profiles[0].memory.min: 0 would let a job ask for no memory`,
		`structure.yaml:17:1: a site file holds one YAML document`,
	}},
	{"wrong-shape.yaml", []string{
		`wrong-shape.yaml:7:3: clusters: expected a list, got a mapping (key: value)`,
	}},
	{"wrong-shape-login.yaml", []string{
		`wrong-shape-login.yaml:7:12: clusters[0].login: expected a mapping (key: value), got a single value`,
		`wrong-shape-login.yaml:10:30: clusters[0].profiles[0].cores.max: "lots" is not a whole number`,
	}},
	{"empty.yaml", []string{
		`empty.yaml: ldap.url: required`,
		`empty.yaml: ldap.user_base_dn: required unless dn_template is set`,
		`empty.yaml: clusters: at least one cluster is required`,
	}},
	{"unknown-scheduler.yaml", []string{
		`unknown-scheduler.yaml:6:16: clusters[0].scheduler: "sge" is not a scheduler hpcgate knows (one of slurm, pbs, grid)`,
		// A missing key is reported at its parent, the list item.
		`unknown-scheduler.yaml:10:5: clusters[1].scheduler: required (one of slurm, pbs, grid)`,
	}},
	{"scheduler-options.yaml", []string{
		`scheduler-options.yaml:8:29: clusters[0].scheduler_options.parallel_environment: required (the parallel environment`,
		`scheduler-options.yaml:9:7: clusters[0].scheduler_options.gpu_resoruce: unknown key (did you mean gpu_resource?)`,
		// A missing key of the adapter's is reported at the block.
		`scheduler-options.yaml:14:5: clusters[1].scheduler_options.parallel_environment: required`,
		`scheduler-options.yaml:15:21: clusters[1].scheduler_options.gpu_resource: must be one resource name`,
		`scheduler-options.yaml:16:15: clusters[1].scheduler_options.queues: expected a list, got a single value`,
		`scheduler-options.yaml:23:5: clusters[2].scheduler_options: the slurm scheduler takes no options`,
		`scheduler-options.yaml:29:24: clusters[3].scheduler_options: expected a mapping (key: value), got a single value`,
	}},
	{"time-zone.yaml", []string{
		`time-zone.yaml:7:16: clusters[0].time_zone: "Mars/Olympus_Mons" is not a time zone (use an IANA name such as Europe/Berlin, or UTC)`,
		`time-zone.yaml:13:16: clusters[1].time_zone: "../../etc/passwd" is not a time zone`,
		`time-zone.yaml:19:16: clusters[2].time_zone: expected a string, got a list`,
	}},
	{"apps.yaml", []string{
		`apps.yaml:13:15: clusters[0].apps[0].name: "jupyterhub" is the cluster's app: block`,
		`apps.yaml:14:35: clusters[0].apps[0].command[1]: {secret} is not a placeholder here`,
		`apps.yaml:18:27: clusters[0].apps[1].present.cookie: "hpcgate-session" is not a cookie name the app may have`,
		`apps.yaml:19:17: clusters[0].apps[1].prefix: "rewrite" is not keep or strip`,
		`apps.yaml:22:15: clusters[0].apps[2].auth: none-private needs the app to listen where only its owner can connect`,
		`apps.yaml:23:23: clusters[0].apps[2].ready.path: "/vnc.html" must be a path under the prefix without a leading /`,
		`apps.yaml:23:42: clusters[0].apps[2].ready.status: 1000 is not an HTTP status`,
		`apps.yaml:24:15: clusters[0].apps[3].name: "vscode" is also the name of apps[1]`,
		`apps.yaml:26:9: clusters[0].apps[3].present: give exactly one of header (with value), cookie or query`,
		`apps.yaml:29:28: clusters[0].profiles[0].apps[1]: "rstudio" is not an app of this cluster (one of jupyterhub, vscode, desktop)`,
	}},
	{"proxy-mode.yaml", []string{
		`proxy-mode.yaml:7:12: clusters[0].proxy: "ssh" is not a proxy mode (tunnel or direct)`,
	}},
	{"workshop.yaml", []string{
		`workshop.yaml:10:5: workshops[0].instructor_group: required`,
		`workshop.yaml:10:11: workshops[0].name: "Intro_1" must start with a lower-case letter`,
		`workshop.yaml:11:21: workshops[0].attendee_group: "students" is not a distinguished name`,
		`workshop.yaml:13:23: workshops[0].profiles[1]: "big" needs at least 8 cores, above limits.cores_per_attendee (4)`,
		`workshop.yaml:13:28: workshops[0].profiles[2]: "huge" is not a profile of cluster local`,
		`workshop.yaml:14:18: workshops[0].reservation: "course;reboot" is not a reservation name`,
		`workshop.yaml:15:16: workshops[0].time_zone: "Mars/Olympus" is not an IANA time zone`,
		`workshop.yaml:24:42: workshops[1].sessions[0].end: "2026-03-10 08:00" is not after the start "2026-03-10 09:00"`,
		`workshop.yaml:25:17: workshops[1].sessions[1].start: "10 March 2026" is not a time like "2026-03-10 09:00" (in UTC)`,
		`workshop.yaml:27:17: workshops[1].sessions[3].start: "2026-03-11 12:15" (less the lead time 30m) overlaps the session before`,
		`workshop.yaml:29:13: workshops[1].materials.copy: "relative/dir" must be an absolute directory`,
		`workshop.yaml:30:12: workshops[1].materials.git: "https://example.org/x.git; rm -rf ~" is not a repository URL`,
		`workshop.yaml:31:13: workshops[1].materials.into: "../outside" must be a directory relative to the home directory`,
		`workshop.yaml:32:11: workshops[2].name: "course" is also the name of workshops[1]`,
	}},
	{"services.yaml", []string{
		`services.yaml:8:11: services[0].name: "bad name" must be 1 to 63 letters`,
		`services.yaml:9:10: services[0].url: "http://127.0.0.1:9000/services/x" must be only scheme, host and port`,
		// A token is never written in the site file.
		`services.yaml:10:5: services[0].api_token: unknown key`,
		`services.yaml:12:10: services[1].url: "ftp://127.0.0.1" must be http://host:port`,
		`services.yaml:13:5: services[1].environment: is only used for a managed service`,
		`services.yaml:14:22: services[1].oauth_client_id: "ok-client" must start with "service-"`,
		`services.yaml:15:14: services[1].scopes[0]: "read users" is not a scope`,
		`services.yaml:16:11: services[2].name: "ok" is also the name of services[1]`,
		`services.yaml:17:26: services[2].command[1]: is empty`,
		`services.yaml:18:10: services[2].cwd: "relative" must be an absolute path`,
		`services.yaml:19:27: services[2].environment.1BAD: "1BAD" is not an environment variable name`,
	}},
	{"syntax.yaml", []string{
		// Only the syntax error: the defaults' problems would be noise.
		`syntax.yaml:3: YAML syntax: mapping values are not allowed in this context`,
	}},
}

func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("../../testdata/config/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, tc := range badConfigs {
		tested[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := Load(filepath.Join("../../testdata/config/bad", tc.file), testKinds...)
			if cfg != nil {
				t.Errorf("Load returned a config with an error")
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load error = %v (%T), want *Errors", err, err)
			}
			if len(errs.Problems) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(errs.Problems), len(tc.want), err)
			}
			for i, want := range tc.want {
				if i < len(errs.Problems) && !strings.Contains(errs.Problems[i].Error(), want) {
					t.Errorf("problem %d:\n got %s\nwant …%s…", i, errs.Problems[i].Error(), want)
				}
			}
			if lines := strings.Split(err.Error(), "\n"); len(lines) != len(errs.Problems) {
				t.Errorf("Error() has %d lines for %d problems", len(lines), len(errs.Problems))
			}
		})
	}
	for _, f := range files {
		if !tested[filepath.Base(f)] {
			t.Errorf("%s has no entry in badConfigs", f)
		}
	}
}

// TestGoodConfigs loads every example a site may copy, so none of them rots.
func TestGoodConfigs(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../../site-configs/*.yaml", "../../testdata/config/good/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, must := range []string{"site-configs/example.yaml", "site-configs/workshop.yaml", "good/minimal.yaml"} {
		if !slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, must) }) {
			t.Errorf("%s is missing", must)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			// The real table: a site file may use any scheduler hpcgate has.
			cfg, err := Load(f, schedulers.Kinds...)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(cfg.Clusters) == 0 || len(cfg.Clusters[0].Profiles) == 0 {
				t.Fatalf("no cluster or profile")
			}
			// Every default profile option must itself be allowed.
			for _, cl := range cfg.Clusters {
				for _, p := range cl.Profiles {
					if _, err := p.Resolve(nil); err != nil {
						t.Errorf("%s/%s: defaults refused: %v", cl.Name, p.Name, err)
					}
				}
			}
		})
	}
}

// TestDefaults checks that defaults reach every cluster and profile, that
// derived settings follow the ones they derive from, and that relative
// paths are taken from the file's directory.
func TestDefaults(t *testing.T) {
	dir, err := filepath.Abs("../../testdata/config/good")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("../../testdata/config/good/minimal.yaml", testKinds...)
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Hub
	for _, c := range []struct{ name, got, want string }{
		{"database_url", h.DatabaseURL, "sqlite:///var/lib/hpcgate/hpcgate.sqlite"},
		{"cookie_secret_file", h.CookieSecretFile, "/var/lib/hpcgate/cookie_secret"},
		{"hub_api_url", h.HubAPIURL, "http://127.0.0.1:8000/hub/api"},
		{"known_hosts", cfg.Clusters[0].Login.KnownHosts, filepath.Join(dir, "keys/known_hosts")},
		{"cluster title", cfg.Clusters[0].Title, "local"},
		{"profile title", cfg.Clusters[0].Profiles[0].Title, "small"},
		{"cron.cull", cfg.Cron.Cull, "@every 5m"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	cl := cfg.Clusters[0]
	if cl.PollInterval.D() != 30*time.Second || cl.Login.Port != 22 || cl.Login.Auth != "certificate" || cl.RunDir != ".hpcgate" {
		t.Errorf("cluster defaults not applied: %+v", cl)
	}
	res, err := cl.Profiles[0].Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Resources{Cores: 1, Walltime: time.Hour, App: AppJupyterHub}); !reflect.DeepEqual(res, want) {
		t.Errorf("default profile resolves to %+v, want %+v", res, want)
	}
	if !cfg.LDAP.UseStartTLS() {
		t.Errorf("ldap:// with the default start_tls does not use StartTLS")
	}
}

// TestMergeAndShortForms reads profiles that share settings through a YAML
// anchor, with scalar ranges and Slurm walltimes.
func TestMergeAndShortForms(t *testing.T) {
	cfg, err := Load("../../testdata/config/good/anchors.yaml", testKinds...)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Hub.HubAPIURL, "https://hub.example.org/jupyter/hub/api"; got != want {
		t.Errorf("hub_api_url = %q, want %q", got, want)
	}
	if cfg.LDAP.UseStartTLS() {
		t.Errorf("ldaps:// uses StartTLS")
	}
	cl, ok := cfg.Cluster("hpc")
	if !ok {
		t.Fatal(`no cluster "hpc"`)
	}
	if _, ok := cfg.Cluster("nope"); ok {
		t.Error(`Cluster("nope") found one`)
	}
	for _, tc := range []struct {
		profile string
		opts    map[string]string
		want    Resources
	}{
		{"base", nil, Resources{Partition: "workq", Cores: 2, MemoryMB: 8192, Walltime: 90 * time.Minute, App: AppJupyterHub}},
		{"long", nil, Resources{Partition: "workq", Cores: 2, MemoryMB: 8192, Walltime: 36 * time.Hour, App: AppJupyterHub}},
		{"long", map[string]string{"walltime": "2-00:00:00"}, Resources{Partition: "workq", Cores: 2, MemoryMB: 8192, Walltime: 48 * time.Hour, App: AppJupyterHub}},
		{"wide", map[string]string{"cores": "16"}, Resources{Partition: "workq", Cores: 16, MemoryMB: 8192, Walltime: 90 * time.Minute, App: AppJupyterHub}},
		{"wide", nil, Resources{Partition: "workq", Cores: 2, MemoryMB: 8192, Walltime: 90 * time.Minute, App: AppJupyterHub}},
	} {
		p, ok := cl.Profile(tc.profile)
		if !ok {
			t.Fatalf("no profile %q", tc.profile)
		}
		got, err := p.Resolve(tc.opts)
		if err != nil {
			t.Errorf("%s %v: %v", tc.profile, tc.opts, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %v = %+v, want %+v", tc.profile, tc.opts, got, tc.want)
		}
	}
	if _, ok := cl.Profile("nope"); ok {
		t.Error(`Profile("nope") found one`)
	}
}

func TestExampleParses(t *testing.T) {
	cfg, err := Parse("/etc/hpcgate/site.yaml", []byte(Example()), testKinds...)
	if err != nil {
		t.Fatalf("Example() does not check clean:\n%v", err)
	}
	// The profile that shows the profile defaults must equal them.
	var want Profile
	want.setDefaults()
	want.Name, want.Title = "default", "default"
	got, ok := cfg.Clusters[0].Profile("default")
	if !ok || !reflect.DeepEqual(*got, want) {
		t.Errorf("profile default = %+v, want %+v", got, want)
	}
	// And the file's hub section is the default hub, but for public_url,
	// an Example: the default is a loopback URL no compute node reaches.
	wantHub := Default().Hub
	wantHub.PublicURL = "https://hub.example.org"
	cfgDefault := &Config{Hub: wantHub}
	cfgDefault.provision()
	if !reflect.DeepEqual(cfg.Hub, cfgDefault.Hub) {
		t.Errorf("hub = %+v, want the defaults %+v", cfg.Hub, cfgDefault.Hub)
	}
}

// TestExampleHasEveryKey makes sure a new field cannot be added without
// appearing, with a comment, in what generate-config prints.
func TestExampleHasEveryKey(t *testing.T) {
	want := map[string]bool{}
	structKeys(reflect.TypeOf(Config{}), "", want)
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(Example()), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	exampleKeys(t, doc.Content[0], "", got)
	for k := range want {
		if !got[k] {
			t.Errorf("Example() lacks %s", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("Example() has %s, which no struct field has", k)
		}
	}
	if len(want) < 90 {
		t.Errorf("only %d keys found by reflection; the walk is broken", len(want))
	}
}

// structKeys collects the key paths of t's yaml fields; list elements are
// "[]".
func structKeys(t reflect.Type, prefix string, out map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		name := yamlName(t.Field(i))
		if name == "" {
			continue
		}
		path := joinPath(prefix, name)
		out[path] = true
		ft := t.Field(i).Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			structKeys(ft.Elem(), path+"[]", out)
		} else if ft.Kind() == reflect.Struct {
			structKeys(ft, path, out)
		}
	}
}

func exampleKeys(t *testing.T, n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := joinPath(prefix, k.Value)
			out[path] = true
			// Keys in block style need their own comment; those inside a
			// flow mapping ({min: 1, max: 2}) share their parent's.
			first := i == 0 && n.HeadComment != ""
			if n.Style&yaml.FlowStyle == 0 && k.HeadComment == "" && !first {
				t.Errorf("Example(): %s has no comment", path)
			}
			if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle != 0 && (strings.HasSuffix(path, "env") || strings.HasSuffix(path, ".environment") || strings.HasSuffix(path, ".info")) {
				continue // a map of names, not keys
			}
			exampleKeys(t, v, path, out)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			exampleKeys(t, item, prefix+"[]", out)
		}
	}
}

func TestExampleFile(t *testing.T) {
	const path = "../../site-configs/example.yaml"
	if *update {
		if err := os.WriteFile(path, []byte(Example()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != Example() {
		t.Errorf("%s differs from Example(); run go test ./gateway/config -run TestExampleFile -update", path)
	}
}

func TestProblemError(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{"site.yaml", 14, 7, "clusters[0].profiles[1].walltime.max", "bad"}, "site.yaml:14:7: clusters[0].profiles[1].walltime.max: bad"},
		{Problem{"site.yaml", 3, 0, "", "YAML syntax: x"}, "site.yaml:3: YAML syntax: x"},
		{Problem{"site.yaml", 0, 0, "clusters", "none"}, "site.yaml: clusters: none"},
		{Problem{"", 0, 0, "hub.listen", "bad"}, "hub.listen: bad"},
	} {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want a not-exist error", err)
	}
}

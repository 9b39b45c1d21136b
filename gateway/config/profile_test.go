package config

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testProfile is the "small" profile of the example.
func testProfile() *Profile {
	return &Profile{
		Name:      "small",
		Partition: Choice{Choices: []string{"debug", "long"}, Default: "debug"},
		Cores:     Bounded(1, 2, 1),
		Memory:    Bounded[MemoryMB](512, 4096, 1024),
		GPUs:      Fixed(0),
		Walltime:  Bounded(Walltime(10*time.Minute), Walltime(8*time.Hour), Walltime(time.Hour)),
		Extra:     []string{"--qos=interactive"},
	}
}

func TestResolve(t *testing.T) {
	p := testProfile()
	if problems := p.Validate(); len(problems) > 0 {
		t.Fatalf("test profile is invalid: %v", problems)
	}
	defaults := Resources{Partition: "debug", Cores: 1, MemoryMB: 1024, Walltime: time.Hour, Extra: []string{"--qos=interactive"}, App: AppJupyterHub}
	with := func(f func(*Resources)) Resources {
		r := defaults
		r.Extra = []string{"--qos=interactive"}
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name string
		opts map[string]string
		want Resources
		errs []string // every FieldError, in order
	}{
		{name: "nothing given", opts: nil, want: defaults},
		{name: "empty values are defaults", opts: map[string]string{"partition": "", "cores": " ", "walltime": ""}, want: defaults},
		{name: "all given", opts: map[string]string{
			"partition": "long", "cores": "2", "memory": "4G", "gpus": "0", "walltime": "8h",
		}, want: with(func(r *Resources) { r.Partition, r.Cores, r.MemoryMB, r.Walltime = "long", 2, 4096, 8*time.Hour })},
		{name: "slurm walltime and bare megabytes", opts: map[string]string{"walltime": "1:30:00", "memory": "2048"},
			want: with(func(r *Resources) { r.Walltime, r.MemoryMB = 90*time.Minute, 2048 })},
		{name: "walltime above", opts: map[string]string{"walltime": "12h"},
			errs: []string{"walltime: 12h is above the limit 8h (allowed 10m to 8h)"}},
		{name: "walltime below in minutes", opts: map[string]string{"walltime": "5"},
			errs: []string{"walltime: 5m is below the minimum 10m (allowed 10m to 8h)"}},
		{name: "walltime words", opts: map[string]string{"walltime": "2 hours"},
			errs: []string{`walltime: "2 hours" is not a duration like 2h or 1:30:00 (allowed 10m to 8h)`}},
		{name: "partition not offered", opts: map[string]string{"partition": "gpu"},
			errs: []string{`partition: "gpu" is not offered (choose debug or long)`}},
		{name: "app not offered", opts: map[string]string{"app": "vscode"},
			errs: []string{`app: "vscode" is not offered (choose jupyterhub)`}},
		{name: "account not offered", opts: map[string]string{"account": "proj1"},
			errs: []string{`account: "proj1" is not offered (this profile uses the scheduler's default)`}},
		{name: "fixed gpus", opts: map[string]string{"gpus": "1"},
			errs: []string{"gpus: 1 is not offered (this profile has 0)"}},
		{name: "fixed gpus as given", opts: map[string]string{"gpus": "0"}, want: defaults},
		{name: "memory above", opts: map[string]string{"memory": "8G"},
			errs: []string{"memory: 8G is above the limit 4G (allowed 512M to 4G)"}},
		{name: "memory below", opts: map[string]string{"memory": "100M"},
			errs: []string{"memory: 100M is below the minimum 512M (allowed 512M to 4G)"}},
		{name: "cores shell", opts: map[string]string{"cores": "4;rm -rf /"},
			errs: []string{`cores: "4;rm -rf /" is not a whole number (allowed 1 to 2)`}},
		{name: "cores signed", opts: map[string]string{"cores": "+2"},
			errs: []string{`cores: "+2" is not a whole number (allowed 1 to 2)`}},
		{name: "unknown option", opts: map[string]string{"qos": "high"},
			errs: []string{"qos: unknown option (options are app, partition, account, cores, memory, gpus, walltime)"}},
		{name: "unknown option with shell", opts: map[string]string{"x;id": "1"},
			errs: []string{`options: "x;id" is not an option (options are app, partition, account, cores, memory, gpus, walltime)`}},
		{name: "every problem at once", opts: map[string]string{"partition": "gpu", "cores": "3", "walltime": "9h", "qos": "x"},
			errs: []string{
				`partition: "gpu" is not offered (choose debug or long)`,
				"cores: 3 is above the limit 2 (allowed 1 to 2)",
				"walltime: 9h is above the limit 8h (allowed 10m to 8h)",
				"qos: unknown option",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Resolve(tc.opts)
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("Resolve = %+v, want %+v", got, tc.want)
				}
				return
			}
			var fe *FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("Resolve error = %v (%T), want *FieldErrors", err, err)
			}
			if len(fe.Errors) != len(tc.errs) {
				t.Fatalf("got %d errors, want %d: %v", len(fe.Errors), len(tc.errs), err)
			}
			for i, want := range tc.errs {
				if !strings.HasPrefix(fe.Errors[i].Error(), want) {
					t.Errorf("error %d = %q, want %q", i, fe.Errors[i].Error(), want)
				}
			}
			if !reflect.DeepEqual(got, Resources{}) {
				t.Errorf("Resolve returned %+v with an error", got)
			}
		})
	}

	// The result's Extra is a copy: changing it cannot change the profile.
	res, _ := p.Resolve(nil)
	res.Extra[0] = "--changed"
	if p.Extra[0] != "--qos=interactive" {
		t.Errorf("Resolve shares Extra with the profile")
	}
}

// TestResolveShell sends shell metacharacters in every option: each must
// be refused for that option alone, and the message must show the value
// quoted (no raw newline or quote that could break a log line or a page).
func TestResolveShell(t *testing.T) {
	p := testProfile()
	p.Account = Choice{Choices: []string{"proj1", "proj2"}}
	payloads := []string{
		"debug;reboot", "$(id)", "`id`", "1 && id", "1|id", "2\nid", `"'`, "../../etc/passwd",
		"1>/tmp/x", "debug --wrap=id", "*", "long\x00", "2#", "${IFS}", strings.Repeat("9", 100),
	}
	for _, field := range OptionNames {
		for _, payload := range payloads {
			_, err := p.Resolve(map[string]string{field: payload})
			var fe *FieldErrors
			if !errors.As(err, &fe) {
				t.Errorf("%s=%q: error %v, want *FieldErrors", field, payload, err)
				continue
			}
			if len(fe.Errors) != 1 || fe.Errors[0].Field != field {
				t.Errorf("%s=%q: errors %v, want one for %s", field, payload, err, field)
				continue
			}
			msg := fe.Field(field)
			if strings.ContainsAny(msg, "\n\x00") {
				t.Errorf("%s=%q: message holds a raw control character: %q", field, payload, msg)
			}
			shown := strings.TrimSpace(payload)
			if len(shown) <= 40 && !strings.Contains(msg, strconv.Quote(shown)) && !strings.HasPrefix(msg, shown) {
				t.Errorf("%s=%q: message %q does not show the value", field, payload, msg)
			}
		}
	}
}

func TestAllowedFor(t *testing.T) {
	p := &Profile{AllowedGroups: []string{"cn=gpu-users,ou=groups,dc=example,dc=org"}}
	for _, tc := range []struct {
		groups []string
		want   bool
	}{
		{[]string{"cn=gpu-users,ou=groups,dc=example,dc=org"}, true},
		{[]string{"cn=other,dc=example,dc=org", "CN=GPU-Users, OU=groups, DC=example, DC=org"}, true},
		{[]string{"cn=gpu-users,ou=groups,dc=example,dc=com"}, false},
		{[]string{"cn=gpu-users"}, false},
		{[]string{"not a dn"}, false},
		{nil, false},
	} {
		if got := p.AllowedFor(tc.groups); got != tc.want {
			t.Errorf("AllowedFor(%q) = %v, want %v", tc.groups, got, tc.want)
		}
	}
	// A hub group's name names only that hub group: not a directory
	// group whose first RDN reads the same.
	hub := &Profile{AllowedGroups: []string{"course1", "cn=gpu-users,ou=groups,dc=example,dc=org"}}
	for _, tc := range []struct {
		groups []string
		want   bool
	}{
		{[]string{"course1"}, true},
		{[]string{"cn=course1,ou=groups,dc=example,dc=org"}, false},
		{[]string{"course10", "course"}, false},
		{[]string{"cn=gpu-users,ou=groups,dc=example,dc=org", "other"}, true},
	} {
		if got := hub.AllowedFor(tc.groups); got != tc.want {
			t.Errorf("AllowedFor(%q) with a hub group = %v, want %v", tc.groups, got, tc.want)
		}
	}
	if open := (&Profile{}); !open.AllowedFor(nil) {
		t.Errorf("a profile without allowed_groups refuses a user without groups")
	}
}

func TestProfileValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Profile)
		want []string // problems as "path: message" prefixes
	}{
		{"valid", func(*Profile) {}, nil},
		{"cores zero", func(p *Profile) { p.Cores = Fixed(0) }, []string{"cores.value: 0 is below the least a job can have (1)"}},
		{"cores beyond batch", func(p *Profile) { p.Cores = Bounded(1, 200000, 1) }, []string{"cores.max: 200000 is above the most a job can have (100000)"}},
		{"walltime under a minute", func(p *Profile) { p.Walltime = Fixed(Walltime(30 * time.Second)) }, []string{"walltime.value: 30s is below the least a job can have (1m)"}},
		{"gpus min above max", func(p *Profile) { p.GPUs = Bounded(2, 1, 1) }, []string{"gpus.min: 2 is above max 1"}},
		{"default outside", func(p *Profile) { p.Memory = Bounded[MemoryMB](512, 4096, 8192) }, []string{"memory.default: 8G is outside the range 512M to 4G"}},
		{"choice both", func(p *Profile) { p.Partition.Value = "debug" }, []string{"partition.value: give either value (fixed) or choices, not both"}},
		{"choice twice", func(p *Profile) { p.Partition.Choices = []string{"debug", "debug"} }, []string{`partition.choices[1]: "debug" is listed twice`}},
		{"default without choices", func(p *Profile) { p.Account = Choice{Default: "proj"} }, []string{"account.default: is only used with choices"}},
		{"bad group", func(p *Profile) { p.AllowedGroups = []string{"GPU users"} }, []string{`allowed_groups[0]: "GPU users" is neither an LDAP group's distinguished name`}},
		{"bad group DN", func(p *Profile) { p.AllowedGroups = []string{"cn=,x"} }, []string{`allowed_groups[0]: "cn=,x" is not a distinguished name`}},
		{"bad name", func(p *Profile) { p.Name = "1st" }, []string{`name: "1st" must start with a lower-case letter`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testProfile()
			tc.edit(p)
			got := p.Validate()
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d: %v", len(got), len(tc.want), got)
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(got[i].Error(), want) {
					t.Errorf("problem %d = %q, want %q", i, got[i].Error(), want)
				}
			}
		})
	}
}

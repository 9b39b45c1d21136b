package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/batch/schedulers"
	"hpcgate/gateway/config"
	"hpcgate/templates"
)

// siteOn is a site file with one cluster on scheduler kind; extra lines
// go into the cluster.
func siteOn(kind string, extra ...string) string {
	return `ldap: {url: "ldap://127.0.0.1:3389", user_base_dn: "dc=example"}
clusters:
  - name: main
    scheduler: ` + kind + `
    login: {host: 127.0.0.1, known_hosts: k, user_ca_key: ca}
    profiles: [{name: small}]
` + strings.Join(extra, "\n")
}

// TestConfigSchedulerTable: every scheduler in the table has a name of its
// own and a job template, a site naming it checks clean with the
// adapter's default options, and serve's newScheduler builds it.
func TestConfigSchedulerTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range schedulers.Kinds {
		t.Run(k.Name, func(t *testing.T) {
			if k.Name == "" || seen[k.Name] || k.New == nil {
				t.Fatalf("kind %+v: a name of its own and a constructor are required", k)
			}
			seen[k.Name] = true
			if _, err := fs.Stat(templates.FS, "jobs/"+k.Name+".sh.tmpl"); err != nil {
				t.Errorf("no job template for %s: %v", k.Name, err)
			}
			if k.Options != nil {
				checkOptionsType(t, reflect.TypeOf(k.Options()))
			}
			cfg, err := config.Parse("site.yaml", []byte(siteOn(k.Name)), schedulers.Kinds...)
			if err != nil {
				t.Fatalf("a site on %s with its default options: %v", k.Name, err)
			}
			s, err := newScheduler(&cfg.Clusters[0], &batchtest.Replay{T: t}, templates.FS, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind() != k.Name {
				t.Errorf("the %s kind built a scheduler of kind %q", k.Name, s.Kind())
			}
		})
	}
}

// checkOptionsType: a kind's options are a pointer to a struct whose
// yaml fields the site file's decoder can fill (batch.Kind.Options).
func checkOptionsType(t *testing.T, typ reflect.Type) {
	t.Helper()
	if typ.Kind() != reflect.Pointer || typ.Elem().Kind() != reflect.Struct {
		t.Fatalf("Options returns %s, not a pointer to a struct", typ)
	}
	plain := func(k reflect.Kind) bool { return k == reflect.String || k == reflect.Bool || k == reflect.Int }
	st := typ.Elem()
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		if !f.IsExported() || f.Tag.Get("yaml") == "" || f.Tag.Get("yaml") == "-" {
			continue
		}
		ok := plain(f.Type.Kind()) ||
			(f.Type.Kind() == reflect.Slice && plain(f.Type.Elem().Kind())) ||
			(f.Type.Kind() == reflect.Map && f.Type.Key().Kind() == reflect.String && plain(f.Type.Elem().Kind()))
		if !ok {
			t.Errorf("option %s is a %s: a site file can set only strings, booleans, whole numbers and lists or maps of those", f.Name, f.Type)
		}
	}
}

// TestConfigTimeZoneReachesScheduler: a cluster's time_zone is the zone its
// scheduler reads the times of recorded squeue output in.
func TestConfigTimeZoneReachesScheduler(t *testing.T) {
	submitted := map[string]time.Time{}
	for _, zone := range []string{"UTC", "Asia/Tokyo"} {
		cfg, err := config.Parse("site.yaml", []byte(siteOn("slurm", "    time_zone: "+zone)), schedulers.Kinds...)
		if err != nil {
			t.Fatal(err)
		}
		r := batchtest.NewReplay(t, "../../testdata/slurm", "", "squeue-queue")
		s, err := newScheduler(&cfg.Clusters[0], nonceReplay{r}, templates.FS, nil)
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := s.(batch.QueueReader).Queue(context.Background())
		if err != nil || len(jobs) == 0 {
			t.Fatalf("Queue in %s: %d jobs, %v", zone, len(jobs), err)
		}
		r.Done()
		submitted[zone] = jobs[0].Submitted
		if got := jobs[0].Submitted.Location().String(); got != zone {
			t.Errorf("time_zone %s: job %s submitted at %v, in zone %s", zone, jobs[0].ID, jobs[0].Submitted, got)
		}
	}
	// The same wall-clock time, nine hours earlier in Tokyo.
	if d := submitted["UTC"].Sub(submitted["Asia/Tokyo"]); d != 9*time.Hour {
		t.Errorf("UTC %v minus Tokyo %v = %v, want 9h", submitted["UTC"], submitted["Asia/Tokyo"], d)
	}
}

// TestCheckConfigSchedulers: check-config reads the same table as serve: an
// unknown scheduler, options a scheduler does not take and a bad
// time_zone are each named with file and line; every site config in
// site-configs/ checks clean.
func TestCheckConfigSchedulers(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, site, want string
	}{
		{"unknown", siteOn("lsf"), `:4:16: clusters[0].scheduler: "lsf" is not a scheduler hpcgate knows (one of slurm, pbs, sge)`},
		{"options", siteOn("pbs", "    scheduler_options: {parallel_environment: smp}"), `:7:5: clusters[0].scheduler_options: the pbs scheduler takes no options`},
		{"zone", siteOn("slurm", "    time_zone: Europe/Atlantis"), `:7:16: clusters[0].time_zone: "Europe/Atlantis" is not a time zone`},
	} {
		path := filepath.Join(dir, tc.name+".yaml")
		if err := os.WriteFile(path, []byte(tc.site), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out := run(t, "check-config", "-f", path)
		if code != 1 || !strings.Contains(out, path+tc.want) {
			t.Errorf("check-config of %s: exit %d, want 1 and %q:\n%s", tc.name, code, path+tc.want, out)
		}
	}
	sites, err := filepath.Glob("../../site-configs/*.yaml")
	if err != nil || len(sites) == 0 {
		t.Fatalf("site configs: %v, %v", sites, err)
	}
	for _, site := range sites {
		if code, out := run(t, "check-config", "-f", site); code != 0 {
			t.Errorf("check-config %s: exit %d\n%s", site, code, out)
		}
	}
}

// nonceReplay replays recorded squeue output to a scheduler that draws its
// own separator nonce per query (batch/slurm/format.go): the recording's
// nonce is replaced by the one the command sent, in the expected argv and
// in the output.
type nonceReplay struct{ *batchtest.Replay }

func (r nonceReplay) Run(ctx context.Context, cmd batch.Command) ([]byte, error) {
	nonce := func(argv []string) string {
		for _, a := range argv {
			if _, n, ok := strings.Cut(a, "Reason:\x1e"); ok && strings.HasPrefix(a, "--Format=") {
				return n
			}
		}
		return ""
	}
	if i := len(r.Calls); i < len(r.Fixtures) {
		f := &r.Fixtures[i]
		if old, sent := nonce(f.Argv), nonce(cmd.Argv); old != "" && sent != "" {
			for j, a := range f.Argv {
				f.Argv[j] = strings.ReplaceAll(a, old, sent)
			}
			f.Stdout = bytes.ReplaceAll(f.Stdout, []byte(old), []byte(sent))
		}
	}
	return r.Replay.Run(ctx, cmd)
}

package config

import (
	"reflect"
	"regexp"
	"testing"
	"time"

	"hpcgate/batch"
)

// testKinds stand in for batch/schedulers' table, which config must not
// import: slurm and pbs as the site files name them (neither takes
// options), and grid, a kind with settings of its own, as a Grid Engine
// adapter has (the parallel environment jobs take cores from, the name of
// its GPU resource). cmd's tests check the real table.
var testKinds = []batch.Kind{{Name: "slurm"}, {Name: "pbs"}, gridKind}

var gridKind = batch.Kind{Name: "grid", Options: func() any { return &gridOptions{GPUResource: "gpu"} }}

type gridOptions struct {
	ParallelEnvironment string   `yaml:"parallel_environment"`
	GPUResource         string   `yaml:"gpu_resource"`
	Queues              []string `yaml:"queues"`
}

var reGridWord = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)

func (o *gridOptions) Validate() []batch.OptionError {
	var errs []batch.OptionError
	if !reGridWord.MatchString(o.ParallelEnvironment) {
		errs = append(errs, batch.OptionError{Key: "parallel_environment", Message: "required (the parallel environment that grants a job its cores)"})
	}
	if !reGridWord.MatchString(o.GPUResource) {
		errs = append(errs, batch.OptionError{Key: "gpu_resource", Message: "must be one resource name"})
	}
	return errs
}

// TestSchedulerOptions: a cluster's scheduler_options block is decoded over
// its adapter's defaults and handed on typed; a scheduler without options
// has none; time_zone reaches Location.
func TestSchedulerOptions(t *testing.T) {
	const site = `
ldap: {url: "ldap://127.0.0.1:3389", user_base_dn: "dc=example"}
clusters:
  - name: grid
    scheduler_options:
      parallel_environment: smp
      queues: [all.q, gpu.q]
    scheduler: grid
    time_zone: Europe/Berlin
    login: {host: 127.0.0.1, known_hosts: k, user_ca_key: ca}
    profiles: [{name: small}]
  - name: slurm
    scheduler: slurm
    scheduler_options: {}
    login: {host: 127.0.0.1, known_hosts: k, user_ca_key: ca}
    profiles: [{name: small}]
`
	cfg, err := Parse("/etc/hpcgate/site.yaml", []byte(site), testKinds...)
	if err != nil {
		t.Fatal(err)
	}
	grid, slurm := cfg.Clusters[0], cfg.Clusters[1]
	want := &gridOptions{ParallelEnvironment: "smp", GPUResource: "gpu", Queues: []string{"all.q", "gpu.q"}}
	if got := grid.SchedulerOptions.Value(); !reflect.DeepEqual(got, want) {
		t.Errorf("grid's options = %#v, want %#v", got, want)
	}
	if got := slurm.SchedulerOptions.Value(); got != nil {
		t.Errorf("slurm's options = %#v, want none", got)
	}
	if got := grid.Location().String(); got != "Europe/Berlin" {
		t.Errorf("grid's location = %s, want Europe/Berlin", got)
	}
	if got := slurm.Location(); got != time.Local {
		t.Errorf("slurm's location = %s, want the hub's own (time.Local)", got)
	}

	// No kinds at all: every scheduler is unknown, and says why.
	_, err = Parse("/etc/hpcgate/site.yaml", []byte(site))
	if want := `site.yaml:8:16: clusters[0].scheduler: "grid" is not a scheduler hpcgate knows (this program was built with no schedulers)`; err == nil || !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(err.Error()) {
		t.Errorf("Parse without kinds = %v, want …%s…", err, want)
	}
}

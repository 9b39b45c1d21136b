// Package schedulers is the table of the schedulers hpcgate is built with.
// Both config validation (check-config: a cluster naming a scheduler not
// here is an error at its line) and serve (which builds each cluster's
// scheduler) read it, so adding a scheduler is one package under batch/,
// its job template under templates/jobs/, and one line here.
//
// Only cmd imports it: gateway and its packages never see an adapter.
package schedulers

import (
	"hpcgate/batch"
	"hpcgate/batch/pbs"
	"hpcgate/batch/sge"
	"hpcgate/batch/slurm"
)

// Kinds are the schedulers a site file may name, one line each.
var Kinds = []batch.Kind{
	slurm.Kind,
	pbs.Kind,
	sge.Kind,
}

package slurm

import (
	"strings"

	"hpcgate/batch"
)

var _ batch.ReasonExplainer = (*Scheduler)(nil)

// reasonWords says in plain words why Slurm keeps a job waiting, keyed by
// squeue's reason code (%r). A code not here is shown raw.
var reasonWords = map[string]string{
	"Resources":                     "waiting for free nodes",
	"Priority":                      "other jobs have priority",
	"Dependency":                    "waiting for another job to finish",
	"DependencyNeverSatisfied":      "a job it depends on failed, so it will never start",
	"JobHeldUser":                   "held (by you or on your behalf); release it or cancel",
	"JobHeldAdmin":                  "held by an administrator",
	"BeginTime":                     "waiting for its requested start time",
	"QOSMaxJobsPerUserLimit":        "you already have the most jobs your QOS allows running",
	"QOSMaxSubmitJobPerUserLimit":   "you already have the most jobs your QOS allows submitted",
	"QOSMaxCpuPerUserLimit":         "your running jobs already use all the cores your QOS allows",
	"QOSMaxGRESPerUser":             "your running jobs already use all the GPUs your QOS allows",
	"QOSMaxWallDurationPerJobLimit": "the walltime asked for is above the QOS limit",
	"QOSGrpCpuLimit":                "the QOS has no cores left for now",
	"QOSGrpNodeLimit":               "the QOS has no nodes left for now",
	"AssocGrpCPULimit":              "your account's group has used all its cores for now",
	"AssocGrpCpuLimit":              "your account's group has used all its cores for now",
	"AssocGrpNodeLimit":             "your account's group has used all its nodes for now",
	"AssocGrpGRES":                  "your account's group has used all its GPUs for now",
	"AssocGrpJobsLimit":             "your account's group has the most jobs it may run",
	"AssocMaxJobsLimit":             "you have the most jobs your account may run",
	"AssocGrpCPUMinutesLimit":       "your account has used its allocation of core hours",
	"AssocGrpBillingMinutes":        "your account has used its allocation",
	"ReqNodeNotAvail":               "the nodes it needs are unavailable (down, drained or reserved)",
	"PartitionTimeLimit":            "the walltime asked for is above the partition's limit; it will not start",
	"PartitionNodeLimit":            "the job asks for more nodes than the partition allows; it will not start",
	"PartitionDown":                 "the partition is down",
	"PartitionInactive":             "the partition is not accepting jobs to run",
	"PartitionConfig":               "the job does not fit the partition's configuration",
	"NodeDown":                      "a node it needs is down",
	"BadConstraints":                "no node has the features it asks for; it will not start",
	"InvalidAccount":                "the account is not valid; it will not start",
	"InvalidQOS":                    "the QOS is not valid; it will not start",
	"Reservation":                   "waiting for its reservation to begin",
	"Licenses":                      "waiting for licences",
	"launch failed requeued held":   "failed to launch and was held; cancel and start again",
	"JobLaunchFailure":              "failed to launch",
	"MaxRequeueLimitReached":        "requeued too often and held",
	"Cleaning":                      "the node is cleaning up after a previous job",
	"Prolog":                        "the node is running its prolog",
	"Configuring":                   "nodes are being prepared for it",
}

// ExplainReason looks the reason code up; a code may carry detail after
// it ("ReqNodeNotAvail, UnavailableNodes:n1"), and the code alone decides.
// "" for a code without words.
func (s *Scheduler) ExplainReason(raw string) string {
	raw = strings.TrimSpace(raw)
	if w, ok := reasonWords[raw]; ok {
		return w
	}
	if i := strings.IndexAny(raw, ",( "); i > 0 {
		return reasonWords[raw[:i]]
	}
	return ""
}

package gateway

import (
	"errors"
	"fmt"

	"hpcgate/gateway/config"
)

// Plan is a spawn resolved against the site: the cluster, the profile the
// owner's groups allow, and the resources its options come to. The spawn
// form, the REST API, the admin's start and Hub.Spawn all get it from
// PlanSpawn, so a request is judged by one set of rules.
type Plan struct {
	Cluster   *config.Cluster
	Profile   *config.Profile
	Resources config.Resources
	// Workshop is the workshop the spawn is for; nil for an ordinary one.
	Workshop *config.Workshop
}

// PlanSpawn resolves req's cluster ("" for the first), profile ("" for the
// first the groups allow) and options against cfg. Its error is an *Error:
// EINVALID with one message per field (cluster, profile, or each refused
// option), EFORBIDDEN when no profile is open to the groups, EUNAVAILABLE
// when no cluster is configured. When only options were refused the plan
// still names the cluster and profile, so a form can come back as it was
// filled in.
func PlanSpawn(cfg *config.Config, req SpawnRequest) (*Plan, error) {
	if req.Workshop != "" {
		return planWorkshop(cfg, req) // workshop.go
	}
	var cl *config.Cluster
	switch {
	case req.Cluster != "":
		c, ok := cfg.Cluster(req.Cluster)
		if !ok {
			return nil, FieldError("cluster", fmt.Sprintf("%q is not a cluster here (choose %s)", req.Cluster, config.OrList(clusterNames(cfg))))
		}
		cl = c
	case len(cfg.Clusters) > 0:
		cl = &cfg.Clusters[0]
	default:
		return nil, Errorf(EUNAVAILABLE, "no cluster is configured")
	}
	var allowed []string
	for i := range cl.Profiles {
		if cl.Profiles[i].AllowedFor(req.Groups) {
			allowed = append(allowed, cl.Profiles[i].Name)
		}
	}
	if len(allowed) == 0 {
		return nil, Errorf(EFORBIDDEN, "no profile on %s is open to you; ask your centre's support", cl.Title)
	}
	name := req.Profile
	if name == "" {
		name = allowed[0]
	}
	p, ok := cl.Profile(name)
	if !ok || !p.AllowedFor(req.Groups) {
		return nil, FieldError("profile", fmt.Sprintf("%q is not a profile you may use on %s (choose %s)", name, cl.Name, config.OrList(allowed)))
	}
	plan := &Plan{Cluster: cl, Profile: p}
	res, err := p.Resolve(req.Options)
	var fe *config.FieldErrors
	switch {
	case errors.As(err, &fe):
		return plan, fieldErrors(fe)
	case err != nil:
		return plan, err
	}
	plan.Resources = res
	return plan, nil
}

// FieldError is an EINVALID error for one field, with the message the
// form shows next to it.
func FieldError(field, msg string) *Error {
	return &Error{Code: EINVALID, Message: field + ": " + msg, Fields: map[string]string{field: msg}}
}

// fieldErrors is the profile's refusal as an EINVALID error with one
// message per field (several about one field joined with "; ").
func fieldErrors(fe *config.FieldErrors) *Error {
	e := &Error{Code: EINVALID, Message: fe.Error(), Fields: map[string]string{}}
	for _, f := range fe.Errors {
		if prev, ok := e.Fields[f.Field]; ok {
			e.Fields[f.Field] = prev + "; " + f.Message
			continue
		}
		e.Fields[f.Field] = f.Message
	}
	return e
}

func clusterNames(cfg *config.Config) []string {
	ns := make([]string, 0, len(cfg.Clusters))
	for _, c := range cfg.Clusters {
		ns = append(ns, c.Name)
	}
	return ns
}

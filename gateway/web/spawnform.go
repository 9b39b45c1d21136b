package web

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
)

// The spawn form is built from the site's clusters and profiles: each
// profile offers the options its ranges leave open, fixed values are
// shown read-only, bounded ones as inputs with their limits in the label
// and in min/max attributes, and the profile's own messages (naming the
// field and what is allowed) are put next to the inputs.

// optionList names the options for messages.
var optionList = strings.Join(config.OptionNames, ", ")

func isOption(k string) bool { return slices.Contains(config.OptionNames, k) }

// optionLabels are the options' labels on the form.
var optionLabels = map[string]string{
	"partition": "Partition",
	"account":   "Account",
	"cores":     "Cores",
	"memory":    "Memory",
	"gpus":      "GPUs",
	"walltime":  "Walltime",
}

// optionHints help with the forms an option takes.
var optionHints = map[string]string{
	"memory":   "e.g. 4G or 512M",
	"walltime": "e.g. 4h, 90m or 1-12:00:00",
}

type choiceView struct {
	Value    string
	Selected bool
}

// fieldView is one option of one profile on the form.
type fieldView struct {
	Option    string // partition, cores, …
	Label     string
	Range     string // "1 to 4", "debug or long"
	Hint      string
	InputName string // cluster/profile/option
	ID        string
	Kind      string // fixed, select, number, text
	Value     string
	Choices   []choiceView
	Min, Max  string
	Error     string
}

type profileView struct {
	Key         string // cluster/profile
	Cluster     string
	Name        string
	Title       string
	Description string
	Selected    bool
	Fields      []fieldView
}

type clusterView struct {
	Name, Title string
	Selected    bool
	Profiles    []*profileView
}

// spawnFormData is the spawn page's data.
type spawnFormData struct {
	Owner        string
	Own          bool
	Action       string
	Clusters     []*clusterView
	MultiCluster bool
	Error        string
	// Next is where to go once the server is ready (a link into it).
	Next string
}

func profileKey(cluster, profile string) string { return cluster + "/" + profile }

// buildSpawnForm lays out the profiles the owner's groups may use. values
// are what the user sent (keyed by option, for the selected profile), so a
// refused form comes back as they filled it; fields are the messages.
func (s *Server) buildSpawnForm(groups []string, selCluster, selProfile string, values, fields map[string]string) []*clusterView {
	var out []*clusterView
	for ci := range s.cfg.Clusters {
		cl := &s.cfg.Clusters[ci]
		cv := &clusterView{Name: cl.Name, Title: cl.Title}
		for pi := range cl.Profiles {
			p := &cl.Profiles[pi]
			if !p.AllowedFor(groups) {
				continue
			}
			pv := &profileView{Key: profileKey(cl.Name, p.Name), Cluster: cl.Name, Name: p.Name, Title: p.Title, Description: p.Description}
			var vals, errs map[string]string
			if cl.Name == selCluster && p.Name == selProfile {
				pv.Selected, cv.Selected = true, true
				vals, errs = values, fields
			}
			pv.Fields = profileFields(cl.Name, p, vals, errs)
			cv.Profiles = append(cv.Profiles, pv)
		}
		if len(cv.Profiles) > 0 {
			out = append(out, cv)
		}
	}
	// Nothing chosen yet: the first profile is.
	if selProfile == "" && len(out) > 0 {
		out[0].Selected, out[0].Profiles[0].Selected = true, true
	}
	return out
}

// profileFields lays out one profile's options.
func profileFields(cluster string, p *config.Profile, values, errs map[string]string) []fieldView {
	var fs []fieldView
	for _, opt := range config.OptionNames {
		f := fieldView{
			Option:    opt,
			Label:     optionLabels[opt],
			Hint:      optionHints[opt],
			InputName: cluster + "/" + p.Name + "/" + opt,
			ID:        "f-" + cluster + "-" + p.Name + "-" + opt,
			Error:     errs[opt],
		}
		v, sent := values[opt]
		switch opt {
		case "partition", "account":
			ch := p.Partition
			if opt == "account" {
				ch = p.Account
			}
			if !ch.Offered() {
				if ch.Value == "" && f.Error == "" {
					continue // left to the scheduler; nothing to show
				}
				f.Kind, f.Value = "fixed", ch.Value
				break
			}
			f.Kind = "select"
			f.Range = orWords(ch.Choices)
			if !sent {
				v = ch.DefaultValue()
			}
			for _, c := range ch.Choices {
				f.Choices = append(f.Choices, choiceView{Value: c, Selected: c == v})
			}
		case "cores", "gpus":
			r := p.Cores
			if opt == "gpus" {
				r = p.GPUs
			}
			rangeField(&f, r, "number", v, sent)
		case "memory":
			rangeField(&f, p.Memory, "text", v, sent)
			if p.Memory.IsFixed() && p.Memory.DefaultValue() == 0 {
				f.Value = "scheduler's default"
			}
		case "walltime":
			rangeField(&f, p.Walltime, "text", v, sent)
		}
		fs = append(fs, f)
	}
	return fs
}

func rangeField[T config.Number](f *fieldView, r config.Range[T], kind, sentValue string, sent bool) {
	lo, hi := r.Bounds()
	// A range of one value ({min: 0, max: 0}) is fixed too.
	if r.IsFixed() || lo == hi {
		f.Kind, f.Value, f.Hint = "fixed", fmt.Sprint(lo), ""
		return
	}
	f.Kind = kind
	f.Range = fmt.Sprintf("%v to %v", lo, hi)
	if kind == "number" {
		f.Min, f.Max = fmt.Sprint(lo), fmt.Sprint(hi)
	}
	f.Value = fmt.Sprint(r.DefaultValue())
	if sent {
		f.Value = sentValue
	}
}

// orWords joins choices as "a", "a or b", "a, b or c".
func orWords(ws []string) string {
	if len(ws) < 2 {
		return strings.Join(ws, "")
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " or " + ws[len(ws)-1]
}

// findProfile resolves the cluster and profile a form or request names
// ("" picks the first cluster, and the first profile the groups allow),
// or returns the field error to show.
func (s *Server) findProfile(cluster, profile string, groups []string) (*config.Cluster, *config.Profile, error) {
	var cl *config.Cluster
	switch {
	case cluster != "":
		c, ok := s.cfg.Cluster(cluster)
		if !ok {
			return nil, nil, fieldError("cluster", fmt.Sprintf("%q is not a cluster here (choose %s)", cluster, orWords(s.clusterNames())))
		}
		cl = c
	case len(s.cfg.Clusters) > 0:
		cl = &s.cfg.Clusters[0]
	default:
		return nil, nil, gateway.Errorf(gateway.EUNAVAILABLE, "no cluster is configured")
	}
	var allowed []string
	for i := range cl.Profiles {
		if cl.Profiles[i].AllowedFor(groups) {
			allowed = append(allowed, cl.Profiles[i].Name)
		}
	}
	if len(allowed) == 0 {
		return nil, nil, gateway.Errorf(gateway.EFORBIDDEN, "no profile on %s is open to you; ask your centre's support", cl.Title)
	}
	if profile == "" {
		profile = allowed[0]
	}
	p, ok := cl.Profile(profile)
	if !ok || !p.AllowedFor(groups) {
		return nil, nil, fieldError("profile", fmt.Sprintf("%q is not a profile you may use on %s (choose %s)", profile, cl.Name, orWords(allowed)))
	}
	return cl, p, nil
}

func (s *Server) clusterNames() []string {
	var ns []string
	for _, c := range s.cfg.Clusters {
		ns = append(ns, c.Name)
	}
	return ns
}

// checkSpawn finds the profile a spawn names and checks the options
// against it, as the hub will again: a form or an API request with a
// value the profile does not allow comes back with a message per field
// before anything reaches the lifecycle.
func (s *Server) checkSpawn(cluster, profile string, opts map[string]string, groups []string) (*config.Cluster, *config.Profile, error) {
	cl, p, err := s.findProfile(cluster, profile, groups)
	if err != nil {
		return nil, nil, err
	}
	if _, err := p.Resolve(opts); err != nil {
		return cl, p, fieldErrors(err)
	}
	return cl, p, nil
}

// fieldError is an EINVALID error for one field.
func fieldError(field, msg string) *gateway.Error {
	return &gateway.Error{Code: gateway.EINVALID, Message: field + ": " + msg, Fields: map[string]string{field: msg}}
}

// fieldErrors turns the profile's *config.FieldErrors into the hub's
// EINVALID error with one message per field; other errors pass through.
func fieldErrors(err error) error {
	var fe *config.FieldErrors
	if !errors.As(err, &fe) {
		return err
	}
	ge := &gateway.Error{Code: gateway.EINVALID, Message: fe.Error(), Fields: map[string]string{}}
	for _, e := range fe.Errors {
		if prev, ok := ge.Fields[e.Field]; ok {
			ge.Fields[e.Field] = prev + "; " + e.Message
			continue
		}
		ge.Fields[e.Field] = e.Message
	}
	return ge
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

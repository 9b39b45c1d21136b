package web

import (
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
	"app":       "App",
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
	Label    string // "" shows the value
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
	Server       string // a named server's name; "" for the default one
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
			pv.Fields = profileFields(cl, p, vals, errs)
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
func profileFields(cl *config.Cluster, p *config.Profile, values, errs map[string]string) []fieldView {
	cluster := cl.Name
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
		case "app":
			// Only a choice is shown: a profile of the jupyterhub app
			// alone looks as it did before the catalogue.
			apps := p.OfferedApps()
			if len(apps) < 2 && f.Error == "" {
				continue
			}
			f.Kind = "select"
			if !sent {
				v = apps[0]
			}
			var titles []string
			for _, name := range apps {
				a, _ := cl.AppByName(name)
				titles = append(titles, a.Title)
				f.Choices = append(f.Choices, choiceView{Value: name, Label: a.Title, Selected: name == v})
			}
			f.Range = config.OrList(titles)
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
			f.Range = config.OrList(ch.Choices)
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

// planSpawn resolves a spawn for owner's groups (gateway.PlanSpawn, the
// rules the hub applies): a form or an API request with a value the
// profile does not allow comes back with a message per field before
// anything reaches the lifecycle.
func (s *Server) planSpawn(cluster, profile string, opts map[string]string, groups []string) (*gateway.Plan, error) {
	return gateway.PlanSpawn(s.cfg, gateway.SpawnRequest{Cluster: cluster, Profile: profile, Options: opts, Groups: groups})
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

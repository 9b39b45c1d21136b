package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"hpcgate/batch"
)

// Profile is one kind of server a user may spawn on a cluster, with the
// options the form offers and the limits the hub enforces on them.
type Profile struct {
	// Name identifies the profile in forms and the API:
	// ^[a-z][a-z0-9-]*$, unique in the cluster. Required.
	Name string `yaml:"name"`
	// Title is the profile's label on the form. Default: the name.
	Title string `yaml:"title"`
	// Description is shown under the title.
	Description string `yaml:"description"`
	// Partition (queue for PBS) and Account. Default: {value: ""}, the
	// scheduler's default.
	Partition Choice `yaml:"partition"`
	Account   Choice `yaml:"account"`
	// Cores per job. Default: {value: 1}.
	Cores IntRange `yaml:"cores"`
	// Memory per job; a fixed 0 leaves it to the scheduler.
	// Default: {value: 0}.
	Memory MemoryRange `yaml:"memory"`
	// GPUs per job. Default: {value: 0}.
	GPUs IntRange `yaml:"gpus"`
	// Walltime is the job's time limit. Default: {value: 1h}.
	Walltime WalltimeRange `yaml:"walltime"`
	// Extra are further scheduler options, each a single "--opt=value".
	Extra []string `yaml:"extra"`
	// AllowedGroups may use the profile; empty lets everyone. An entry
	// is an LDAP group's DN (cn=gpu-users,ou=groups,dc=example,dc=org) or
	// the name of a hub group, which admins manage through the REST API
	// (/hub/api/groups/<name>): a name is never a DN, so the two cannot
	// be confused.
	AllowedGroups []string `yaml:"allowed_groups"`
	// Apps are the names of the cluster's apps this profile offers, the
	// first being the form's default. Default: [jupyterhub].
	Apps []string `yaml:"apps"`
}

// setDefaults is applied to each profile before the file's values.
func (p *Profile) setDefaults() {
	*p = Profile{
		Cores:    Fixed(1),
		Memory:   Fixed(MemoryMB(0)),
		GPUs:     Fixed(0),
		Walltime: Fixed(Walltime(time.Hour)),
	}
}

// Resources is what a spawn asks the scheduler for, within a profile.
type Resources struct {
	Partition string // "" for the scheduler's default
	Account   string // "" for the user's default
	Cores     int
	MemoryMB  int // 0 for the scheduler's default
	GPUs      int
	Walltime  time.Duration
	Extra     []string
	// App is the app the job runs: a name of the cluster's catalogue
	// (Cluster.Apps), one the profile offers. "" in rows written before
	// the catalogue: the jupyterhub app.
	App string
}

// OptionNames are the spawn options a form or API request may give.
var OptionNames = []string{"app", "partition", "account", "cores", "memory", "gpus", "walltime"}

var reOptionName = regexp.MustCompile(`^[a-z_]{1,32}$`)

// Resolve turns the raw spawn options of a form or API request into
// resources: a missing or empty option takes the profile's default, any
// other value must be allowed by the profile. The error, if any, is
// *FieldErrors naming each refused option and what is allowed.
func (p *Profile) Resolve(opts map[string]string) (Resources, error) {
	var errs FieldErrors
	get := func(k string) string { return strings.TrimSpace(opts[k]) }
	res := Resources{
		Partition: resolveChoice(p.Partition, "partition", get("partition"), &errs),
		Account:   resolveChoice(p.Account, "account", get("account"), &errs),
		Cores:     resolveRange(p.Cores, "cores", get("cores"), parseCount, "a whole number", &errs),
		MemoryMB:  int(resolveRange(p.Memory, "memory", get("memory"), ParseMemory, "a memory size like 4G", &errs)),
		GPUs:      resolveRange(p.GPUs, "gpus", get("gpus"), parseCount, "a whole number", &errs),
		Walltime:  resolveRange(p.Walltime, "walltime", get("walltime"), ParseWalltime, "a duration like 2h or 1:30:00", &errs).D(),
		Extra:     slices.Clone(p.Extra),
		App:       resolveChoice(Choice{Choices: p.OfferedApps()}, "app", get("app"), &errs),
	}
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		switch {
		case slices.Contains(OptionNames, k):
		case reOptionName.MatchString(k):
			errs.add(k, "unknown option (options are %s)", strings.Join(OptionNames, ", "))
		default:
			errs.add("options", "%s is not an option (options are %s)", quoteInput(k), strings.Join(OptionNames, ", "))
		}
	}
	if len(errs.Errors) > 0 {
		return Resources{}, &errs
	}
	return res, nil
}

var reCount = regexp.MustCompile(`^[0-9]{1,9}$`)

// parseCount reads a count of cores or GPUs: digits only, so nothing but a
// number is ever echoed back or passed on.
func parseCount(s string) (int, error) {
	if !reCount.MatchString(s) {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return strconv.Atoi(s)
}

func resolveRange[T Number](r Range[T], field, raw string, parse func(string) (T, error), what string, errs *FieldErrors) T {
	if raw == "" {
		return r.DefaultValue()
	}
	lo, hi := r.Bounds()
	allowed := fmt.Sprintf("allowed %v to %v", lo, hi)
	v, err := parse(raw)
	switch {
	case err != nil:
		if r.IsFixed() {
			allowed = fmt.Sprintf("this profile has %v", lo)
		}
		errs.add(field, "%s is not %s (%s)", quoteInput(raw), what, allowed)
	case r.IsFixed() && v != lo:
		errs.add(field, "%v is not offered (this profile has %v)", v, lo)
	case v < lo:
		errs.add(field, "%v is below the minimum %v (%s)", v, lo, allowed)
	case v > hi:
		errs.add(field, "%v is above the limit %v (%s)", v, hi, allowed)
	default:
		return v
	}
	return r.DefaultValue()
}

func resolveChoice(c Choice, field, raw string, errs *FieldErrors) string {
	switch {
	case raw == "":
		return c.DefaultValue()
	case c.Offered() && slices.Contains(c.Choices, raw), !c.Offered() && raw == c.Value:
		return raw
	case c.Offered():
		errs.add(field, "%s is not offered (choose %s)", quoteInput(raw), OrList(c.Choices))
	case c.Value == "":
		errs.add(field, "%s is not offered (this profile uses the scheduler's default)", quoteInput(raw))
	default:
		errs.add(field, "%s is not offered (this profile uses %s)", quoteInput(raw), c.Value)
	}
	return c.DefaultValue()
}

// quoteInput quotes a value a user sent, shortened, so a message can show
// it safely whatever it holds.
func quoteInput(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return strconv.Quote(s)
}

// OrList joins words as people list choices: "a", "a or b", "a, b or c".
func OrList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// AllowedFor reports whether a member of groups (DNs of directory
// groups, names of hub groups) may use p. DNs are compared as LDAP
// compares them: case and spacing around separators do not matter; a hub
// group's name is compared as it is (a name never parses as a DN).
func (p *Profile) AllowedFor(groups []string) bool {
	if len(p.AllowedGroups) == 0 {
		return true
	}
	for _, a := range p.AllowedGroups {
		ad, err := ldap.ParseDN(a)
		for _, g := range groups {
			if gd, gerr := ldap.ParseDN(g); err == nil && gerr == nil && ad.EqualFold(gd) ||
				strings.EqualFold(a, g) {
				return true
			}
		}
	}
	return false
}

// Validate reports every problem in p, with paths relative to it.
func (p *Profile) Validate() []Problem {
	var ps problems
	if !reName.MatchString(p.Name) {
		ps.add("name", "%q must start with a lower-case letter and hold only lower-case letters, digits and dashes", p.Name)
	}
	ps.addAll("partition", p.Partition.validate("a partition"))
	ps.addAll("account", p.Account.validate("an account"))
	ps.addAll("cores", p.Cores.validate(1, maxCores))
	ps.addAll("memory", p.Memory.validate(0, maxMemoryMB))
	if !p.Memory.IsFixed() && !p.Memory.broken && p.Memory.Min == 0 {
		ps.add("memory.min", "0 would let a job ask for no memory; for the scheduler's default write {value: 0}")
	}
	ps.addAll("gpus", p.GPUs.validate(0, maxGPUs))
	ps.addAll("walltime", p.Walltime.validate(Walltime(minWalltime), Walltime(maxWalltime)))
	for i, o := range p.Extra {
		if !batch.ValidOption(o) {
			ps.add(fmt.Sprintf("extra[%d]", i), "%q is not one plain scheduler option such as --qos=interactive", o)
		}
	}
	for i, g := range p.AllowedGroups {
		switch {
		case strings.Contains(g, "="):
			checkDN(&ps, fmt.Sprintf("allowed_groups[%d]", i), g)
		case !HubGroupName(g):
			ps.add(fmt.Sprintf("allowed_groups[%d]", i), "%q is neither an LDAP group's distinguished name (like cn=staff,ou=groups,dc=example,dc=org) "+
				"nor a hub group's name (lower-case letters, digits, '.', '_' and '-')", g)
		}
	}
	return ps
}

// hubGroupRE is the rule for a hub group's name: lower case (so that
// AllowedFor's case-insensitive comparison cannot confuse two groups), no
// "=" or "," (so that it is never a DN), at most 64 characters.
var hubGroupRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// HubGroupName reports whether name may name a hub group.
func HubGroupName(name string) bool { return hubGroupRE.MatchString(name) }

// checkDN reports a value that is not a distinguished name.
func checkDN(ps *problems, path, dn string) {
	if parsed, err := ldap.ParseDN(dn); err != nil || len(parsed.RDNs) == 0 {
		ps.add(path, "%q is not a distinguished name (like cn=staff,ou=groups,dc=example,dc=org)", dn)
	}
}

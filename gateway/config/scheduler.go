package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"hpcgate/batch"
)

// SchedulerOptions is a cluster's scheduler_options: block. Which keys it
// takes depends on the cluster's scheduler, which may be written after
// it, so the block is kept as written and decoded once the whole file is:
// strictly, over the adapter's defaults, with the file's lines.
type SchedulerOptions struct {
	node  *yaml.Node
	value any
}

// Value is the adapter's options (what its batch.Kind.Options returned,
// with the file's values decoded over the defaults and validated); nil
// for a scheduler that takes none.
func (o SchedulerOptions) Value() any { return o.value }

func (o *SchedulerOptions) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping (key: value), got %s", kindName(n))
		return
	}
	o.node = n
}

// Location is the login node's time zone (time_zone), time.Local when none
// is set. Load has checked the name; a Cluster built in code with a bad
// one gets time.Local.
func (c *Cluster) Location() *time.Location {
	loc, err := c.location()
	if err != nil {
		return time.Local
	}
	return loc
}

func (c *Cluster) location() (*time.Location, error) {
	if c.TimeZone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("%q is not a time zone (use an IANA name such as Europe/Berlin, or UTC)", c.TimeZone)
	}
	return loc, nil
}

// schedulers finds each cluster's scheduler among kinds and decodes its
// scheduler_options into the adapter's settings. Problems decoding are
// recorded in d; the rest are returned with their key paths.
func (d *decoder) schedulers(cfg *Config, kinds []batch.Kind) []Problem {
	var ps problems
	for i := range cfg.Clusters {
		c := &cfg.Clusters[i]
		path := fmt.Sprintf("clusters[%d]", i)
		if d.failedAt(path + ".scheduler") {
			continue
		}
		k, ok := kindNamed(kinds, c.Scheduler)
		switch {
		case c.Scheduler == "":
			ps.add(path+".scheduler", "required (%s)", knownKinds(kinds))
		case !ok:
			ps.add(path+".scheduler", "%q is not a scheduler hpcgate knows (%s)", c.Scheduler, knownKinds(kinds))
		case !d.failedAt(path + ".scheduler_options"):
			ps.addAll(path+".scheduler_options", d.schedulerOptions(&c.SchedulerOptions, k, path+".scheduler_options"))
		}
	}
	return ps
}

// schedulerOptions decodes o over k's defaults and validates the result.
func (d *decoder) schedulerOptions(o *SchedulerOptions, k batch.Kind, path string) []Problem {
	var ps problems
	if k.Options == nil {
		if o.node != nil && len(o.node.Content) > 0 {
			ps.add("", "the %s scheduler takes no options", k.Name)
		}
		return ps
	}
	v := k.Options()
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		// A bug in the adapter, caught by cmd's test of every kind.
		panic(fmt.Sprintf("config: scheduler %s: Options returns %T, not a pointer to a struct", k.Name, v))
	}
	if o.node != nil {
		d.decode(o.node, rv.Elem(), path)
	}
	o.value = v
	if val, ok := v.(batch.OptionsValidator); ok {
		for _, e := range val.Validate() {
			ps.add(e.Key, "%s", e.Message)
		}
	}
	return ps
}

func kindNamed(kinds []batch.Kind, name string) (batch.Kind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return batch.Kind{}, false
}

// knownKinds names the schedulers a cluster may use, for messages.
func knownKinds(kinds []batch.Kind) string {
	if len(kinds) == 0 {
		return "this program was built with no schedulers"
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return "one of " + strings.Join(names, ", ")
}

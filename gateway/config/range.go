package config

import (
	"fmt"
	"reflect"
	"slices"

	"go.yaml.in/yaml/v3"
	"hpcgate/batch"
)

// Number is what a Range holds: a count, a memory size or a walltime.
type Number interface{ ~int | ~int64 }

// Range is a spawn option with limits. It is written either as a fixed
// amount, {value: 1} (or just 1), which the form does not offer, or as
// {min: 1, max: 4, default: 2}, which the form offers within the limits.
// The default of a bounded range, when left out, is its min.
type Range[T Number] struct {
	// Value is the fixed amount; nil for a bounded range.
	Value *T `yaml:"value"`
	// Min, Max and Default bound what a user may ask for.
	Min     T `yaml:"min"`
	Max     T `yaml:"max"`
	Default T `yaml:"default"`

	// broken marks a range the file gave in a form that did not decode;
	// the problem is reported once, by the decoder, not again by Validate.
	broken bool
}

// The ranges a profile has.
type (
	IntRange      = Range[int]
	MemoryRange   = Range[MemoryMB]
	WalltimeRange = Range[Walltime]
)

// Fixed is a range that allows only v.
func Fixed[T Number](v T) Range[T] { return Range[T]{Value: &v} }

// Bounded is a range from lo to hi with default def.
func Bounded[T Number](lo, hi, def T) Range[T] { return Range[T]{Min: lo, Max: hi, Default: def} }

// IsFixed reports whether r allows one amount only.
func (r Range[T]) IsFixed() bool { return r.Value != nil }

// DefaultValue is what a job gets when the user does not ask.
func (r Range[T]) DefaultValue() T {
	if r.Value != nil {
		return *r.Value
	}
	return r.Default
}

// Bounds are the least and most a user may ask for.
func (r Range[T]) Bounds() (lo, hi T) {
	if r.Value != nil {
		return *r.Value, *r.Value
	}
	return r.Min, r.Max
}

func (r *Range[T]) decodeNode(d *decoder, n *yaml.Node, path string) {
	before := len(d.probs)
	defer func() { r.broken = len(d.probs) > before }()
	// A range in the file replaces the default one as a whole: mixing a
	// default fixed value with a bounded form from the file makes no sense.
	*r = Range[T]{}
	if n.Kind == yaml.ScalarNode {
		var v T
		d.decode(n, reflect.ValueOf(&v).Elem(), path)
		r.Value = &v
		return
	}
	var raw struct {
		Value   *T `yaml:"value"`
		Min     *T `yaml:"min"`
		Max     *T `yaml:"max"`
		Default *T `yaml:"default"`
	}
	d.decodeStruct(n, reflect.ValueOf(&raw).Elem(), path)
	if len(d.probs) > before || n.Kind != yaml.MappingNode {
		return
	}
	bounded := raw.Min != nil || raw.Max != nil || raw.Default != nil
	switch {
	case raw.Value != nil && bounded:
		d.fail(n, path, "give either value (a fixed amount) or min and max, not both")
	case raw.Value != nil:
		r.Value = raw.Value
	case raw.Min == nil || raw.Max == nil:
		d.fail(n, path, "give min and max (and a default), or value for a fixed amount")
	default:
		r.Min, r.Max, r.Default = *raw.Min, *raw.Max, *raw.Min
		if raw.Default != nil {
			r.Default = *raw.Default
		}
	}
}

// validate checks r against the least and most a job may have, with
// paths relative to the range.
func (r Range[T]) validate(lo, hi T) []Problem {
	var ps problems
	if r.broken {
		return nil
	}
	within := func(path string, v T) bool {
		switch {
		case v < lo:
			ps.add(path, "%v is below the least a job can have (%v)", v, lo)
		case v > hi:
			ps.add(path, "%v is above the most a job can have (%v)", v, hi)
		default:
			return true
		}
		return false
	}
	if r.Value != nil {
		within("value", *r.Value)
		return ps
	}
	okMin, okMax := within("min", r.Min), within("max", r.Max)
	switch {
	case okMin && okMax && r.Min > r.Max:
		ps.add("min", "%v is above max %v", r.Min, r.Max)
	case r.Default < r.Min || r.Default > r.Max:
		ps.add("default", "%v is outside the range %v to %v", r.Default, r.Min, r.Max)
	}
	return ps
}

// Choice is a spawn option picked from a list (a partition or an account).
// It is written either as {value: debug} (or just debug), fixed and not
// offered on the form, or as {choices: [debug, long], default: debug}. An
// empty value with no choices leaves the option to the scheduler's default
// (the user's default account, the default partition).
type Choice struct {
	// Value is the fixed choice; used when Choices is empty.
	Value string `yaml:"value"`
	// Choices are offered on the form; Default (default: the first) is
	// preselected.
	Choices []string `yaml:"choices"`
	Default string   `yaml:"default"`
}

// Offered reports whether the user chooses.
func (c Choice) Offered() bool { return len(c.Choices) > 0 }

// DefaultValue is what a job gets when the user does not ask.
func (c Choice) DefaultValue() string {
	switch {
	case !c.Offered():
		return c.Value
	case c.Default != "":
		return c.Default
	}
	return c.Choices[0]
}

func (c *Choice) decodeNode(d *decoder, n *yaml.Node, path string) {
	*c = Choice{}
	if n.Kind == yaml.ScalarNode {
		c.Value = n.Value
		return
	}
	type plain Choice // without decodeNode, so the walk does not come back here
	d.decodeStruct(n, reflect.ValueOf((*plain)(c)).Elem(), path)
}

// validate checks c with paths relative to it; what names the option in
// messages, with its article ("a partition").
func (c Choice) validate(what string) []Problem {
	var ps problems
	word := func(path, s string) {
		if !batch.ValidWord(s) {
			ps.add(path, "%q is not %s name the hub can pass to the scheduler", s, what)
		}
	}
	if !c.Offered() {
		if c.Value != "" {
			word("value", c.Value)
		}
		if c.Default != "" && c.Default != c.Value {
			ps.add("default", "is only used with choices; for a fixed one write {value: %s}", c.Default)
		}
		return ps
	}
	if c.Value != "" {
		ps.add("value", "give either value (fixed) or choices, not both")
	}
	for i, s := range c.Choices {
		word(fmt.Sprintf("choices[%d]", i), s)
		if slices.Index(c.Choices, s) < i {
			ps.add(fmt.Sprintf("choices[%d]", i), "%q is listed twice", s)
		}
	}
	if c.Default != "" && !slices.Contains(c.Choices, c.Default) {
		ps.add("default", "%q is not one of the choices (%s)", c.Default, OrList(c.Choices))
	}
	return ps
}

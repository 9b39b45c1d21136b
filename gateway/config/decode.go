package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The site file is decoded by walking the YAML node tree over the Go
// structs ourselves rather than with yaml.Decoder.KnownFields: that stops
// at the first error and reports neither the column nor the key path, and
// an administrator should see every problem, each with its place, at once.

// position is where a key path was found in the file.
type position struct{ line, column int }

// decoder walks a YAML node tree into a value, recording where each key
// path was found and every problem on the way.
type decoder struct {
	file   string
	probs  []Problem
	pos    map[string]position
	failed []string // paths of the problems found while decoding
}

// scalarParser is a type written as one scalar that needs more than
// strconv to read (durations, walltimes, memory sizes). The error message
// starts with the quoted value and says what is expected.
type scalarParser interface {
	parseScalar(s string) error
}

// nodeDecoder is a type that decodes itself, for forms the generic walk
// cannot express (a range written either {value: x} or {min, max, default}).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// defaulter fills in a new list element's defaults before it is decoded,
// so defaults apply to every cluster and profile, not only to the first.
type defaulter interface {
	setDefaults()
}

func (d *decoder) fail(n *yaml.Node, path, format string, a ...any) {
	d.probs = append(d.probs, Problem{
		File: d.file, Line: n.Line, Column: n.Column,
		Path: path, Message: fmt.Sprintf(format, a...),
	})
	d.failed = append(d.failed, path)
}

// failedAt reports whether path, or a path enclosing it, did not decode:
// validating the default left in its place would only repeat the problem
// ("clusters: expected a list" needs no "at least one cluster").
func (d *decoder) failedAt(path string) bool {
	for _, f := range d.failed {
		if path == f || f == "" || strings.HasPrefix(path, f+".") || strings.HasPrefix(path, f+"[") {
			return true
		}
	}
	return false
}

// at records where path is, keeping the first position recorded.
func (d *decoder) at(path string, n *yaml.Node) {
	if _, ok := d.pos[path]; !ok {
		d.pos[path] = position{n.Line, n.Column}
	}
}

// locate is where path, or the nearest enclosing path present in the file,
// was found; problems about missing keys point at their parent.
func (d *decoder) locate(path string) position {
	for {
		if p, ok := d.pos[path]; ok || path == "" {
			return p
		}
		path = parentPath(path)
	}
}

var reSyntaxError = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// document parses data into the root node; nil (with a problem recorded
// for a syntax error) when there is nothing to decode.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file: every setting at its default
		}
		p := Problem{File: d.file, Message: "YAML syntax: " + err.Error()}
		if m := reSyntaxError.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = "YAML syntax: " + m[2]
		}
		d.probs = append(d.probs, p)
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		d.probs = append(d.probs, Problem{File: d.file, Line: next.Line, Column: next.Column,
			Message: "a site file holds one YAML document; remove the second one (---)"})
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return &doc
}

// decode walks n into v (addressable), reporting problems under path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with no value leaves the default
	}
	addr := v.Addr().Interface()
	if nd, ok := addr.(nodeDecoder); ok {
		nd.decodeNode(d, n, path)
		return
	}
	if sp, ok := addr.(scalarParser); ok {
		if d.scalar(n, path, "a single value") {
			if err := sp.parseScalar(n.Value); err != nil {
				d.fail(n, path, "%s", err.Error())
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.String:
		if d.scalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if !d.scalar(n, path, "true or false") {
			return
		}
		switch strings.ToLower(n.Value) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(n, path, "%q is not true or false", n.Value)
		}
	case reflect.Int:
		if !d.scalar(n, path, "a whole number") {
			return
		}
		i, err := strconv.Atoi(n.Value)
		if err != nil {
			d.fail(n, path, "%q is not a whole number", n.Value)
			return
		}
		v.SetInt(int64(i))
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	default:
		panic(fmt.Sprintf("config: no decoding for %s at %s", v.Type(), path))
	}
}

// scalar reports whether n is a scalar, recording a problem if not.
func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind == yaml.ScalarNode {
		return true
	}
	d.fail(n, path, "expected %s, got %s", want, kindName(n))
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

// keyValue is one entry of a mapping.
type keyValue struct{ key, value *yaml.Node }

// entries lists a mapping's entries with YAML merge keys ("<<: *anchor")
// expanded, keys given explicitly winning over merged ones, and reports
// keys given twice.
func (d *decoder) entries(n *yaml.Node, path string) []keyValue {
	var explicit, merged []keyValue
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeSources(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "a key must be a plain word, not %s", kindName(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, joinPath(path, k.Value), "given twice (first at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		explicit = append(explicit, keyValue{k, val})
	}
	for _, kv := range merged {
		if _, ok := seen[kv.key.Value]; !ok {
			seen[kv.key.Value] = kv.key
			explicit = append(explicit, kv)
		}
	}
	return explicit
}

// mergeSources returns the entries a merge key brings in: one mapping or a
// list of mappings, earlier ones winning.
func (d *decoder) mergeSources(n *yaml.Node, path string) []keyValue {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.entries(n, path)
	case yaml.SequenceNode:
		var out []keyValue
		for _, m := range n.Content {
			out = append(out, d.mergeSources(m, path)...)
		}
		return out
	}
	d.fail(n, path, "<< must merge a mapping or a list of mappings")
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping (key: value), got %s", kindName(n))
		return
	}
	fields := yamlFields(v.Type())
	for _, kv := range d.entries(n, path) {
		key := kv.key.Value
		p := joinPath(path, key)
		i, ok := fields[key]
		if !ok {
			d.fail(kv.key, p, "unknown key%s", suggest(key, v.Type()))
			continue
		}
		if kv.value.Kind == yaml.ScalarNode {
			d.at(p, kv.value)
		} else {
			d.at(p, kv.key)
		}
		d.decode(kv.value, v.Field(i), p)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a list, got %s", kindName(n))
		return
	}
	// A list in the file replaces the default list rather than adding to
	// it; an empty one is nil, as if never given.
	if len(n.Content) == 0 {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.at(p, item)
		elem := reflect.New(v.Type().Elem())
		if def, ok := elem.Interface().(defaulter); ok {
			def.setDefaults()
		}
		d.decode(item, elem.Elem(), p)
		out = reflect.Append(out, elem.Elem())
	}
	v.Set(out)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if v.Type().Key().Kind() != reflect.String {
		panic(fmt.Sprintf("config: no decoding for %s at %s", v.Type(), path))
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping (key: value), got %s", kindName(n))
		return
	}
	out := reflect.MakeMap(v.Type())
	for _, kv := range d.entries(n, path) {
		p := joinPath(path, kv.key.Value)
		d.at(p, kv.value)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv.value, elem, p)
		out.SetMapIndex(reflect.ValueOf(kv.key.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(out)
}

// yamlFields maps each yaml tag of struct type t to its field index.
func yamlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if name := yamlName(t.Field(i)); name != "" {
			out[name] = i
		}
	}
	return out
}

// yamlName is the key of a struct field, "" for fields not in the file.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

// suggest names the key the writer probably meant, or lists the keys t
// takes when nothing is close.
func suggest(key string, t reflect.Type) string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if name := yamlName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	best, bestDist := "", 3
	for _, name := range names {
		if dist := editDistance(strings.ToLower(key), name); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return " (known keys: " + strings.Join(names, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

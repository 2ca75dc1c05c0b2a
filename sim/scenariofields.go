package sim

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A misspelt key in a scenario makes the YAML decoder say "field capacty
// not found in type sim.WorkerSpec": a Go type the user never wrote and no
// hint of where. unknownKey finds that key again in the document, with
// its path as the scenario's other errors give it (pools[0].workers[0])
// and the field it most likely meant.

// unknownKeyError is a key of the document that its place has no field
// for.
type unknownKeyError struct {
	path   []any // of the mapping that holds the key
	key    string
	line   int
	fields []string // the keys that place takes, in the type's order
}

func (e *unknownKeyError) Error() string {
	where := pathString(e.path)
	if where != "" {
		where += ": "
	}
	if near := nearest(e.key, e.fields); near != "" {
		return fmt.Sprintf("%sunknown field %q: did you mean %q?", where, e.key, near)
	}
	return fmt.Sprintf("%sunknown field %q: the fields here are %s", where, e.key, strings.Join(e.fields, ", "))
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// unknownKey walks the document n as the type t decodes it and returns
// the first key, in document order, that t has no field for; nil when
// there is none. Types that decode themselves (Duration, Dist) check
// their own keys and are not entered.
func unknownKey(n *yaml.Node, t reflect.Type, path []any) *unknownKeyError {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		fields, order := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				return &unknownKeyError{path: path, key: k.Value, line: k.Line, fields: order}
			}
			if e := unknownKey(v, ft, append(path[:len(path):len(path)], k.Value)); e != nil {
				return e
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if e := unknownKey(c, t.Elem(), append(path[:len(path):len(path)], i)); e != nil {
				return e
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if e := unknownKey(n.Content[i+1], t.Elem(), append(path[:len(path):len(path)], n.Content[i].Value)); e != nil {
				return e
			}
		}
	}
	return nil
}

// yamlFields are the keys a struct takes, as go.yaml.in/yaml/v3 names
// them (the tag's name, else the field's name in lower case; inline
// structs' keys as the struct's own), with each one's type.
func yamlFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var order []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			inner, innerOrder := yamlFields(f.Type)
			for _, k := range innerOrder {
				fields[k] = inner[k]
			}
			order = append(order, innerOrder...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
		order = append(order, name)
	}
	return fields, order
}

// nearest is the candidate within two edits of s (case aside) that is
// closest to it, the first on a tie; "" when none is that close. Two
// edits catch a dropped, doubled or swapped letter, and a name as short
// as "at" is not suggested for anything of two letters.
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), c)
		if d < bestD && d < len(c) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (the keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

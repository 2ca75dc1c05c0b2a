package core

import "slices"

// sortedKeys returns a map's keys in bytewise order, so that what is built
// from them never depends on Go's map iteration order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package results

import (
	"fmt"
	"strings"
)

// Run returns the run of that name, or an error naming those there are.
func (c *Catalog) Run(name string) (*Run, error) {
	if r := c.byName[name]; r != nil {
		return r, nil
	}
	var names []string
	for _, r := range c.Runs {
		names = append(names, r.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("run %q not found: %s holds no runs yet (write some with `ocluster-sim run --out %s/NAME`)", name, c.Root, c.Root)
	}
	return nil, fmt.Errorf("run %q not found in %s; it holds %s", name, c.Root, List(names))
}

// Comparison returns the comparison of that name, or an error naming
// those there are.
func (c *Catalog) Comparison(name string) (*Comparison, error) {
	var names []string
	for _, cmp := range c.Comparisons {
		if cmp.Name == name {
			return cmp, nil
		}
		names = append(names, cmp.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("comparison %q not found: %s holds no comparisons (write one with `ocluster-sim compare --out %s/NAME`)", name, c.Root, c.Root)
	}
	return nil, fmt.Errorf("comparison %q not found in %s; it holds %s", name, c.Root, List(names))
}

// listMax is how many names an error message lists.
const listMax = 40

// List joins names for a message, cutting a long list short.
func List(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) > listMax {
		return strings.Join(names[:listMax], ", ") + fmt.Sprintf(" and %d more", len(names)-listMax)
	}
	return strings.Join(names, ", ")
}

package sim

import (
	"embed"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
)

//go:embed scenarios/*.yaml
var builtinFS embed.FS

// Builtins lists the built-in scenarios by name.
func Builtins() []string {
	entries, _ := builtinFS.ReadDir("scenarios")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// BuiltinSource returns the text of a built-in scenario.
func BuiltinSource(name string) ([]byte, error) {
	data, err := builtinFS.ReadFile(path.Join("scenarios", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("no built-in scenario %q (built in: %s)", name, strings.Join(Builtins(), ", "))
	}
	return data, nil
}

// Open loads a built-in scenario by name, or a scenario file by path.
func Open(nameOrFile string) (*Scenario, error) {
	if data, err := BuiltinSource(nameOrFile); err == nil {
		return LoadScenario(nameOrFile, data)
	}
	data, err := os.ReadFile(nameOrFile)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%q is neither a built-in scenario (%s) nor a file", nameOrFile, strings.Join(Builtins(), ", "))
		}
		return nil, err
	}
	return LoadScenario(nameOrFile, data)
}

package wire

import (
	"fmt"
	"strings"
)

// CheckName refuses names that would make unreadable logs, paths or
// capability files.
func CheckName(what, name string) error {
	if name == "" {
		return fmt.Errorf("empty %s", what)
	}
	if len(name) > 200 {
		return fmt.Errorf("%s %q is longer than 200 bytes", what, name[:20]+"...")
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == '/' || r == '\\' || r == 0x7f }) {
		return fmt.Errorf("%s %q has a control character or a slash", what, name)
	}
	if strings.TrimSpace(name) != name {
		return fmt.Errorf("%s %q begins or ends with white space", what, name)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%s %q would name a folder in a path", what, name)
	}
	return nil
}

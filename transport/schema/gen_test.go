package schema

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates the code into a temporary folder
// and compares it with the committed file.
func TestGeneratedCodeIsFresh(t *testing.T) {
	if _, err := exec.LookPath("capnp"); err != nil {
		t.Fatal("the capnp compiler is missing: install Debian's capnproto (scripts/test.sh does)")
	}
	std, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "capnproto.org/go/capnp/v3").Output()
	if err != nil {
		t.Fatalf("locating the capnp module: %v", err)
	}
	plugin, err := exec.Command("go", "tool", "-n", "capnpc-go").Output()
	if err != nil {
		t.Fatalf("building capnpc-go: %v", err)
	}
	dir := t.TempDir()
	src, err := os.ReadFile("cluster.capnp")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster.capnp"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("capnp", "compile", "--no-standard-import",
		"-I"+filepath.Join(strings.TrimSpace(string(std)), "std"),
		"-o"+strings.TrimSpace(string(plugin))+":.", "./cluster.capnp")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("capnp compile: %v\n%s", err, out)
	}
	fresh, err := os.ReadFile(filepath.Join(dir, "cluster.capnp.go"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("cluster.capnp.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("cluster.capnp.go is stale: run transport/schema/gen.sh and commit the result")
	}
}

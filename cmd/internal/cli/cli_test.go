package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/ocluster-go/ocluster/transport"
)

var endings = map[string]error{
	"nil":        nil,
	"usage":      Usagef("RATE %q is not a number", "x"),
	"cobra":      errors.New(`unknown flag: --nope`),
	"wrapped":    fmt.Errorf("reading options: %w", Usage(errors.New("bad"))),
	"update":     fmt.Errorf("worker: %w", transport.ErrSelfUpdate),
	"failed":     errors.New(`No such user "nobody"`),
	"not-cobras": errors.New("requirement unmet"),
	"pflag":      errors.New("bad flag syntax: ---x"),
	"shown":      fmt.Errorf("the job: %w", ErrShown),
}

// Exit is run in a child process, since it ends the process.
func TestExitCodes(t *testing.T) {
	if name := os.Getenv("CLI_TEST_ENDING"); name != "" {
		Exit(endings[name])
		os.Exit(3) // Exit returned
	}
	want := map[string]int{"nil": 3, "usage": 2, "cobra": 2, "wrapped": 2, "update": 0, "failed": 1, "not-cobras": 1, "pflag": 2, "shown": 1}
	for name, code := range want {
		cmd := exec.Command(os.Args[0], "-test.run=^TestExitCodes$")
		cmd.Env = append(os.Environ(), "CLI_TEST_ENDING="+name)
		out, err := cmd.CombinedOutput()
		got := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			got = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if got != code {
			t.Errorf("%s: exit %d, want %d (output %q)", name, got, code, out)
		}
		switch e := endings[name]; {
		case errors.Is(e, ErrShown):
			if strings.Contains(string(out), e.Error()) {
				t.Errorf("%s: printed again: %q", name, out)
			}
		case e != nil && !strings.Contains(string(out), e.Error()):
			t.Errorf("%s: the output %q does not say %q", name, out, e)
		}
	}
}

func TestUntilSignalled(t *testing.T) {
	err := UntilSignalled(func(ctx context.Context) error {
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		<-ctx.Done()
		return ctx.Err()
	})
	if err != nil {
		t.Fatalf("stopped by SIGTERM: %v, want a clean stop", err)
	}
	failure := errors.New("the scheduler refused")
	if err := UntilSignalled(func(context.Context) error { return failure }); err != failure {
		t.Fatalf("a failure came back as %v", err)
	}
}

func TestConnectNamesABadCapFile(t *testing.T) {
	err := Connect("/nonexistent/admin.cap", func(context.Context, *transport.Conn) error {
		t.Fatal("connected without a .cap file")
		return nil
	})
	if !isUsage(err) || !strings.Contains(err.Error(), "/nonexistent/admin.cap") {
		t.Fatalf("a missing .cap file: %v (usage error: %v)", err, isUsage(err))
	}
}

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

	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/worker"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var endings = map[string]error{
	"nil":        nil,
	"usage":      Usagef("RATE %q is not a number", "x"),
	"wrapped":    fmt.Errorf("reading options: %w", Usage(errors.New("bad"))),
	"update":     fmt.Errorf("worker: %w", worker.ErrSelfUpdate),
	"failed":     errors.New(`No such user "nobody"`),
	"not-cobras": errors.New("requirement unmet"),
	"shown":      fmt.Errorf("the job: %w", ErrShown),
}

// exit is run in a child process, since it ends the process.
func TestExitCodes(t *testing.T) {
	if name := os.Getenv("CLI_TEST_ENDING"); name != "" {
		exit(endings[name])
		os.Exit(3) // exit returned
	}
	want := map[string]int{"nil": 3, "usage": 2, "wrapped": 2, "update": 0, "failed": 1, "not-cobras": 1, "shown": 1}
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

// What cobra itself refuses is a usage error, told by where it comes
// from: a command's own error that reads like one of cobra's is not.
func TestExecuteMarksCobrasRefusals(t *testing.T) {
	failure := errors.New("requires a scheduler")
	newRoot := func() *cobra.Command {
		root := &cobra.Command{Use: "tool", SilenceUsage: true, SilenceErrors: true}
		sub := &cobra.Command{Use: "sub", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return failure }}
		sub.Flags().Int("n", 0, "")
		sub.Flags().String("must", "", "")
		sub.MarkFlagRequired("must")
		root.AddCommand(sub)
		return root
	}
	for args, usage := range map[string]bool{
		"nope":                true, // unknown command
		"sub --must x --nope": true, // unknown flag
		"sub --must x --n x":  true, // bad flag value
		"sub":                 true, // required flag missing
		"sub --must x extra":  true, // an argument it does not take
		"sub --must x":        false,
	} {
		root := newRoot()
		root.SetArgs(strings.Fields(args))
		err := execute(root)
		require.Error(t, err, args)
		assert.Equal(t, usage, isUsage(err), "%s: %v", args, err)
		if !usage {
			assert.Equal(t, failure, err, "the command's error comes back as it made it")
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
	err := Connect("/nonexistent/admin.cap", func(context.Context, *client.Conn) error {
		t.Fatal("connected without a .cap file")
		return nil
	})
	if !isUsage(err) || !strings.Contains(err.Error(), "/nonexistent/admin.cap") {
		t.Fatalf("a missing .cap file: %v (usage error: %v)", err, isUsage(err))
	}
}

package gitctx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// minGit is the oldest git with merge-tree --write-tree, which merges
// without a work tree.
var minGit = [2]int{2, 38}

// gitError is a git command that failed; its text is git's own complaint.
type gitError struct {
	cmd      string // the subcommand, e.g. "fetch"
	code     int    // exit code; -1 if killed by a signal
	stderr   string
	signaled bool
}

func (e *gitError) Error() string {
	msg := strings.TrimSpace(e.stderr)
	if lines := strings.Split(msg, "\n"); len(lines) > 8 {
		// git's last lines say what went wrong; the first ones are context.
		msg = strings.Join(lines[len(lines)-8:], "\n")
	}
	if msg == "" {
		if e.signaled {
			msg = "killed by a signal"
		} else {
			msg = "exit status " + strconv.Itoa(e.code)
		}
	}
	return fmt.Sprintf("git %s: %s", e.cmd, msg)
}

// exitCode is err's git exit code, or -1 if err is not a git exit.
func exitCode(err error) int {
	var ge *gitError
	if errors.As(err, &ge) && !ge.signaled {
		return ge.code
	}
	return -1
}

// gitRun says where a git command works and what else it gets.
type gitRun struct {
	gitDir   string
	workTree string
	env      []string // added to the base environment
	stdin    string
}

// inheritedGitVars would point git at some other repository than ours
// when the worker itself runs under git (a hook, a test harness).
var inheritedGitVars = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
	"GIT_PREFIX", "GIT_QUARANTINE_PATH", "GIT_CEILING_DIRECTORIES",
	"GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS",
	"GIT_ICASE_PATHSPECS", "GIT_ALLOW_PROTOCOL", "GIT_TERMINAL_PROMPT",
	"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE",
	"GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE",
}

// gitEnv is the environment of every git command: the worker's, minus what
// would redirect git, plus what keeps a job's repository from reaching
// anything but the allowed transports or waiting on a password prompt.
func gitEnv(allowLocal bool) []string {
	drop := map[string]bool{"LC_ALL": true, "LANGUAGE": true}
	for _, v := range inheritedGitVars {
		drop[v] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	protocols := "git:http:https"
	if allowLocal {
		protocols += ":file"
	}
	return append(env,
		// Enforced by git for every transport it opens, submodules'
		// included: a second line of defence behind checkURL.
		"GIT_ALLOW_PROTOCOL="+protocols,
		"GIT_TERMINAL_PROMPT=0",
		"GCM_INTERACTIVE=never",
		// Paths we pass (submodule paths from .gitmodules) are names, never
		// patterns.
		"GIT_LITERAL_PATHSPECS=1",
		// Errors are parsed a little and shown to users: keep them stable.
		"LC_ALL=C",
	)
}

// baseArgs come before every subcommand: no hooks or file-system monitor
// from the worker's global configuration run on a job's repository, and
// an automatic gc runs while we hold the lock rather than detached after.
var baseArgs = []string{
	"-c", "core.hooksPath=/dev/null",
	"-c", "core.fsmonitor=false",
	"-c", "gc.autoDetach=false",
	// Writing the files dominates a cached preparation; one writer per
	// core cuts it by a quarter on a slow disk.
	"-c", "checkout.workers=0",
}

// git runs a git command and returns its standard output. Cancelling ctx
// sends SIGTERM to git's process group (git then removes its lock files)
// and SIGKILL a few seconds later.
func (c *Contexts) git(ctx context.Context, r gitRun, args ...string) ([]byte, error) {
	full := make([]string, 0, len(baseArgs)+len(args)+2)
	full = append(full, baseArgs...)
	if r.gitDir != "" {
		full = append(full, "--git-dir="+r.gitDir)
	}
	if r.workTree != "" {
		full = append(full, "--work-tree="+r.workTree)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Env = append(c.env[:len(c.env):len(c.env)], r.env...)
	cmd.Dir = c.root
	if r.stdin != "" {
		cmd.Stdin = strings.NewReader(r.stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// git fetch runs helpers (index-pack, remote-https): stop them all.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("git %s: %w", args[0], ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws, _ := ee.Sys().(syscall.WaitStatus)
		return stdout.Bytes(), &gitError{cmd: args[0], code: ee.ExitCode(), stderr: stderr.String(), signaled: ws.Signaled()}
	}
	return nil, fmt.Errorf("running git %s: %w", args[0], err)
}

var gitVersion = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("git", "version").Output()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", errors.New("git is not installed (or not on PATH); install git 2.38 or later")
		}
		return "", fmt.Errorf("running git version: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
})

// checkGit says why this machine's git cannot prepare contexts, or nil.
func checkGit() error {
	v, err := gitVersion()
	if err != nil {
		return err
	}
	// "git version 2.39.5", "git version 2.39.3 (Apple Git-146)"
	f := strings.Fields(strings.TrimPrefix(v, "git version "))
	if len(f) == 0 {
		return fmt.Errorf("cannot read the git version from %q", v)
	}
	parts := strings.SplitN(f[0], ".", 3)
	if len(parts) < 2 {
		return fmt.Errorf("cannot read the git version from %q", v)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("cannot read the git version from %q", v)
	}
	if major < minGit[0] || major == minGit[0] && minor < minGit[1] {
		return fmt.Errorf("%s is too old: git contexts need git %d.%d or later", v, minGit[0], minGit[1])
	}
	return nil
}

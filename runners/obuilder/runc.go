package obuilder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The OCI runtime configuration (runtime-spec 1.0), as far as a build step
// needs it.
type ociSpec struct {
	OCIVersion string     `json:"ociVersion"`
	Process    ociProcess `json:"process"`
	Root       ociRoot    `json:"root"`
	Hostname   string     `json:"hostname,omitempty"`
	Mounts     []ociMount `json:"mounts"`
	Linux      ociLinux   `json:"linux"`
}

type ociProcess struct {
	Terminal        bool            `json:"terminal"`
	User            ociUser         `json:"user"`
	Args            []string        `json:"args"`
	Env             []string        `json:"env,omitempty"`
	Cwd             string          `json:"cwd"`
	Capabilities    ociCapabilities `json:"capabilities"`
	NoNewPrivileges bool            `json:"noNewPrivileges"`
}

type ociUser struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

type ociCapabilities struct {
	Bounding  []string `json:"bounding"`
	Effective []string `json:"effective"`
	Permitted []string `json:"permitted"`
}

type ociRoot struct {
	Path     string `json:"path"`
	Readonly bool   `json:"readonly"`
}

type ociMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options,omitempty"`
}

type ociLinux struct {
	Resources     ociResources   `json:"resources"`
	Namespaces    []ociNamespace `json:"namespaces"`
	MaskedPaths   []string       `json:"maskedPaths,omitempty"`
	ReadonlyPaths []string       `json:"readonlyPaths,omitempty"`
}

type ociResources struct {
	Devices []ociDeviceRule `json:"devices"`
}

type ociDeviceRule struct {
	Allow  bool   `json:"allow"`
	Access string `json:"access"`
}

type ociNamespace struct {
	Type string `json:"type"`
}

// stepCapabilities are the capabilities a step runs with: Docker's default
// set, so that a step behaves as it would in the docker: store.
var stepCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// sandboxStep is what one run step needs from the sandbox.
type sandboxStep struct {
	Args    []string // the shell and the command
	Env     []string // NAME=VALUE
	Cwd     string
	User    User
	Network bool        // share the host's network namespace
	Hosts   string      // a file to mount on /etc/hosts, as Docker does; "" for none
	Binds   []bindMount // caches, secrets
}

type bindMount struct {
	Source, Target string
	ReadOnly       bool
}

// ociConfig is the runtime configuration of a step (its limits are the
// worker's own, inherited) whose root file system
// is the bundle's "rootfs": its own pid, ipc, uts and mount namespaces, and
// its own network namespace (loopback only) unless the step asked for the
// network, when it shares the host's, as OBuilder's runc sandbox does.
func ociConfig(s sandboxStep) ociSpec {
	env := s.Env
	if !hasVar(env, "PATH") {
		env = append([]string{defaultPath}, env...)
	}
	if !hasVar(env, "HOME") {
		home := "/root"
		if s.User.UID != 0 {
			home = "/"
		}
		env = append(env, "HOME="+home)
	}
	caps := stepCapabilities
	if s.User.UID != 0 {
		caps = []string{} // as Docker: a non-root process has no effective capabilities
	}
	spec := ociSpec{
		OCIVersion: "1.0.2",
		Process: ociProcess{
			User: ociUser{UID: s.User.UID, GID: s.User.GID}, Args: s.Args, Env: env, Cwd: s.Cwd,
			Capabilities: ociCapabilities{Bounding: stepCapabilities, Effective: caps, Permitted: caps},
		},
		Root:     ociRoot{Path: "rootfs"},
		Hostname: "builder",
		Mounts: []ociMount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: ociLinux{
			Resources: ociResources{Devices: []ociDeviceRule{{Allow: false, Access: "rwm"}}},
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	spec.Linux.Namespaces = []ociNamespace{{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}}
	if !s.Network {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, ociNamespace{Type: "network"})
	} else if _, err := os.Stat("/etc/resolv.conf"); err == nil {
		// The step may look names up: it sees the host's resolver.
		spec.Mounts = append(spec.Mounts, ociMount{Destination: "/etc/resolv.conf", Type: "bind", Source: "/etc/resolv.conf",
			Options: []string{"rbind", "ro", "nosuid", "nodev"}})
	}
	if s.Hosts != "" {
		// As Docker's, the step may change it, but the change is not kept.
		spec.Mounts = append(spec.Mounts, ociMount{Destination: "/etc/hosts", Type: "bind", Source: s.Hosts,
			Options: []string{"rbind", "nosuid", "nodev"}})
	}
	for _, b := range s.Binds {
		opts := []string{"rbind", "nosuid", "nodev"}
		if b.ReadOnly {
			opts = append(opts, "ro")
		}
		spec.Mounts = append(spec.Mounts, ociMount{Destination: b.Target, Type: "bind", Source: b.Source, Options: opts})
	}
	return spec
}

func hasVar(env []string, name string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			return true
		}
	}
	return false
}

// runcSandbox runs steps with runc.
type runcSandbox struct {
	binary string // the runc command
	root   string // runc's --root; "" for its default
}

func (rs runcSandbox) cmd(ctx context.Context, args ...string) *exec.Cmd {
	if rs.root != "" {
		args = append([]string{"--root", rs.root}, args...)
	}
	return exec.CommandContext(ctx, rs.binary, args...)
}

// run runs a step in the bundle dir (config.json and rootfs) as container
// id, its output going to log, and returns once the container is gone.
// When ctx ends it kills the container and deletes it, so that no
// process, and no mount of it, is left behind.
func (rs runcSandbox) run(ctx context.Context, bundle, id string, log io.Writer) error {
	cmd := rs.cmd(context.WithoutCancel(ctx), "run", "--bundle", bundle, id)
	cmd.Stdin = nil // /dev/null
	cmd.Stdout, cmd.Stderr = log, log
	cmd.WaitDelay = 10 * time.Second // the step's own children may hold the pipe
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting runc: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer rs.delete(id)
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() >= 0 {
			return fmt.Errorf("the command exited with exit code %d", exit.ExitCode())
		}
		if err != nil {
			return fmt.Errorf("runc: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	// runc may not have made the container yet when asked to kill it: ask
	// until it is gone, then stop runc itself if it lingers.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		rs.kill(id)
		select {
		case <-done:
			return ctx.Err()
		case <-tick.C:
		case <-deadline:
			cmd.Process.Kill()
			<-done
			return ctx.Err()
		}
	}
}

func (rs runcSandbox) kill(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs.cmd(ctx, "kill", "--all", id, "KILL").Run() //nolint:errcheck // the container may not exist yet, or any more
}

// delete removes the container, killing it first if it still runs.
func (rs runcSandbox) delete(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs.cmd(ctx, "delete", "--force", id).Run() //nolint:errcheck // usually already gone: runc run deletes what it ran
}

type runcContainer struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Bundle string `json:"bundle"`
}

// list is runc's list of containers.
func (rs runcSandbox) list(ctx context.Context) ([]runcContainer, error) {
	var out, errb bytes.Buffer
	cmd := rs.cmd(ctx, "list", "--format", "json")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("runc list: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	var list []runcContainer
	if s := strings.TrimSpace(out.String()); s != "" && s != "null" {
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("runc list: %w", err)
		}
	}
	return list, nil
}

// hostsFile is the /etc/hosts a step sees: the sandbox's own names.
const hostsFile = "127.0.0.1\tlocalhost builder\n::1\tlocalhost ip6-localhost ip6-loopback\n"

// bundleFiles are what a bundle holds besides the rootfs, removed before
// the step's result is kept.
var bundleFiles = []string{"config.json", "hosts"}

// writeBundle writes the step's config.json next to its rootfs.
func writeBundle(bundle string, spec ociSpec) error {
	data, err := json.MarshalIndent(spec, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600)
}

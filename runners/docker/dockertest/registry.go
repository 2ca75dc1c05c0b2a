package dockertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const registryBinary = "/usr/bin/docker-registry"

// Registry is Debian's docker-registry (distribution) serving on loopback,
// which the engine treats as an insecure registry: tests push to it
// without TLS.
type Registry struct {
	// Addr is host:port, the prefix of the registry's repositories.
	Addr           string
	user, password string
	dir            string
	cmd            *exec.Cmd
	exited         chan struct{}
}

// FreeAddr is a loopback address no one listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartRegistry serves a registry on addr ("" for a free port), with
// htpasswd authentication when user is set, until the test ends. Without
// the docker-registry package the test is skipped, or fails under
// RequireEnv.
func StartRegistry(t testing.TB, addr, user, password string) *Registry {
	t.Helper()
	if _, err := os.Stat(registryBinary); err != nil {
		unavailable(t, "no %s (apt-get install docker-registry)", registryBinary)
	}
	if addr == "" {
		addr = FreeAddr(t)
	}
	dir := t.TempDir()
	r := &Registry{Addr: addr, user: user, password: password, dir: dir, exited: make(chan struct{})}
	auth := ""
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		// The registry makes up an account when the file is missing, so
		// it is written first; it takes bcrypt entries only.
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: ocluster-test\n    path: %s\n", htpasswd)
	}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: %s\n%s",
		filepath.Join(dir, "data"), addr, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(registryBinary, "serve", cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	// Dies with the test binary, whatever happens to it.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); logf.Close(); close(r.exited) }()
	t.Cleanup(r.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || user != "" && resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		select {
		case <-r.exited:
			out, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("the registry exited: %s", out)
		case <-ctx.Done():
			t.Fatal("the registry did not start")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop ends the registry: later pushes to it fail.
func (r *Registry) Stop() {
	if r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// ManifestDigest asks the registry for the digest of repo:tag's manifest.
func (r *Registry) ManifestDigest(t testing.TB, repo, tag string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, "http://"+r.Addr+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	if r.user != "" {
		req.SetBasicAuth(r.user, r.password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s: %s", req.URL, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest")
}

package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// A secret is readable by the step that mounts it, and nowhere else: not
// in the image (layers, config, history), not in the log (even when a
// step prints it), not in the engine's files (layers, BuildKit's cache).
func TestSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := "S3CRET-" + randomHex(16)
	sum := sha256.Sum256([]byte(secret))
	log := newLog(t)
	// BuildKit does not make a secret's value part of the cache key (nor
	// does a LABEL count), so the steps name the test: a cached step from
	// an earlier run would hold another secret's digest.
	job := dockerJob(e.labelled("FROM " + dockertest.BaseImage + "\n" +
		"RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -d' ' -f1 > /tok.sha && echo " + e.token + "\n" +
		"RUN --mount=type=secret,id=tok echo leaked: $(cat /run/secrets/tok) " + e.token + "\n"))
	// BuildKit is not asked for: the secrets need it.
	job.Secrets = []runners.Secret{{ID: "tok", Value: secret}}
	ctx := context.Background()
	id, err := e.runner(nil).Run(ctx, job, "", log)
	if err != nil {
		t.Fatal(err)
	}

	if !strings.Contains(log.text(), "Building with BuildKit") {
		t.Errorf("the log does not say BuildKit was chosen")
	}
	if strings.Contains(log.text(), secret) {
		t.Errorf("the secret is in the log")
	}
	if !log.hasLine("leaked: *** " + e.token) {
		t.Errorf("the step printing the secret does not show it masked")
	}

	hist, err := e.cli.ImageHistory(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist.Items {
		if strings.Contains(h.CreatedBy, secret) {
			t.Errorf("the secret is in the image's history: %s", h.CreatedBy)
		}
	}

	files := savedImageFiles(t, e.cli, id)
	if got := strings.TrimSpace(string(files["tok.sha"])); got != hex.EncodeToString(sum[:]) {
		t.Errorf("the step did not read the secret: /tok.sha is %q", got)
	}
	for name, data := range files {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the secret is in the saved image, in %s", name)
		}
		if strings.HasPrefix(name, "run/secrets/") && name != "run/secrets/" {
			t.Errorf("the image has %s", name)
		}
	}

	// The engine's own files: layers, BuildKit's cache database and
	// snapshots. Readable when the test runs as root beside the engine.
	info, err := e.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root := info.Info.DockerRootDir
	if _, err := os.ReadDir(root); err != nil {
		t.Logf("not searching the engine's files: %v", err)
		return
	}
	scanned := 0
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil // others' builds come and go under the walk
		}
		if st, err := d.Info(); err != nil || st.Size() > 64<<20 {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		scanned++
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the secret is in the engine's file %s", p)
		}
		return nil
	})
	if scanned == 0 {
		t.Errorf("found no files under %s to search", root)
	}
}

// savedImageFiles saves the image and returns every file of it: the
// archive's own (manifest, config) and, by path, those of its layers.
func savedImageFiles(t *testing.T, cli *client.Client, id string) map[string][]byte {
	t.Helper()
	rc, err := cli.ImageSave(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files["saved:"+h.Name] = data
		if !strings.HasSuffix(h.Name, ".tar") {
			continue
		}
		lr := tar.NewReader(bytes.NewReader(data))
		for {
			lh, err := lr.Next()
			if err != nil {
				break
			}
			ld, _ := io.ReadAll(lr)
			files[strings.TrimPrefix(lh.Name, "./")] = ld
		}
	}
	return files
}

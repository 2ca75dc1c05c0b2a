// Package dockertest gives tests the machine's Docker engine and a busybox
// base image made locally from Debian's busybox-static, so that no test
// needs a registry or the internet. A test without an engine is skipped,
// saying why, unless OCLUSTER_REQUIRE_DOCKER is set (as the CI script
// does), when it fails instead.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// RequireEnv, when set, turns a missing engine or busybox into a failure.
const RequireEnv = "OCLUSTER_REQUIRE_DOCKER"

// BaseImage is the base image the tests build on, a name only they use:
// an image called busybox on a shared engine may be anyone's, even a
// partial one, and a test must not trust what it did not make. Test
// Dockerfiles say FROM BaseImage, test specs (from BaseImage).
const BaseImage = "ocluster-go-test/busybox:latest"

// rootfsLabel records the digest of the root file system an image was
// imported from.
const rootfsLabel = "org.ocluster-go.rootfs-sha256"

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s (%s is set, so this fails instead of skipping)", msg, RequireEnv)
	}
	t.Skipf("%s; set %s=1 to make this a failure", msg, RequireEnv)
}

// Engine returns a client of the engine DOCKER_HOST names (or the local
// socket), or skips the test when none answers.
func Engine(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		unavailable(t, "no Docker client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		unavailable(t, "no Docker engine answers: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Base makes sure BaseImage exists, importing busybox-static's binary as
// a root file system when it does not, and returns BaseImage. An image of
// that name that this package did not import (it lacks the label Import
// sets) is replaced.
func Base(t testing.TB, cli *client.Client) string {
	t.Helper()
	ensure(t, cli, BaseImage)
	return BaseImage
}

// ensure makes sure ref is an image Import made, importing it if not.
func ensure(t testing.TB, cli *client.Client, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	img, err := cli.ImageInspect(ctx, ref)
	switch {
	case err == nil && img.Config != nil && img.Config.Labels[rootfsLabel] != "":
		return
	case err != nil && !cerrdefs.IsNotFound(err):
		t.Fatalf("inspecting %s: %v", ref, err)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		unavailable(t, "no busybox binary to make %s from (apt-get install busybox-static)", ref)
	}
	rootfs, err := Rootfs(busybox)
	if err != nil {
		unavailable(t, "%v", err)
	}
	if err := Import(ctx, cli, rootfs, ref); err != nil {
		t.Fatal(err)
	}
}

// Rootfs is a tarball of a minimal root file system around a static
// busybox: the binary, a link per applet, /etc/passwd and /etc/group, /tmp.
// Fixed modification times make it the same bytes for the same binary.
func Rootfs(busybox string) ([]byte, error) {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("reading busybox: %w", err)
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w (is it busybox-static?)", busybox, err)
	}
	applets := strings.Fields(string(out))
	slices.Sort(applets)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	add := func(h *tar.Header, data []byte) {
		h.ModTime, h.Format, h.Size = epoch, tar.FormatPAX, int64(len(data))
		if err == nil {
			err = tw.WriteHeader(h)
		}
		if err == nil && len(data) > 0 {
			_, err = tw.Write(data)
		}
	}
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"etc/", 0o755}, {"root/", 0o700}, {"tmp/", 0o1777}, {"usr/", 0o755}, {"usr/bin/", 0o755}, {"var/", 0o755}} {
		add(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode}, nil)
	}
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755}, bin)
	for _, a := range applets {
		if a != "busybox" {
			add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil)
		}
	}
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644}, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"))
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/group", Mode: 0o644}, []byte("root:x:0:\nnogroup:x:65534:\n"))
	if err == nil {
		err = tw.Close()
	}
	return buf.Bytes(), err
}

// Import makes an image called ref from a root file system tarball.
func Import(ctx context.Context, cli *client.Client, rootfs []byte, ref string) error {
	sum := sha256.Sum256(rootfs)
	rc, err := cli.ImageImport(ctx, client.ImageImportSource{Source: bytes.NewReader(rootfs), SourceName: "-"}, ref,
		client.ImageImportOptions{
			Message: "busybox-static root file system",
			Changes: []string{
				"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				`CMD ["sh"]`,
				"LABEL " + rootfsLabel + "=" + hex.EncodeToString(sum[:]),
			},
		})
	if err != nil {
		return fmt.Errorf("importing %s: %w", ref, err)
	}
	defer rc.Close()
	// Failures come in the JSON message stream, not as an HTTP status.
	dec := json.NewDecoder(rc)
	for {
		var m struct {
			ErrorDetail *struct{ Message string } `json:"errorDetail"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("importing %s: %w", ref, err)
		}
		if m.ErrorDetail != nil {
			return fmt.Errorf("importing %s: %s", ref, m.ErrorDetail.Message)
		}
	}
}

// RemoveLabelled removes the containers, images and volumes that carry a
// label (label=value, as a filter takes it), and only those: what a test
// made, on an engine others share. Images go children before parents.
// It returns the first failure, having tried the rest.
func RemoveLabelled(ctx context.Context, cli *client.Client, label string) error {
	mine := make(client.Filters).Add("label", label)
	var first error
	note := func(what string, err error) {
		if err != nil && first == nil && !cerrdefs.IsNotFound(err) {
			first = fmt.Errorf("removing %s labelled %s: %w", what, label, err)
		}
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: mine})
	note("containers", err)
	if err == nil {
		for _, c := range cs.Items {
			_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			note("container "+c.ID, err)
		}
	}
	for round := 0; ; round++ {
		imgs, err := cli.ImageList(ctx, client.ImageListOptions{All: true, Filters: mine})
		note("images", err)
		if err != nil || len(imgs.Items) == 0 {
			break
		}
		if round == 20 {
			note("images", fmt.Errorf("%d are left after 20 rounds", len(imgs.Items)))
			break
		}
		parents := map[string]bool{}
		for _, im := range imgs.Items {
			parents[im.ParentID] = true
		}
		for _, im := range imgs.Items {
			if !parents[im.ID] {
				_, err := cli.ImageRemove(ctx, im.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true})
				note("image "+im.ID, err)
			}
		}
	}
	vols, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: mine})
	note("volumes", err)
	if err == nil {
		for _, v := range vols.Items {
			_, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true})
			note("volume "+v.Name, err)
		}
	}
	return first
}

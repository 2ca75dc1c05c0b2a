package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os/exec"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRootfsIsReproducible(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox binary (apt-get install busybox-static)")
	}
	a, err := Rootfs(busybox)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Rootfs(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || len(a) < 100<<10 {
		t.Fatalf("two root file systems of %d and %d bytes differ (or are too small for busybox)", len(a), len(b))
	}
}

func TestBaseImageExists(t *testing.T) {
	cli := Engine(t)
	ref := Base(t, cli)
	img, err := cli.ImageInspect(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if img.Config == nil || len(img.Config.Cmd) == 0 {
		t.Fatalf("%s has no command: %+v", ref, img.Config)
	}
	// An import under another name carries the label of its rootfs.
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox binary")
	}
	rootfs, err := Rootfs(busybox)
	if err != nil {
		t.Fatal(err)
	}
	const other = "ocluster-go-test/dockertest:latest"
	if err := Import(context.Background(), cli, rootfs, other); err != nil {
		t.Fatal(err)
	}
	defer cli.ImageRemove(context.Background(), other, client.ImageRemoveOptions{Force: true})
	img, err = cli.ImageInspect(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if img.Config.Labels[rootfsLabel] == "" {
		t.Fatalf("the imported image lacks its %s label: %v", rootfsLabel, img.Config.Labels)
	}
}

// An image of the base's name that the tests did not make (a partial
// one, say) is not taken for theirs: it is replaced.
func TestBaseReplacesAnImageItDidNotMake(t *testing.T) {
	cli := Engine(t)
	ctx := context.Background()
	var nonce [6]byte
	rand.Read(nonce[:])
	ref := "ocluster-go-test/dockertest-impostor-" + hex.EncodeToString(nonce[:]) + ":latest"
	var empty bytes.Buffer
	require.NoError(t, tar.NewWriter(&empty).Close())
	rc, err := cli.ImageImport(ctx, client.ImageImportSource{Source: &empty, SourceName: "-"}, ref, client.ImageImportOptions{})
	require.NoError(t, err)
	io.Copy(io.Discard, rc)
	rc.Close()
	t.Cleanup(func() {
		cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	before, err := cli.ImageInspect(ctx, ref)
	require.NoError(t, err, "the impostor was not made")

	ensure(t, cli, ref)
	after, err := cli.ImageInspect(ctx, ref)
	require.NoError(t, err)
	assert.NotEqual(t, before.ID, after.ID, "the impostor was kept")
	assert.NotEmpty(t, after.Config.Labels[rootfsLabel])
	if _, err := cli.ImageRemove(ctx, before.ID, client.ImageRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		t.Logf("removing the impostor %s: %v", before.ID, err)
	}
}

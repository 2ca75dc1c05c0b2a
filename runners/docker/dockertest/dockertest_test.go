package dockertest

import (
	"bytes"
	"context"
	"os/exec"
	"testing"

	"github.com/moby/moby/client"
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

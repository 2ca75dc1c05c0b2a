package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/runners/obuilder"
)

// The OBuilder health check builds on the image --obuilder-healthcheck-image
// names, busybox:latest unless told: an engine that cannot pull has the
// user's own image.
func TestHealthCheckImageFlagReachesTheRunner(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "busybox:latest"},
		{[]string{"--obuilder-healthcheck-image", "registry.example.org/base:1"}, "registry.example.org/base:1"},
	} {
		var o options
		require.NoError(t, newCommand(&o).ParseFlags(tc.args))
		store, err := obuilder.ParseStore("docker:" + t.TempDir())
		require.NoError(t, err)
		assert.Equal(t, tc.want, o.obuilderConfig(nil, store, nil).HealthCheckImage, "%v", tc.args)
	}
}

// --rsync-mode reaches an rsync: store, as OBuilder's, and nothing else.
func TestRsyncModeFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--obuilder-store", "rsync:/s"}, ""},
		{[]string{"--obuilder-store", "rsync:/s", "--rsync-mode", "hardlink"}, ""},
		{[]string{"--obuilder-store", "rsync:/s", "--rsync-mode", "copy"}, ""},
		{[]string{"--obuilder-store", "rsync:/s", "--rsync-mode", "reflink"}, "give copy or hardlink"},
		{[]string{"--obuilder-store", "docker:/s", "--rsync-mode", "hardlink"}, "applies to rsync: OBuilder stores only"},
		{[]string{"--rsync-mode", "copy"}, "applies to rsync: OBuilder stores only"},
	} {
		var o options
		require.NoError(t, newCommand(&o).ParseFlags(tc.args))
		err := o.checkRsyncMode()
		if tc.err == "" {
			require.NoError(t, err, "%v", tc.args)
			store, err := obuilder.ParseStore(o.obuilderStore)
			require.NoError(t, err)
			assert.Equal(t, o.rsyncMode, o.obuilderConfig(nil, store, nil).RsyncMode)
			continue
		}
		require.ErrorContains(t, err, tc.err, "%v", tc.args)
	}
}

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

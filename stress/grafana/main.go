// Command gpx_ocluster-sim is the backend of the Grafana data source that
// serves ocluster-sim's results and traces (see package source). Grafana
// starts it and talks to it over its gRPC plugin protocol; build it with
// build.sh.
package main

import (
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"

	"github.com/ocluster-go/ocluster/stress/grafana/source"
)

func main() {
	if err := datasource.Manage(source.PluginID, source.NewDataSource, datasource.ManageOpts{}); err != nil {
		backend.Logger.Error("serving the data source failed", "error", err)
		os.Exit(1)
	}
}

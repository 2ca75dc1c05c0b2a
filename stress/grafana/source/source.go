package source

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/ocluster-go/ocluster/stress/grafana/results"
)

// PluginID is the plugin's id in plugin.json.
const PluginID = "ocluster-sim-datasource"

// Epoch is where t = 0 of a simulated run lies on Grafana's time axis.
var Epoch = time.Unix(0, 0).UTC()

// Settings are the data source's jsonData.
type Settings struct {
	// Path is the folder of results and traces, as the Grafana server
	// sees it.
	Path string `json:"path"`
}

// DataSource is one configured data source.
type DataSource struct {
	folder *results.Folder
}

// NewDataSource makes a data source from its settings; Grafana makes a
// new one whenever they change.
func NewDataSource(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	var cfg Settings
	if len(s.JSONData) > 0 {
		if err := json.Unmarshal(s.JSONData, &cfg); err != nil {
			return nil, fmt.Errorf("data source settings (jsonData): %w", err)
		}
	}
	return &DataSource{folder: results.NewFolder(cfg.Path)}, nil
}

// Query types.
const (
	queryRuns       = "runs"
	queryStats      = "stats"
	querySeries     = "series"
	queryWaitCDF    = "wait_cdf"
	queryComparison = "comparison"
)

var queryTypes = []string{queryRuns, queryStats, querySeries, queryWaitCDF, queryComparison}

// Query is the JSON of one query; see the package documentation.
type Query struct {
	Run      string `json:"run"`
	Metric   string `json:"metric"`
	Pool     string `json:"pool"`
	Client   string `json:"client"`
	Priority string `json:"priority"`
	Policy   string `json:"policy"`
	Kind     string `json:"kind"`
}

// QueryData answers each query from one scan of the folder.
func (d *DataSource) QueryData(_ context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp := backend.NewQueryDataResponse()
	cat, scanErr := d.folder.Scan()
	for _, q := range req.Queries {
		if scanErr != nil {
			resp.Responses[q.RefID] = failed(scanErr)
			continue
		}
		frames, err := answer(cat, q)
		if err != nil {
			resp.Responses[q.RefID] = failed(err)
			continue
		}
		resp.Responses[q.RefID] = backend.DataResponse{Frames: frames}
	}
	return resp, nil
}

// failed is the response to a query that cannot be answered: the folder or
// the query is wrong, not the plugin.
func failed(err error) backend.DataResponse {
	return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, err.Error())
}

func answer(cat *results.Catalog, dq backend.DataQuery) (data.Frames, error) {
	var q Query
	if len(dq.JSON) > 0 {
		if err := json.Unmarshal(dq.JSON, &q); err != nil {
			return nil, fmt.Errorf("query JSON: %w", err)
		}
	}
	switch dq.QueryType {
	case queryRuns:
		return runsFrame(cat, q)
	case queryStats:
		return statsFrame(cat, q)
	case querySeries:
		return seriesFrames(cat, q)
	case queryWaitCDF:
		return waitCDFFrames(cat, q)
	case queryComparison:
		return comparisonFrame(cat, q)
	case "":
		return nil, fmt.Errorf("no query type set: choose one of %s", strings.Join(queryTypes, ", "))
	}
	return nil, fmt.Errorf("unknown query type %q: choose one of %s", dq.QueryType, strings.Join(queryTypes, ", "))
}

// unit is Grafana's unit of a metric, from its name.
func unit(metric string) string {
	switch {
	case strings.HasSuffix(metric, "_s"):
		return "s"
	case metric == "utilisation" || metric == "cache_hit_rate":
		return "percentunit"
	}
	return ""
}

// selectRuns returns the named run, or with no name every run of the
// kind (and of the policy, when set).
func selectRuns(cat *results.Catalog, q Query, kind string) ([]*results.Run, error) {
	if q.Run != "" {
		r, err := cat.Run(q.Run)
		if err != nil {
			return nil, err
		}
		if kind != "" && r.Kind != kind {
			return nil, fmt.Errorf("run %s is a %s; this query reads %ss (replay a trace with `ocluster-sim replay --trace FILE --out DIR` to get a result)", r.Name, r.Kind, kind)
		}
		return []*results.Run{r}, nil
	}
	var runs []*results.Run
	for _, r := range cat.Runs {
		if (kind == "" || r.Kind == kind) && (q.Policy == "" || r.Policy == q.Policy) {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		what := "runs"
		if kind != "" {
			what = kind + " runs"
		}
		if q.Policy != "" {
			what += " of policy " + q.Policy
		}
		return nil, fmt.Errorf("%s holds no %s", cat.Root, what)
	}
	return runs, nil
}

// eachRun applies f to the runs selected. With a run named, its error is
// the query's; over all runs, those that f fails on are left out, and the
// query fails only when all do.
func eachRun(runs []*results.Run, named bool, f func(*results.Run) error) error {
	var first error
	ok := 0
	for _, r := range runs {
		err := f(r)
		if err == nil {
			ok++
			continue
		}
		if named {
			return err
		}
		if first == nil {
			first = fmt.Errorf("no run answers (the first, %s: %w)", r.Name, err)
		}
	}
	if ok == 0 {
		return first
	}
	return nil
}

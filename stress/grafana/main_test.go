package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/stress/grafana/source"
)

// binary is the plugin's executable, built once by TestMain under the name
// Grafana looks for.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gpx")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gpx_ocluster-sim_"+runtime.GOOS+"_"+runtime.GOARCH)
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	code := 1
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the plugin:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects the plugin's logs, written from go-plugin's
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs the plugin as Grafana does: go-plugin's client sets the magic
// cookie in the environment, reads the handshake line from the plugin's
// stdout and connects over gRPC, with the SDK's plugin set of protocol 2.
func start(t *testing.T) (pluginv2.DataClient, pluginv2.DiagnosticsClient) {
	t.Helper()
	var logs lockedBuffer
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  grpcplugin.ProtocolVersion,
			MagicCookieKey:   grpcplugin.MagicCookieKey,
			MagicCookieValue: grpcplugin.MagicCookieValue,
		},
		VersionedPlugins: map[int]plugin.PluginSet{grpcplugin.ProtocolVersion: {
			"data":        &grpcplugin.DataGRPCPlugin{},
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
		}},
		Cmd:              exec.Command(binary),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: &logs, Level: hclog.Debug}),
	})
	t.Cleanup(func() {
		client.Kill()
		if t.Failed() {
			t.Logf("the plugin's log:\n%s", logs.String())
		}
	})
	rpc, err := client.Client()
	require.NoError(t, err)
	d, err := rpc.Dispense("data")
	require.NoError(t, err)
	h, err := rpc.Dispense("diagnostics")
	require.NoError(t, err)
	return d.(pluginv2.DataClient), h.(pluginv2.DiagnosticsClient)
}

// pluginContext is what Grafana sends with every call: the data source's
// settings, with the folder in jsonData.
func pluginContext(t *testing.T, path string) *pluginv2.PluginContext {
	settings, err := json.Marshal(source.Settings{Path: path})
	require.NoError(t, err)
	return &pluginv2.PluginContext{
		OrgId:    1,
		PluginId: source.PluginID,
		DataSourceInstanceSettings: &pluginv2.DataSourceInstanceSettings{
			Id: 1, Uid: "sim", Name: "simulations", JsonData: settings, LastUpdatedMS: time.Now().UnixMilli(),
		},
	}
}

// dataQuery is a query as Grafana sends it, over the first two hours of
// 1970: where simulated runs lie.
func dataQuery(refID, queryType, query string) *pluginv2.DataQuery {
	return &pluginv2.DataQuery{RefId: refID, QueryType: queryType, Json: []byte(query),
		TimeRange: &pluginv2.TimeRange{FromEpochMS: 0, ToEpochMS: 2 * 3600 * 1000}, MaxDataPoints: 1000, IntervalMS: 1000}
}

func fixtureRun(t *testing.T) (folder string, result map[string]any) {
	folder, err := filepath.Abs("testdata/folder")
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(folder, "two-pools", "result.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &result))
	return folder, result
}

func TestQueryOverGRPC(t *testing.T) {
	dataClient, _ := start(t)
	folder, result := fixtureRun(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := dataClient.QueryData(ctx, &pluginv2.QueryDataRequest{
		PluginContext: pluginContext(t, folder),
		Queries: []*pluginv2.DataQuery{
			dataQuery("queue", "series", `{"run":"two-pools","metric":"queued"}`),
			dataQuery("p95", "stats", `{"run":"two-pools","metric":"wait_p95_s"}`),
			dataQuery("missing", "stats", `{"run":"nope","metric":"wait_p95_s"}`),
		},
	})
	require.NoError(t, err)

	queue := resp.Responses["queue"]
	require.Empty(t, queue.Error)
	frames, err := data.UnmarshalArrowFrames(queue.Frames)
	require.NoError(t, err)
	require.Len(t, frames, 1)
	f := frames[0]
	assert.Equal(t, "two-pools", f.Name)
	require.Len(t, f.Fields, 2)
	assert.Equal(t, "time", f.Fields[0].Name)
	assert.Equal(t, "queued", f.Fields[1].Name)
	assert.Equal(t, data.Labels{"run": "two-pools"}, f.Fields[1].Labels)
	series := result["series"].(map[string]any)
	ts, queued := series["t_s"].([]any), series["queued"].([]any)
	require.Equal(t, len(ts), f.Rows())
	for i := range ts {
		// Virtual time t seconds lies at the Unix epoch plus t.
		assert.Equal(t, time.Unix(0, 0).Add(time.Duration(ts[i].(float64))*time.Second).UTC(), f.Fields[0].At(i).(time.Time).UTC())
		assert.Equal(t, queued[i], f.Fields[1].At(i))
	}

	p95 := resp.Responses["p95"]
	require.Empty(t, p95.Error)
	frames, err = data.UnmarshalArrowFrames(p95.Frames)
	require.NoError(t, err)
	field, _ := frames[0].FieldByName("wait_p95_s")
	require.NotNil(t, field)
	assert.Equal(t, result["wait_p95_s"], field.At(0))
	assert.Equal(t, "s", field.Config.Unit)

	missing := resp.Responses["missing"]
	assert.Empty(t, missing.Frames)
	assert.Contains(t, missing.Error, `run "nope" not found in `+folder+"; it holds compare/ocluster/seed-1, compare/ocluster/seed-2, traces/two-pools.trace, two-pools")
	assert.EqualValues(t, 400, missing.Status)
}

func TestHealthOverGRPC(t *testing.T) {
	_, diagnostics := start(t)
	folder, _ := fixtureRun(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	res, err := diagnostics.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: pluginContext(t, folder)})
	require.NoError(t, err)
	assert.Equal(t, pluginv2.CheckHealthResponse_OK, res.Status)
	assert.Equal(t, folder+": 3 runs, 1 comparison and 1 trace", res.Message)

	gone := filepath.Join(t.TempDir(), "gone")
	res, err = diagnostics.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: pluginContext(t, gone)})
	require.NoError(t, err)
	assert.Equal(t, pluginv2.CheckHealthResponse_ERROR, res.Status)
	assert.Contains(t, res.Message, "folder "+gone+" does not exist")
}

// TestRefusesToRunAlone checks the handshake's other side: without
// Grafana's magic cookie the binary says what it is and exits.
func TestRefusesToRunAlone(t *testing.T) {
	cmd := exec.Command(binary)
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "This binary is a plugin")
}

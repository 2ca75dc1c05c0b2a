package source

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDashboardQueries runs every query of the simulated-runs dashboard,
// its variables' included, against the fixtures, so that a change of the
// query model cannot leave the dashboard behind.
func TestDashboardQueries(t *testing.T) {
	b, err := os.ReadFile("../dashboards/simulated-runs.json")
	require.NoError(t, err)
	var dash struct {
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string            `json:"title"`
			Targets []json.RawMessage `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	d := newSource(t, fixtures)
	// The values the variables take on the fixtures.
	values := strings.NewReplacer("$run", "two-pools", "$comparison", "compare")
	run := func(what string, raw json.RawMessage) {
		var head struct {
			QueryType string `json:"queryType"`
		}
		require.NoError(t, json.Unmarshal(raw, &head))
		var q Query
		require.NoError(t, json.Unmarshal([]byte(values.Replace(string(raw))), &q))
		r := query(t, d, head.QueryType, q)
		if assert.NoError(t, r.Error, what) {
			assert.NotEmpty(t, r.Frames, what)
		}
	}
	for _, v := range dash.Templating.List {
		run("variable "+v.Name, v.Query)
	}
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, target := range p.Targets {
			run("panel "+p.Title, target)
		}
	}
}

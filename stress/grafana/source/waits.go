package source

import (
	"fmt"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/ocluster-go/ocluster/stress/grafana/results"
)

// waitCDFFrames are the waits' percentiles of a client of each run
// selected, or of each client when none is set: one frame per client.
func waitCDFFrames(cat *results.Catalog, q Query) (data.Frames, error) {
	runs, err := selectRuns(cat, q, results.KindResult)
	if err != nil {
		return nil, err
	}
	var frames data.Frames
	err = eachRun(runs, q.Run != "", func(r *results.Run) error {
		clients := r.Result.Clients
		if q.Client != "" {
			g, err := r.Result.Group(q.Pool, q.Client)
			if err != nil {
				return err
			}
			clients = []results.Group{*g}
		}
		before := len(frames)
		for _, g := range clients {
			if len(g.WaitQuantiles) == 0 || (q.Pool != "" && g.Pool != q.Pool) {
				continue
			}
			percentile := make([]float64, len(g.WaitQuantiles))
			for i := range percentile {
				percentile[i] = float64(i) * 100 / float64(len(percentile)-1)
			}
			wait := data.NewField("wait_s", data.Labels{"run": r.Name, "pool": g.Pool, "client": g.Client}, g.WaitQuantiles)
			wait.Config = &data.FieldConfig{Unit: "s"}
			frames = append(frames, data.NewFrame(r.Name+" "+g.Pool+"/"+g.Client,
				data.NewField("percentile", nil, percentile), wait))
		}
		if len(frames) == before {
			return fmt.Errorf("no client of run %s%s has waits (did none of its jobs start?)", r.Name, inPool(q.Pool))
		}
		return nil
	})
	return frames, err
}

func inPool(pool string) string {
	if pool == "" {
		return ""
	}
	return " in pool " + pool
}

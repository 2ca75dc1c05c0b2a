package source

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/ocluster-go/ocluster/stress/grafana/results"
)

// healthDetails are the health check's details, for programs.
type healthDetails struct {
	Path        string          `json:"path"`
	Results     int             `json:"results"`
	Comparisons int             `json:"comparisons"`
	Traces      int             `json:"traces"`
	Problems    []healthProblem `json:"problems,omitempty"`
}

type healthProblem struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// CheckHealth reports the folder's state: what it holds, and every file
// that looked like a result, comparison or trace but did not read.
func (d *DataSource) CheckHealth(_ context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	cat, err := d.folder.Scan()
	if err != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: err.Error()}, nil
	}
	det := healthDetails{Path: cat.Root, Comparisons: len(cat.Comparisons)}
	for _, r := range cat.Runs {
		switch r.Kind {
		case results.KindResult:
			det.Results++
		case results.KindTrace:
			det.Traces++
		}
	}
	msg := fmt.Sprintf("%s: %s, %s and %s", cat.Root, plural(det.Results, "run"), plural(det.Comparisons, "comparison"), plural(det.Traces, "trace"))
	status := backend.HealthStatusOk
	if len(cat.Problems) > 0 {
		status = backend.HealthStatusError
		var lines []string
		for _, p := range cat.Problems {
			det.Problems = append(det.Problems, healthProblem{File: p.File, Error: p.Err.Error()})
			lines = append(lines, p.Error())
		}
		msg += fmt.Sprintf("; %s did not read (fix or remove them): %s", plural(len(cat.Problems), "file"), strings.Join(lines, "; "))
	} else if det.Results+det.Comparisons+det.Traces == 0 {
		msg += fmt.Sprintf(" yet: write some with `ocluster-sim run --out %s/NAME` or `--trace %s/NAME.trace`", cat.Root, cat.Root)
	}
	details, err := json.Marshal(det)
	if err != nil {
		return nil, err
	}
	return &backend.CheckHealthResult{Status: status, Message: msg, JSONDetails: details}, nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

package report

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/trace"
)

// fitted is a fit of a recorded run of the small scenario.
func fitted(t *testing.T) *sim.Fitted {
	t.Helper()
	sc, err := sim.Open("small")
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := trace.NewWriter(&buf, sim.TraceHeader(sc, "", 1))
	require.NoError(t, err)
	_, err = sim.Run(sc, sim.Options{Seed: 1, Trace: w})
	require.NoError(t, err)
	require.NoError(t, w.Flush())
	h, events, err := trace.ReadAll(&buf)
	require.NoError(t, err)
	f, err := sim.Fit("small-fit", []sim.FitTrace{{Name: "small", Header: h, Events: events}})
	require.NoError(t, err)
	return f
}

func TestFitPageDrawsEachFittedDistribution(t *testing.T) {
	f := fitted(t)
	var b bytes.Buffer
	require.NoError(t, FitHTML(&b, f))
	pg := parsePage(t, b.Bytes())
	var ids []string
	for i, c := range f.Choices {
		if len(c.Observed) > 0 {
			ids = append(ids, "plot-fit-"+strconv.Itoa(i))
		}
	}
	require.NotEmpty(t, ids)
	checkPlots(t, pg, ids, func(string) bool { return true })

	var text bytes.Buffer
	require.NoError(t, FitText(&text, f))
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	assert.Len(t, lines, 1+len(f.Choices), "a title, then a line per choice")
	for _, c := range f.Choices {
		if !math.IsNaN(c.KS) {
			assert.Contains(t, text.String(), c.Subject+": "+c.Model)
		}
	}
}

package results

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const header = `{"format":"ocluster-trace","version":1,"source":"ocluster-scheduler","pools":["p"],"policy":"ocluster"}` + "\n"

func TestReadTraceRefuses(t *testing.T) {
	for _, tc := range []struct{ name, text, err string }{
		{"other format", `{"format":"swf","version":1,"pools":["p"]}` + "\n", `line 1: not an ocluster-trace trace (format "swf")`},
		{"newer version", `{"format":"ocluster-trace","version":3,"pools":["p"]}` + "\n", "line 1: trace version 3 is not supported (this plugin reads version 2): update the plugin"},
		{"no pools", `{"format":"ocluster-trace","version":1}` + "\n", "line 1: the header lists no pools"},
		{"unknown event", header + `{"t":1,"event":"explode","pool":"p"}` + "\n", `line 2: unknown event "explode"`},
		{"backwards", header + `{"t":5,"event":"cancel","pool":"p","job":1}` + "\n" + `{"t":4,"event":"cancel","pool":"p","job":2}` + "\n", "line 3: time goes backwards (4 after 5)"},
		{"unlisted pool", header + `{"t":1,"event":"cancel","pool":"q","job":1}` + "\n", `line 2: pool "q" is not listed in the header (p)`},
		{"missing field", header + `{"t":1,"event":"submit","pool":"p","job":1}` + "\n", "line 2: submit event without client"},
		{"negative time", header + `{"t":-1,"event":"cancel","pool":"p","job":1}` + "\n", "line 2: t must be a finite number of seconds, 0 or more, got -1"},
		{"bad line", header + "{\n" + `{"t":1,"event":"cancel","pool":"p","job":1}` + "\n", "line 2: unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readTrace(strings.NewReader(tc.text))
			assert.EqualError(t, err, tc.err)
		})
	}
}

// TestReadTraceBeingWritten reads a trace whose recorder is mid-line: the
// cut line is left out, as the simulator's reader does.
func TestReadTraceBeingWritten(t *testing.T) {
	text := header + `{"t":1,"event":"submit","pool":"p","job":1,"client":"c"}` + "\n" + `{"t":2,"event":"sta`
	tr, err := readTrace(strings.NewReader(text))
	require.NoError(t, err)
	assert.Len(t, tr.Events, 1)

	// A complete last line without its newline is an event.
	tr, err = readTrace(strings.NewReader(strings.TrimSuffix(text, "\n"+`{"t":2,"event":"sta`)))
	require.NoError(t, err)
	assert.Len(t, tr.Events, 1)

	tr, err = readTrace(strings.NewReader(strings.TrimSuffix(header, "\n")))
	require.NoError(t, err)
	assert.Empty(t, tr.Events)
}

// A version 2 trace may carry prunes, and ends with its end record once
// its recorder closed it.
func TestReadTraceVersion2(t *testing.T) {
	text := strings.Replace(header, `"version":1`, `"version":2`, 1) +
		`{"t":0,"event":"register","pool":"p","worker":"w","capacity":1}` + "\n" +
		`{"t":1,"event":"prune","pool":"p","worker":"w"}` + "\n" +
		`{"event":"end"}` + "\n"
	tr, err := readTrace(strings.NewReader(text))
	require.NoError(t, err)
	assert.Len(t, tr.Events, 2)
}

func TestTraceLevels(t *testing.T) {
	text := `{"format":"ocluster-trace","version":1,"origin":"2026-11-27T08:00:00Z","source":"ocluster-scheduler","pools":["p"]}
{"t":0,"event":"register","pool":"p","worker":"w","capacity":2}
{"t":1,"event":"submit","pool":"p","job":1,"client":"a"}
{"t":1,"event":"start","pool":"p","job":1,"worker":"w"}
{"t":2,"event":"submit","pool":"p","job":2,"client":"b"}
{"t":3,"event":"submit","pool":"p","job":3,"client":"b"}
{"t":3,"event":"start","pool":"p","job":2,"worker":"w"}
{"t":4,"event":"cancel","pool":"p","job":3}
{"t":5,"event":"finish","pool":"p","job":1,"worker":"w","outcome":"ok","duration":4}
{"t":5,"event":"finish","pool":"p","job":9,"worker":"w","outcome":"ok","duration":99}
{"t":6,"event":"release","pool":"p","worker":"w"}
`
	tr, err := readTrace(strings.NewReader(text))
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), tr.Header.Origin)
	for _, tc := range []struct {
		metric, client string
		t, v           []float64
	}{
		// Job 1 is queued and started at one instant, and at t=3 one job
		// joins the queue as another leaves it: no steps.
		{"queued", "", []float64{0, 2, 4}, []float64{0, 1, 0}},
		{"queued", "b", []float64{0, 2, 4}, []float64{0, 1, 0}},
		// Job 9 started before the recording: its finish changes nothing.
		{"running", "", []float64{0, 1, 3, 5}, []float64{0, 1, 2, 1}},
		{"running", "a", []float64{0, 1, 5}, []float64{0, 1, 0}},
		{"capacity", "", []float64{0, 6}, []float64{2, 0}},
		{"wait_s", "b", []float64{3}, []float64{1}},
	} {
		times, values, err := tr.Series(tc.metric, "", tc.client)
		require.NoError(t, err)
		assert.Equal(t, tc.t, times, "%s %s", tc.metric, tc.client)
		assert.Equal(t, tc.v, values, "%s %s", tc.metric, tc.client)
	}
	times, values, err := tr.Series("utilisation", "", "")
	require.NoError(t, err)
	assert.Equal(t, []float64{0, 1, 3, 5, 6}, times)
	assert.Equal(t, []float64{0, 0.5, 1, 0.5}, values[:4])
	assert.True(t, math.IsNaN(values[4]))
}

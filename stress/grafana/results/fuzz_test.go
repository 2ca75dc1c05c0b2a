package results

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func FuzzReadTrace(f *testing.F) {
	b, err := os.ReadFile(fixtures + "/traces/two-pools.trace")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b[:4000]))
	f.Add(header + `{"t":1,"event":"submit","pool":"p","job":1,"client":"c"}`)
	f.Fuzz(func(t *testing.T, text string) {
		tr, err := readTrace(strings.NewReader(text))
		if err != nil {
			return
		}
		for _, m := range TraceMetrics {
			tr.Series(m, "", "")
		}
	})
}

func FuzzResult(f *testing.F) {
	b, err := os.ReadFile(fixtures + "/two-pools/result.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"series":{"t_s":[0,1],"queued":[1,2],"clients":[{"pool":"p","client":"c","queued":[0,1]}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Result
		if json.Unmarshal(b, &r) != nil {
			return
		}
		for _, name := range r.Series.SeriesNames() {
			r.Series.Get(name)
		}
	})
}

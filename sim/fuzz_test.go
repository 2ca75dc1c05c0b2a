package sim

import "testing"

// FuzzLoadScenario feeds arbitrary text to the scenario loader: it errors
// or returns a scenario that runs (briefly) without panicking.
func FuzzLoadScenario(f *testing.F) {
	for _, name := range Builtins() {
		src, _ := BuiltinSource(name)
		f.Add(string(src))
	}
	f.Add("duration: 1m\npools: [{name: p, workers: [{name: w, capacity: 1}], clients: [{name: c, arrivals: {process: poisson, mean: 1s}}]}]")
	f.Fuzz(func(t *testing.T, text string) {
		sc, err := LoadScenario("fuzz.yaml", []byte(text))
		if err != nil {
			return
		}
		// Keep each run short: the fuzzer is after panics, not workloads.
		sc.Duration = min(sc.Duration, 600)
		sc.Drain = 60
		sc.Sample = max(sc.Sample, 1)
		for i := range sc.Pools {
			for j := range sc.Pools[i].Workers {
				sc.Pools[i].Workers[j].Count = min(sc.Pools[i].Workers[j].Count, 3)
			}
			for j := range sc.Pools[i].Clients {
				for k := range sc.Pools[i].Clients[j].Streams {
					st := &sc.Pools[i].Clients[j].Streams[k]
					if st.Jobs == 0 || st.Jobs > 200 {
						st.Jobs = 200
					}
				}
			}
		}
		if _, err := Run(sc, Options{Seed: 1, Check: true}); err != nil {
			t.Fatalf("a valid scenario failed to run: %v", err)
		}
	})
}

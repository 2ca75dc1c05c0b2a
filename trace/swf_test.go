package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
)

// counts is what an import kept and dropped, without the words for the
// user.
func kept(st SWFStats) SWFStats {
	st.Mapping = ""
	return st
}

// swfLine builds one SWF job line from the fields the import reads; the
// unused ones get plausible values.
func swfLine(job, submit, wait, run, status, user, exe, queue string) string {
	return strings.Join([]string{
		job, submit, wait, run,
		"4", "-1", "-1", "4", "60", "-1",
		status, user, "1", exe, queue, "1", "-1", "-1",
	}, " ")
}

func readSample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/sample.swf")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// jobEvents returns the events naming job, in order.
func jobEvents(events []Event, job uint64) []Event {
	var out []Event
	for _, e := range events {
		if e.Job == job {
			out = append(out, e)
		}
	}
	return out
}

func TestReadSWFSample(t *testing.T) {
	data := readSample(t)
	h, events, st, err := ReadSWF(bytes.NewReader(data), SWFOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkSWFTrace(t, h, events, st)

	wantHeader := Header{
		Format:  FormatName,
		Version: Version,
		Origin:  time.Date(2005, 6, 28, 23, 8, 20, 0, time.UTC), // 1120000000 + 100
		Source:  "swf",
		Pools:   []string{"queue-1", "queue-2"},
	}
	if !h.Origin.Equal(wantHeader.Origin) || h.Origin.Location() != time.UTC {
		t.Errorf("origin %v, want %v in UTC", h.Origin, wantHeader.Origin)
	}
	h.Origin = wantHeader.Origin
	if !reflect.DeepEqual(h, wantHeader) {
		t.Errorf("header\n got %+v\nwant %+v", h, wantHeader)
	}
	assert.Equal(t, SWFStats{Jobs: 29, Skipped: 1, NoRuntime: 1}, kept(st))

	counts := map[Kind]int{}
	clients, hints := map[string]bool{}, map[string]bool{}
	for _, e := range events {
		counts[e.Kind]++
		if e.Kind == Submit {
			clients[e.Client] = true
			if e.Hint != "" {
				hints[e.Hint] = true
			}
		}
	}
	wantCounts := map[Kind]int{Register: 2, Submit: 29, Start: 26, Finish: 26, Cancel: 2}
	if !reflect.DeepEqual(counts, wantCounts) {
		t.Errorf("event counts %v, want %v", counts, wantCounts)
	}
	if got, want := slices.Sorted(maps.Keys(clients)), []string{"user-1", "user-2", "user-3", "user-unknown"}; !slices.Equal(got, want) {
		t.Errorf("clients %v, want %v", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(hints)), []string{"exe-1", "exe-2", "exe-3", "exe-4"}; !slices.Equal(got, want) {
		t.Errorf("hints %v, want %v", got, want)
	}

	// The sample gives wait times, so its workers hold the most jobs it
	// runs at once (MaxProcs, 128, counts processors).
	wantRegister := []Event{
		{T: 0, Kind: Register, Pool: "queue-1", Worker: "swf", Capacity: 4},
		{T: 0, Kind: Register, Pool: "queue-2", Worker: "swf", Capacity: 2},
	}
	if !reflect.DeepEqual(events[:2], wantRegister) {
		t.Errorf("first events\n got %+v\nwant %+v", events[:2], wantRegister)
	}

	// Expected events of chosen jobs, worked out by hand from the sample
	// (the smallest submit time is 100, so t = SWF time - 100).
	q1, q2 := "queue-1", "queue-2"
	tests := []struct {
		job  uint64
		why  string
		want []Event
	}{
		{1, "ok, first submit", []Event{
			{T: 0, Kind: Submit, Pool: q1, Job: 1, Client: "user-1", Hint: "exe-1"},
			{T: 5, Kind: Start, Pool: q1, Job: 1, Worker: "swf"},
			{T: 65, Kind: Finish, Pool: q1, Job: 1, Worker: "swf", Outcome: OutcomeOK, Duration: 60},
		}},
		{4, "cancelled while queued", []Event{
			{T: 30, Kind: Submit, Pool: q2, Job: 4, Client: "user-3", Hint: "exe-3"},
			{T: 80, Kind: Cancel, Pool: q2, Job: 4},
		}},
		{6, "failed", []Event{
			{T: 50, Kind: Submit, Pool: q1, Job: 6, Client: "user-3", Hint: "exe-4"},
			{T: 70, Kind: Start, Pool: q1, Job: 6, Worker: "swf"},
			{T: 115, Kind: Finish, Pool: q1, Job: 6, Worker: "swf", Outcome: OutcomeFailed, Duration: 45},
		}},
		{7, "no executable: no hint", []Event{
			{T: 60, Kind: Submit, Pool: q1, Job: 7, Client: "user-1"},
			{T: 63, Kind: Start, Pool: q1, Job: 7, Worker: "swf"},
			{T: 153, Kind: Finish, Pool: q1, Job: 7, Worker: "swf", Outcome: OutcomeOK, Duration: 90},
		}},
		{9, "cancelled while running", []Event{
			{T: 100, Kind: Submit, Pool: q1, Job: 9, Client: "user-1", Hint: "exe-1"},
			{T: 110, Kind: Start, Pool: q1, Job: 9, Worker: "swf"},
			{T: 135, Kind: Finish, Pool: q1, Job: 9, Worker: "swf", Outcome: OutcomeCancelled, Duration: 25},
		}},
		{10, "zero wait, zero run", []Event{
			{T: 110, Kind: Submit, Pool: q2, Job: 10, Client: "user-3", Hint: "exe-3"},
			{T: 110, Kind: Start, Pool: q2, Job: 10, Worker: "swf"},
			{T: 110, Kind: Finish, Pool: q2, Job: 10, Worker: "swf", Outcome: OutcomeOK},
		}},
		{11, "decimal times", []Event{
			{T: 160.5, Kind: Submit, Pool: q2, Job: 11, Client: "user-2", Hint: "exe-4"},
			{T: 161.75, Kind: Start, Pool: q2, Job: 11, Worker: "swf"},
			{T: 172.5, Kind: Finish, Pool: q2, Job: 11, Worker: "swf", Outcome: OutcomeOK, Duration: 10.75},
		}},
		{13, "no submit time: skipped", nil},
		{16, "status 4 (last partial, failed) counts as ok", []Event{
			{T: 240, Kind: Submit, Pool: q2, Job: 16, Client: "user-1", Hint: "exe-4"},
			{T: 245, Kind: Start, Pool: q2, Job: 16, Worker: "swf"},
			{T: 255, Kind: Finish, Pool: q2, Job: 16, Worker: "swf", Outcome: OutcomeOK, Duration: 10},
		}},
		{17, "no run time: submit only", []Event{
			{T: 250, Kind: Submit, Pool: q1, Job: 17, Client: "user-2", Hint: "exe-2"},
		}},
		{22, "cancelled, no wait time: cancel at submit", []Event{
			{T: 310, Kind: Submit, Pool: q2, Job: 22, Client: "user-2", Hint: "exe-2"},
			{T: 310, Kind: Cancel, Pool: q2, Job: 22},
		}},
		{25, "unknown user", []Event{
			{T: 340, Kind: Submit, Pool: q1, Job: 25, Client: "user-unknown", Hint: "exe-4"},
			{T: 347, Kind: Start, Pool: q1, Job: 25, Worker: "swf"},
			{T: 417, Kind: Finish, Pool: q1, Job: 25, Worker: "swf", Outcome: OutcomeOK, Duration: 70},
		}},
	}
	for _, tt := range tests {
		if got := jobEvents(events, tt.job); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("job %d (%s):\n got %+v\nwant %+v", tt.job, tt.why, got, tt.want)
		}
	}
}

func TestReadSWFRoundTrip(t *testing.T) {
	h, events, _, err := ReadSWF(bytes.NewReader(readSample(t)), SWFOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := w.Write(e); err != nil {
			t.Fatalf("write %+v: %v", e, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	h2, events2, err := ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !h2.Origin.Equal(h.Origin) {
		t.Errorf("origin read back as %v, want %v", h2.Origin, h.Origin)
	}
	h2.Origin = h.Origin
	if !reflect.DeepEqual(h2, h) {
		t.Errorf("header read back as %+v, want %+v", h2, h)
	}
	if !reflect.DeepEqual(events2, events) {
		t.Errorf("events differ after the round trip")
	}
}

// TestReadSWFMapping checks the mapping of one job line at a time.
func TestReadSWFMapping(t *testing.T) {
	const p = "queue-3"
	submit := func(job uint64) Event {
		return Event{T: 0, Kind: Submit, Pool: p, Job: job, Client: "user-2", Hint: "exe-5"}
	}
	start := func(job uint64, at float64) Event {
		return Event{T: at, Kind: Start, Pool: p, Job: job, Worker: "swf"}
	}
	finish := func(job uint64, at float64, outcome string, d float64) Event {
		return Event{T: at, Kind: Finish, Pool: p, Job: job, Worker: "swf", Outcome: outcome, Duration: d}
	}
	cancel := func(job uint64, at float64) Event { return Event{T: at, Kind: Cancel, Pool: p, Job: job} }
	// planned is a submit that carries its run time, for want of a wait
	// time to place the run.
	planned := func(job uint64, run float64, outcome string) Event {
		e := submit(job)
		e.Planned, e.Outcome = run, outcome
		return e
	}
	tests := []struct {
		name      string
		line      string
		opts      SWFOptions
		want      []Event // after the register event
		noRuntime int
		noWait    int
	}{
		{"ok", swfLine("7", "1000", "10", "50", "1", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7), start(7, 10), finish(7, 60, OutcomeOK, 50)}, 0, 0},
		{"failed", swfLine("7", "1000", "10", "50", "0", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7), start(7, 10), finish(7, 60, OutcomeFailed, 50)}, 0, 0},
		{"partial (2) is ok", swfLine("7", "1000", "10", "50", "2", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7), start(7, 10), finish(7, 60, OutcomeOK, 50)}, 0, 0},
		{"last partial (3) is ok", swfLine("7", "1000", "10", "50", "3", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7), start(7, 10), finish(7, 60, OutcomeOK, 50)}, 0, 0},
		{"last partial failed (4) is ok", swfLine("7", "1000", "10", "50", "4", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7), start(7, 10), finish(7, 60, OutcomeOK, 50)}, 0, 0},
		{"unknown status is ok", swfLine("7", "1000", "10", "50", "-1", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7), start(7, 10), finish(7, 60, OutcomeOK, 50)}, 0, 0},
		{"cancelled while running", swfLine("7", "1000", "10", "50", "5", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7), start(7, 10), finish(7, 60, OutcomeCancelled, 50)}, 0, 0},
		{"cancelled, never ran", swfLine("7", "1000", "10", "0", "5", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7), cancel(7, 10)}, 0, 0},
		{"cancelled, no run time", swfLine("7", "1000", "10", "-1", "5", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7), cancel(7, 10)}, 0, 0},
		{"cancelled, no wait time", swfLine("7", "1000", "-1", "50", "5", "2", "5", "3"), SWFOptions{},
			[]Event{planned(7, 50, OutcomeCancelled)}, 0, 1},
		{"cancelled, no wait time, never ran", swfLine("7", "1000", "-1", "0", "5", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7), cancel(7, 0)}, 0, 0},
		{"no run time", swfLine("7", "1000", "10", "-1", "1", "2", "5", "3"), SWFOptions{},
			[]Event{submit(7)}, 1, 0},
		{"no wait time", swfLine("7", "1000", "-1", "50", "1", "2", "5", "3"), SWFOptions{},
			[]Event{planned(7, 50, "")}, 0, 1},
		{"failed, no wait time", swfLine("7", "1000", "-1", "50", "0", "2", "5", "3"), SWFOptions{},
			[]Event{planned(7, 50, OutcomeFailed)}, 0, 1},
		{"decimals and exponents", swfLine("7.0", "1e3", "0.5", "2.5e1", "1", "2.0", "5", "3"), SWFOptions{},
			[]Event{submit(7), start(7, 0.5), finish(7, 25.5, OutcomeOK, 25)}, 0, 0},
		{"missing user, queue and executable", swfLine("7", "1000", "10", "50", "1", "-1", "-1", "-1"), SWFOptions{},
			[]Event{
				{T: 0, Kind: Submit, Pool: "default", Job: 7, Client: "user-unknown"},
				{T: 10, Kind: Start, Pool: "default", Job: 7, Worker: "swf"},
				{T: 60, Kind: Finish, Pool: "default", Job: 7, Worker: "swf", Outcome: OutcomeOK, Duration: 50},
			}, 0, 0},
		{"forced pool", swfLine("7", "1000", "10", "50", "1", "2", "5", "3"), SWFOptions{Pool: "hpc"},
			[]Event{
				{T: 0, Kind: Submit, Pool: "hpc", Job: 7, Client: "user-2", Hint: "exe-5"},
				{T: 10, Kind: Start, Pool: "hpc", Job: 7, Worker: "swf"},
				{T: 60, Kind: Finish, Pool: "hpc", Job: 7, Worker: "swf", Outcome: OutcomeOK, Duration: 50},
			}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, events, st, err := ReadSWF(strings.NewReader(tt.line+"\n"), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkSWFTrace(t, h, events, st)
			if h.Origin != (time.Time{}) {
				t.Errorf("origin %v without UnixStartTime", h.Origin)
			}
			if len(events) == 0 || events[0].Kind != Register {
				t.Fatalf("events %+v do not start with a register", events)
			}
			if got := events[1:]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events\n got %+v\nwant %+v", got, tt.want)
			}
			assert.Equal(t, SWFStats{Jobs: 1, NoRuntime: tt.noRuntime, NoWait: tt.noWait}, kept(st))
		})
	}
}

func TestReadSWFSkipsMissingSubmit(t *testing.T) {
	in := swfLine("1", "-1", "5", "5", "1", "1", "1", "1") + "\n" +
		swfLine("2", "40", "5", "5", "1", "1", "1", "1") + "\n"
	_, events, st, err := ReadSWF(strings.NewReader(in), SWFOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assert.Equal(t, SWFStats{Jobs: 1, Skipped: 1}, kept(st))
	if len(jobEvents(events, 1)) != 0 || len(jobEvents(events, 2)) != 3 {
		t.Errorf("events %+v: want job 2 only", events)
	}
	// A skipped job's number stays taken.
	in += swfLine("1", "50", "5", "5", "1", "1", "1", "1") + "\n"
	if _, _, _, err := ReadSWF(strings.NewReader(in), SWFOptions{}); err == nil || err.Error() != "swf line 3: job number 1 was already used on line 1" {
		t.Errorf("reusing a skipped job's number: err %v", err)
	}
}

func TestReadSWFOrder(t *testing.T) {
	// Everything below happens at t = 10, except the register and job 9's
	// submit (t = 0).
	in := strings.Join([]string{
		swfLine("5", "10", "0", "0", "1", "1", "1", "1"),  // submit, start, finish at 10
		swfLine("3", "10", "0", "-1", "5", "1", "1", "1"), // submit, cancel at 10
		swfLine("9", "0", "10", "4", "1", "1", "1", "1"),  // start at 10
		swfLine("4", "5", "0", "5", "1", "1", "1", "1"),   // finish at 10
		swfLine("2", "10", "0", "3", "1", "1", "1", "1"),  // submit, start at 10
	}, "\n")
	_, events, _, err := ReadSWF(strings.NewReader(in), SWFOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		if e.T == 10 {
			got = append(got, fmt.Sprintf("%s %d", e.Kind, e.Job))
		}
	}
	want := []string{
		"submit 2", "submit 3", "submit 5",
		"start 2", "start 5", "start 9",
		"finish 4", "finish 5",
		"cancel 3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order at t = 10:\n got %v\nwant %v", got, want)
	}
}

func TestReadSWFCapacity(t *testing.T) {
	// Pool 1: [0,10), [5,15), [10,20): at t = 10 the third starts before
	// the first finishes, so the trace shows 3 running. Pool 2: [0,5),
	// [6,9): never more than 1.
	jobs := strings.Join([]string{
		swfLine("1", "0", "0", "10", "1", "1", "1", "1"),
		swfLine("2", "5", "0", "10", "1", "1", "1", "1"),
		swfLine("3", "10", "0", "10", "1", "1", "1", "1"),
		swfLine("4", "0", "0", "5", "1", "1", "1", "2"),
		swfLine("5", "6", "0", "3", "1", "1", "1", "2"),
	}, "\n") + "\n"
	queuedOnly := swfLine("1", "0", "3", "0", "5", "1", "1", "1") + "\n" +
		swfLine("2", "0", "-1", "-1", "1", "1", "1", "1") + "\n"
	// No wait times: jobs of 4, 8 and 12 processors (field 5), 8 on
	// average, and one (field 5 missing) that asked for 8 (field 8).
	noWaits := strings.Join([]string{
		"1 0 -1 10 4 -1 -1 4 -1 -1 1 1 1 1 1 1 -1 -1",
		"2 5 -1 10 8 -1 -1 8 -1 -1 1 1 1 1 1 1 -1 -1",
		"3 9 -1 10 12 -1 -1 12 -1 -1 1 1 1 1 2 1 -1 -1",
		"4 9 -1 10 -1 -1 -1 8 -1 -1 1 1 1 1 2 1 -1 -1",
	}, "\n") + "\n"
	const counted = "one worker per pool, its capacity the most jobs the log runs at once in that pool"
	tests := []struct {
		name    string
		in      string
		opts    SWFOptions
		want    map[string]int
		mapping string
	}{
		{"computed per pool", jobs, SWFOptions{}, map[string]int{"queue-1": 3, "queue-2": 1}, counted},
		{"computed, one pool", jobs, SWFOptions{Pool: "all"}, map[string]int{"all": 3}, counted},
		{"computed, nothing runs", queuedOnly, SWFOptions{}, map[string]int{"queue-1": 1}, counted},
		// MaxProcs counts processors, not jobs: where the log says how
		// many jobs ran at once, that is the contention to replay.
		{"MaxProcs with wait times", "; MaxProcs: 64\n" + jobs, SWFOptions{}, map[string]int{"queue-1": 3, "queue-2": 1}, counted},
		{"MaxProcs over mean processors", "; MaxProcs: 64\n" + noWaits, SWFOptions{}, map[string]int{"queue-1": 8, "queue-2": 8},
			"one worker per pool of 8 jobs: MaxProcs 64 over the 8.0 processors a job has on average (too few jobs have a wait time to count how many ran at once)"},
		{"MaxProcs, any case, trailing words", ";maxprocs:  32 (8 nodes)\n" + noWaits, SWFOptions{}, map[string]int{"queue-1": 4, "queue-2": 4},
			"one worker per pool of 4 jobs: MaxProcs 32 over the 8.0 processors a job has on average (too few jobs have a wait time to count how many ran at once)"},
		{"MaxProcs -1 is absent", "; MaxProcs: -1\n" + noWaits, SWFOptions{}, map[string]int{"queue-1": 1, "queue-2": 1}, counted},
		{"option over MaxProcs", "; MaxProcs: 64\n" + noWaits, SWFOptions{Capacity: 7}, map[string]int{"queue-1": 7, "queue-2": 7},
			"one worker per pool, of the capacity given: 7 jobs"},
		{"option over computed", jobs, SWFOptions{Capacity: 2}, map[string]int{"queue-1": 2, "queue-2": 2},
			"one worker per pool, of the capacity given: 2 jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, events, st, err := ReadSWF(strings.NewReader(tt.in), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkSWFTrace(t, h, events, st)
			got := map[string]int{}
			for _, e := range events {
				if e.Kind == Register {
					if e.T != 0 || e.Worker != "swf" {
						t.Errorf("register %+v: want t = 0, worker swf", e)
					}
					got[e.Pool] = e.Capacity
				}
			}
			assert.Equal(t, tt.want, got, "capacities")
			assert.Equal(t, tt.mapping, st.Mapping)
		})
	}
}

func TestReadSWFOrigin(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   time.Time
	}{
		{"none", "; Note: no start time\n", time.Time{}},
		{"whole", "; UnixStartTime: 1000000000\n", time.Unix(1000000250, 500_000_000).UTC()},
		{"decimal", "; UnixStartTime: 1000000000.75\n", time.Unix(1000000251, 250_000_000).UTC()},
		{"-1 is absent", "; UnixStartTime: -1\n", time.Time{}},
	}
	jobs := swfLine("1", "300", "0", "1", "1", "1", "1", "1") + "\n" +
		swfLine("2", "250.5", "0", "1", "1", "1", "1", "1") + "\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, events, _, err := ReadSWF(strings.NewReader(tt.header+jobs), SWFOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !h.Origin.Equal(tt.want) || (!tt.want.IsZero() && h.Origin.Location() != time.UTC) {
				t.Errorf("origin %v, want %v", h.Origin, tt.want)
			}
			if s := jobEvents(events, 2); s[0].T != 0 {
				t.Errorf("first submit at t = %v, want 0", s[0].T)
			}
			if s := jobEvents(events, 1); s[0].T != 49.5 {
				t.Errorf("second submit at t = %v, want 49.5", s[0].T)
			}
		})
	}
}

func TestReadSWFStrictErrors(t *testing.T) {
	good := swfLine("1", "0", "1", "1", "1", "1", "1", "1")
	tests := []struct {
		name string
		in   string
		opts SWFOptions
		want string
	}{
		{"too few fields", "; hi\n" + good + "\n1 2 3\n", SWFOptions{},
			"swf line 3: has 3 fields, want 18"},
		{"too many fields", good + " 7\n", SWFOptions{},
			"swf line 1: has 19 fields, want 18"},
		{"non-numeric", "\n\n" + swfLine("2", "0", "1", "abc", "1", "1", "1", "1"), SWFOptions{},
			`swf line 3: field 4 (run time) is not a finite number: "abc"`},
		{"NaN", swfLine("2", "NaN", "1", "1", "1", "1", "1", "1"), SWFOptions{},
			`swf line 1: field 2 (submit time) is not a finite number: "NaN"`},
		{"Inf", swfLine("2", "0", "1", "1", "1", "1", "1", "+Inf"), SWFOptions{},
			`swf line 1: field 15 (queue number) is not a finite number: "+Inf"`},
		{"overflow", swfLine("2", "0", "1e999", "1", "1", "1", "1", "1"), SWFOptions{},
			`swf line 1: field 3 (wait time) is not a finite number: "1e999"`},
		{"hexadecimal", swfLine("2", "0", "1", "1", "1", "0x1p3", "1", "1"), SWFOptions{},
			`swf line 1: field 12 (user id) is not a finite number: "0x1p3"`},
		{"duplicate job", good + "\n; c\n" + swfLine("2", "5", "1", "1", "1", "1", "1", "1") + "\n" + good + "\n", SWFOptions{},
			"swf line 4: job number 1 was already used on line 1"},
		{"negative submit", good + "\n" + swfLine("2", "-5", "1", "1", "1", "1", "1", "1"), SWFOptions{},
			`swf line 2: field 2 (submit time) is negative: "-5" (only -1, for missing, may be)`},
		{"negative run", swfLine("2", "0", "1", "-0.5", "1", "1", "1", "1"), SWFOptions{},
			`swf line 1: field 4 (run time) is negative: "-0.5" (only -1, for missing, may be)`},
		{"huge wait", swfLine("2", "0", "2e10", "1", "1", "1", "1", "1"), SWFOptions{},
			`swf line 1: field 3 (wait time) is above 1e10 seconds: "2e10"`},
		{"job number 0", swfLine("0", "0", "1", "1", "1", "1", "1", "1"), SWFOptions{},
			`swf line 1: field 1 (job number) must be a whole number from 1 to 2^53, got "0"`},
		{"job number -1", swfLine("-1", "0", "1", "1", "1", "1", "1", "1"), SWFOptions{},
			`swf line 1: field 1 (job number) must be a whole number from 1 to 2^53, got "-1"`},
		{"fractional job number", swfLine("1.5", "0", "1", "1", "1", "1", "1", "1"), SWFOptions{},
			`swf line 1: field 1 (job number) must be a whole number from 1 to 2^53, got "1.5"`},
		{"fractional executable", swfLine("1", "0", "1", "1", "1", "1", "2.5", "1"), SWFOptions{},
			`swf line 1: field 14 (executable number) must be -1 or a whole number from 0 to 2^53, got "2.5"`},
		{"negative status", swfLine("1", "0", "1", "1", "-2", "1", "1", "1"), SWFOptions{},
			`swf line 1: field 11 (status) must be -1 or a whole number from 0 to 2^53, got "-2"`},
		{"bad MaxProcs", "; MaxProcs: many\n" + good, SWFOptions{},
			`swf line 1: MaxProcs "many" is not a whole number from 1 to 2147483647`},
		{"zero MaxProcs", "; MaxProcs: 0\n" + good, SWFOptions{},
			`swf line 1: MaxProcs "0" is not a whole number from 1 to 2147483647`},
		{"empty UnixStartTime", ";\n; UnixStartTime:\n" + good, SWFOptions{},
			`swf line 2: UnixStartTime "" is not a number of seconds from 0 to 1e11`},
		{"huge UnixStartTime", "; UnixStartTime: 1e12\n" + good, SWFOptions{},
			`swf line 1: UnixStartTime "1e12" is not a number of seconds from 0 to 1e11`},
		{"line too long", good + "\n" + strings.Repeat("1 ", 40000) + "\n", SWFOptions{},
			"swf line 2: line is longer than 65536 bytes"},
		{"empty", "", SWFOptions{}, "swf: the log has no job with a submit time"},
		{"only comments", "; MaxProcs: 4\n\n;x\n", SWFOptions{}, "swf: the log has no job with a submit time"},
		{"only skipped jobs", swfLine("1", "-1", "1", "1", "1", "1", "1", "1"), SWFOptions{Lenient: true},
			"swf: the log has no job with a submit time"},
		{"negative capacity", good, SWFOptions{Capacity: -1}, "swf: capacity -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, events, _, err := ReadSWF(strings.NewReader(tt.in), tt.opts)
			if err == nil {
				t.Fatalf("no error; got %d events", len(events))
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err, tt.want)
			}
			if events != nil || len(h.Pools) != 0 {
				t.Errorf("an error came with a trace: %+v, %d events", h, len(events))
			}
		})
	}
}

func TestReadSWFLenient(t *testing.T) {
	lines := []string{
		"; UnixStartTime: 1000",                         // 1
		swfLine("1", "0", "1", "1", "1", "1", "1", "1"), // 2
		"1 2 3", // 3: field count
		swfLine("2", "x", "1", "1", "1", "1", "1", "1"),  // 4: non-numeric
		swfLine("1", "9", "1", "1", "1", "1", "1", "1"),  // 5: duplicate
		swfLine("3", "-7", "1", "1", "1", "1", "1", "1"), // 6: negative submit
		"; MaxProcs: lots", // 7: bad header value
		"",                 // 8
		swfLine("4", "20", "1", "-1", "1", "1", "1", "1"), // 9: no run time
		swfLine("5", "-1", "1", "1", "1", "1", "1", "1"),  // 10: skipped
		swfLine("2", "30", "1", "1", "0", "1", "1", "1"),  // 11: 2 is free, as line 4 was dropped
	}
	in := strings.Join(lines, "\n")
	h, events, st, err := ReadSWF(strings.NewReader(in), SWFOptions{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	checkSWFTrace(t, h, events, st)
	assert.Equal(t, SWFStats{Jobs: 3, Skipped: 1, NoRuntime: 1, Malformed: 5, MalformedLines: []int{3, 4, 5, 6, 7}}, kept(st))
	// Job 1 keeps line 2's times, not line 5's.
	if got := jobEvents(events, 1); len(got) != 3 || got[0].T != 0 || got[2].T != 2 {
		t.Errorf("job 1: %+v", got)
	}
	if got := jobEvents(events, 2); len(got) != 3 || got[2].Outcome != OutcomeFailed {
		t.Errorf("job 2: %+v", got)
	}
	// The same input is refused in strict mode, at line 3.
	if _, _, _, err := ReadSWF(strings.NewReader(in), SWFOptions{}); err == nil || !strings.HasPrefix(err.Error(), "swf line 3: ") {
		t.Errorf("strict: err %v, want one at line 3", err)
	}

	// Only the first 20 malformed lines are listed; all are counted.
	var b strings.Builder
	b.WriteString(swfLine("1", "0", "1", "1", "1", "1", "1", "1") + "\n")
	for range 25 {
		b.WriteString("not a job\n")
	}
	_, _, st, err = ReadSWF(strings.NewReader(b.String()), SWFOptions{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	var wantLines []int
	for n := 2; n < 22; n++ {
		wantLines = append(wantLines, n)
	}
	if st.Malformed != 25 || !slices.Equal(st.MalformedLines, wantLines) {
		t.Errorf("malformed %d, lines %v; want 25 and %v", st.Malformed, st.MalformedLines, wantLines)
	}

	// Lines of up to 65536 bytes (not counting their end) are read.
	job := swfLine("1", "0", "1", "1", "1", "1", "1", "1")
	for _, tt := range []struct {
		n         int
		malformed int
	}{{65536, 0}, {65537, 1}} {
		long := job + strings.Repeat(" ", tt.n-len(job))
		for _, end := range []string{"", "\n", "\r\n"} {
			_, _, st, err := ReadSWF(strings.NewReader(long+end), SWFOptions{Lenient: true})
			if tt.malformed == 0 && (err != nil || st.Jobs != 1) {
				t.Errorf("line of %d bytes + %q: err %v, stats %+v; want it read", tt.n, end, err, st)
			}
			if tt.malformed == 1 && (err == nil || st.Malformed != 1) {
				t.Errorf("line of %d bytes + %q: err %v, stats %+v; want it malformed", tt.n, end, err, st)
			}
		}
	}

	// A line too long is skipped too, and the next one is still read.
	in = strings.Repeat("9", 70000) + "\n" + swfLine("1", "0", "1", "1", "1", "1", "1", "1")
	_, events, st, err = ReadSWF(strings.NewReader(in), SWFOptions{Lenient: true})
	if err != nil || st.Jobs != 1 || !slices.Equal(st.MalformedLines, []int{1}) {
		t.Errorf("long line: err %v, stats %+v", err, st)
	}
}

func TestReadSWFReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader(swfLine("1", "0", "1", "1", "1", "1", "1", "1")+"\n"), iotest.ErrReader(boom))
	_, _, st, err := ReadSWF(r, SWFOptions{Lenient: true})
	if !errors.Is(err, boom) || err.Error() != "swf line 2: disk on fire" {
		t.Errorf("err %v, want swf line 2: disk on fire", err)
	}
	if st.Jobs != 1 {
		t.Errorf("stats %+v: want the first job counted", st)
	}
	// A long bad field is shortened in the message.
	_, _, _, err = ReadSWF(strings.NewReader(swfLine("1", strings.Repeat("x", 100), "1", "1", "1", "1", "1", "1")), SWFOptions{})
	if want := `swf line 1: field 2 (submit time) is not a finite number: "` + strings.Repeat("x", 40) + `"...`; err == nil || err.Error() != want {
		t.Errorf("err %v, want %s", err, want)
	}
}

// checkSWFTrace checks what every import must give: a sorted, consistent
// trace that the Writer accepts and the Reader reads back unchanged. It
// returns, per pool, the most jobs that the trace shows running at once.
func checkSWFTrace(t *testing.T, h Header, events []Event, st SWFStats) map[string]int {
	t.Helper()
	if h.Format != FormatName || h.Version != Version || h.Source != "swf" {
		t.Fatalf("header %+v", h)
	}
	if !slices.IsSorted(h.Pools) || len(slices.Compact(slices.Clone(h.Pools))) != len(h.Pools) {
		t.Fatalf("pools %v not sorted and unique", h.Pools)
	}
	if !slices.IsSortedFunc(events, compareSWFEvents) {
		t.Fatalf("events not in order")
	}
	if len(st.MalformedLines) > maxMalformedLines || len(st.MalformedLines) > st.Malformed {
		t.Fatalf("stats %+v", st)
	}

	// Per pool: one register first; per job: submit, then start and
	// finish or a cancel or nothing, in time order.
	registered := map[string]int{}
	byJob := map[uint64][]Event{}
	running, most := map[string]int{}, map[string]int{}
	for i, e := range events {
		if e.Cached || e.Urgent {
			t.Fatalf("event %+v is cached or urgent", e)
		}
		if !slices.Contains(h.Pools, e.Pool) {
			t.Fatalf("event %+v names a pool not in %v", e, h.Pools)
		}
		switch e.Kind {
		case Register:
			if i >= len(h.Pools) || e.T != 0 || e.Worker != "swf" || e.Capacity < 1 {
				t.Fatalf("register %+v at %d", e, i)
			}
			registered[e.Pool]++
			continue
		case Start:
			running[e.Pool]++
			most[e.Pool] = max(most[e.Pool], running[e.Pool])
		case Finish:
			running[e.Pool]--
		}
		if (e.Kind == Start || e.Kind == Finish) && e.Worker != "swf" {
			t.Fatalf("event %+v not on worker swf", e)
		}
		byJob[e.Job] = append(byJob[e.Job], e)
	}
	for _, p := range h.Pools {
		if registered[p] != 1 {
			t.Fatalf("pool %s registered %d times", p, registered[p])
		}
	}
	submitOnly, planned := 0, 0
	for job, es := range byJob {
		var kinds []Kind
		for _, e := range es {
			kinds = append(kinds, e.Kind)
			if e.Pool != es[0].Pool {
				t.Fatalf("job %d changes pool", job)
			}
		}
		switch {
		case slices.Equal(kinds, []Kind{Submit}) && es[0].Planned > 0:
			planned++
		case slices.Equal(kinds, []Kind{Submit}):
			submitOnly++
		case slices.Equal(kinds, []Kind{Submit, Cancel}):
		case slices.Equal(kinds, []Kind{Submit, Start, Finish}):
			if es[2].T < es[1].T || es[2].Duration < 0 {
				t.Fatalf("job %d: %+v", job, es)
			}
		default:
			t.Fatalf("job %d has events %v", job, kinds)
		}
	}
	// A job without a wait time and a run time of 0 has a submit only.
	if len(byJob) != st.Jobs || planned > st.NoWait || planned+submitOnly != st.NoWait+st.NoRuntime {
		t.Fatalf("%d jobs (%d with a run time on their submit, %d with a submit only) but stats %+v", len(byJob), planned, submitOnly, st)
	}

	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatalf("writer refuses the header: %v", err)
	}
	for _, e := range events {
		if err := w.Write(e); err != nil {
			t.Fatalf("writer refuses %+v: %v", e, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	h2, events2, err := ReadAll(&buf)
	if err != nil {
		t.Fatalf("reader refuses the import: %v", err)
	}
	if !h2.Origin.Equal(h.Origin) {
		t.Fatalf("origin read back as %v, want %v", h2.Origin, h.Origin)
	}
	h2.Origin = h.Origin
	if !reflect.DeepEqual(h2, h) || !reflect.DeepEqual(events2, events) {
		t.Fatalf("the trace reads back differently")
	}
	return most
}

func FuzzReadSWF(f *testing.F) {
	// Small seeds: the fuzzer minimizes every input that finds new code,
	// trying a number of candidates that grows with the square of its
	// length, so large inputs (such as the whole sample) would stall it.
	f.Add([]byte("; UnixStartTime: 1120000000\n; MaxProcs: 128\n" +
		"1 100 5 60 4 55.2 1024 4 120 2048 1 1 1 1 1 1 -1 -1\n" +
		"4 130 50 0 32 -1 -1 32 600 -1 5 3 2 3 2 1 -1 -1\n" +
		"9 200 10 25 8 -1 -1 8 100 -1 5 1 1 1 1 1 -1 -1\n"))
	for _, s := range []string{
		"",
		"; UnixStartTime: 5\n; MaxProcs: 2\n" + swfLine("1", "0", "0", "0", "5", "-1", "-1", "-1"),
		swfLine("1", "3.5", "1e-3", "2e2", "0", "1", "2", "3") + "\n" + swfLine("2", "0", "-1", "4", "5", "1", "2", "4"),
		swfLine("1", "0", "1", "1", "1", "1", "1", "1") + "\n" + swfLine("1", "0", "1", "1", "1", "1", "1", "1"),
		"1 2 3\r\n\t;x\n",
		swfLine("9007199254740992", "9999999999", "9999999999", "9999999999", "4", "9007199254740992", "0", "0"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// The lenient import is checked in full; where the strict one
		// succeeds it must give the very same.
		strictH, strictEv, strictSt, strictErr := ReadSWF(bytes.NewReader(in), SWFOptions{})
		if strictErr == nil && strictSt.Malformed != 0 {
			t.Fatalf("strict import counted malformed lines: %+v", strictSt)
		}
		h, events, st, err := ReadSWF(bytes.NewReader(in), SWFOptions{Lenient: true})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "swf") {
				t.Fatalf("error %q does not say swf", err)
			}
			if strictErr == nil {
				t.Fatalf("lenient import fails (%v) where strict succeeds", err)
			}
			return
		}
		most := checkSWFTrace(t, h, events, st)
		if !strings.Contains(st.Mapping, "MaxProcs") {
			// Capacities come from the log: each is what the trace needs.
			for _, e := range events[:len(h.Pools)] {
				if e.Capacity != max(1, most[e.Pool]) {
					t.Fatalf("pool %s has capacity %d but runs at most %d jobs at once", e.Pool, e.Capacity, most[e.Pool])
				}
			}
		}
		if strictErr == nil && (!reflect.DeepEqual(st, strictSt) || !reflect.DeepEqual(events, strictEv) || !reflect.DeepEqual(h, strictH)) {
			t.Fatalf("lenient and strict imports differ on a valid log")
		}
		if strictErr != nil && st.Malformed == 0 && !strings.HasPrefix(strictErr.Error(), "swf:") {
			t.Fatalf("strict import fails (%v) but lenient counts nothing malformed", strictErr)
		}
	})
}

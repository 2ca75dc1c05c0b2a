package trace

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ReadSWF imports a log in the Standard Workload Format (SWF) of the
// Parallel Workloads Archive, so that the simulator can replay public HPC
// logs. It returns the trace's header and events, ready for a Writer, and
// what it kept and dropped. On error the header and events are empty and
// the stats say how far the import got.
//
// Input. Lines are read one at a time and numbered from 1. A blank line is
// ignored. A line whose first non-blank character is ';' is a comment; of
// the header comments only two are read, their key matched without regard
// to (ASCII) case and their value being the first word after the colon:
//
//	; UnixStartTime: 1120000000   wall-clock second (0 to 1e11) of the log's time 0
//	; MaxProcs: 128               processors of the machine (a whole number from 1 to 2^31-1)
//
// A value of -1 for either counts as absent. Every other line is one job:
// exactly 18 numbers separated by white space, integers or decimals
// (digits, sign, point and exponent only: no Inf, NaN or hexadecimal),
// in this order:
//
//	1 job number              10 requested memory
//	2 submit time (s)         11 status
//	3 wait time (s)           12 user id
//	4 run time (s)            13 group id
//	5 allocated processors    14 executable number
//	6 average CPU time        15 queue number
//	7 used memory             16 partition number
//	8 requested processors    17 preceding job
//	9 requested time          18 think time
//
// -1 means missing. A line is malformed when it has another number of
// fields, a field that is not a finite number, a job number that is not a
// whole number from 1 to 2^53 or that an earlier line already used, a
// submit, wait or run time that is negative (other than -1) or above 1e10
// seconds, a status, user id, executable number or queue number that is
// neither -1 nor a whole number from 0 to 2^53, or more than 65536 bytes
// of text; a header comment is malformed when its UnixStartTime or MaxProcs
// value is out of the ranges above. The other fields are read but unused.
// In strict mode (the default) the first malformed line stops the import
// with the error "swf line N: <what is wrong>". With SWFOptions.Lenient the
// line is skipped instead, counted in SWFStats.Malformed and listed (the
// first 20) in SWFStats.MalformedLines. Logs that record a checkpointed
// job as several lines sharing one job number need Lenient: only the first
// of those lines is kept.
//
// Mapping. Each SWF job becomes one trace job of one slot (the scheduler
// gives a job one slot of a worker): memory, requested time and the other
// unused fields are ignored, and processor counts serve only to size the
// workers (see Workers below).
//
//	SWF                        trace
//	job number                 job id
//	user id n (-1)             client "user-n" ("user-unknown")
//	queue number n (-1)        pool "queue-n" ("default"); every job goes to SWFOptions.Pool when it is set
//	executable number n (-1)   hint "exe-n" (no hint)
//	submit time                submit event
//	submit + wait              start event, on worker "swf", never cached
//	submit + wait + run        finish event, with duration = run time
//	status 1                   outcome ok
//	status 0                   outcome failed
//	status 5                   cancelled, see below
//	any other status           outcome ok (2, 3, 4: partial executions; -1: unknown)
//
// A cancelled job (status 5) whose run time is more than 0 and whose wait
// time is known ran and was cancelled while running: start and finish
// with outcome cancelled. A replay needs only a job's run time, so a job
// whose wait time is missing but whose run time is known (over 0, for a
// cancelled job) keeps it on its submit event, as Planned, with the
// outcome its run ends with (failed for status 0, cancelled for status 5);
// it has no start or finish and is counted in SWFStats.NoWait. Any other
// cancelled job never ran: it gets a cancel event at submit + wait, or at
// submit when the wait time is missing. A job whose submit time is
// missing is dropped, even in strict mode, and counted in
// SWFStats.Skipped (its job number still counts as used). A job that is
// not cancelled and misses its run time keeps its submit event only; it
// is counted in SWFStats.NoRuntime, and a replay gives it an estimate.
// SWFStats.Jobs counts the jobs kept, that is the submit events.
//
// Time. An event's t is its SWF time minus the smallest submit time of
// the jobs kept, so the first submit is at t = 0. When the log gives
// UnixStartTime, Header.Origin is UnixStartTime plus that smallest submit
// time, in UTC; otherwise it is left zero. Events are sorted by t; at
// equal t, register comes before submit, start, finish and cancel, in
// that order, then smaller job ids first.
//
// Workers. SWF names no machines, so each pool gets one worker named
// "swf", registered at t = 0. Its capacity, in jobs, is chosen so that a
// replay meets the contention the log recorded, and SWFStats.Mapping says
// which rule chose it:
//
//   - SWFOptions.Capacity, when it is set;
//   - else, when at least half the kept jobs have a start, the most jobs
//     of that pool that the trace shows running at once (at least 1),
//     counted in the trace's own order, in which starts at an instant
//     come before finishes;
//   - else, when the header gives MaxProcs and jobs give their allocated
//     (else requested) processors, MaxProcs divided by the mean
//     processors of a job, rounded (at least 1), the same for every pool:
//     the jobs of an average size the machine holds at once;
//   - else the most jobs running at once, as above.
//
// The header has Source "swf" and Pools, the sorted pools that the events
// name.
//
// A log with no kept job is an error, since a trace must list a pool.
func ReadSWF(r io.Reader, opts SWFOptions) (Header, []Event, SWFStats, error) {
	var st SWFStats
	if opts.Capacity < 0 {
		return Header{}, nil, st, fmt.Errorf("swf: capacity %d is negative", opts.Capacity)
	}
	imp := swfImport{opts: opts, stats: &st, seen: map[uint64]int{}, names: map[string]string{}}
	if err := imp.read(r); err != nil {
		return Header{}, nil, st, err
	}
	if len(imp.jobs) == 0 {
		return Header{}, nil, st, errors.New("swf: the log has no job with a submit time")
	}
	h, events := imp.build()
	return h, events, st, nil
}

// SWFOptions tune an import.
type SWFOptions struct {
	// Lenient skips malformed lines (counting them) instead of failing.
	Lenient bool
	// Pool, when set, receives every job instead of its queue's pool.
	Pool string
	// Capacity of each pool's one synthetic worker; 0 = the header's
	// MaxProcs, else the most jobs the log ever runs at once in that pool.
	Capacity int
}

// SWFStats says what an import kept and dropped.
type SWFStats struct {
	Jobs           int   // jobs kept: one submit event each
	Skipped        int   // jobs dropped for want of a submit time
	NoWait         int   // jobs kept with their run time but no start (wait time missing)
	NoRuntime      int   // jobs kept with a submit event only (run time missing)
	Malformed      int   // lines skipped as malformed (Lenient only)
	MalformedLines []int // the first 20 of those, by line number
	// Mapping says how the workers' capacity was chosen, for the user.
	Mapping string
}

// maxMalformedLines bounds SWFStats.MalformedLines.
const maxMalformedLines = 20

// Bounds on what an SWF log may say, so that every time stays finite and
// an origin stays within the years that JSON timestamps can express.
const (
	swfMaxSeconds   = 1e10    // submit, wait and run times (over 300 years)
	swfMaxUnixStart = 1e11    // UnixStartTime (about the year 5100)
	swfMaxWhole     = 1 << 53 // ids: every whole float64 up to here is exact
	swfMaxLine      = 64 << 10
	swfWorker       = "swf"
	swfFields       = 18
)

// SWF field numbers (1-based, as in the format's definition) that the
// import reads.
const (
	swfJob    = 1
	swfSubmit = 2
	swfWait   = 3
	swfRun    = 4
	swfProcs  = 5
	swfAsked  = 8
	swfStatus = 11
	swfUser   = 12
	swfExe    = 14
	swfQueue  = 15
)

var swfFieldNames = [swfFields + 1]string{
	1: "job number", 2: "submit time", 3: "wait time", 4: "run time",
	5: "allocated processors", 6: "average CPU time", 7: "used memory",
	8: "requested processors", 9: "requested time", 10: "requested memory",
	11: "status", 12: "user id", 13: "group id", 14: "executable number",
	15: "queue number", 16: "partition number", 17: "preceding job",
	18: "think time",
}

// swfJobRec is one kept job; times are -1 when missing.
type swfJobRec struct {
	id                 uint64
	submit, wait, run  float64
	status             float64
	procs              float64 // allocated (else requested) processors; -1 when neither is given
	pool, client, hint string
}

type swfImport struct {
	opts      SWFOptions
	stats     *SWFStats
	seen      map[uint64]int    // job number -> line that used it
	names     map[string]string // interned client, pool and hint names
	jobs      []swfJobRec
	unixStart float64
	haveUnix  bool
	maxProcs  int
}

// read parses every line, keeping the jobs.
func (imp *swfImport) read(r io.Reader) error {
	lines := swfLines{br: bufio.NewReader(r)}
	for n := 1; ; n++ {
		raw, tooLong, err := lines.next()
		if err != nil && err != io.EOF {
			return fmt.Errorf("swf line %d: %w", n, err)
		}
		if err == io.EOF && len(raw) == 0 && !tooLong {
			return nil
		}
		var bad error
		if tooLong {
			bad = fmt.Errorf("line is longer than %d bytes", swfMaxLine)
		} else {
			bad = imp.line(n, strings.TrimSpace(string(raw)))
		}
		if bad != nil {
			if !imp.opts.Lenient {
				return fmt.Errorf("swf line %d: %w", n, bad)
			}
			imp.stats.Malformed++
			if len(imp.stats.MalformedLines) < maxMalformedLines {
				imp.stats.MalformedLines = append(imp.stats.MalformedLines, n)
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// swfLines splits a log into lines.
type swfLines struct {
	br  *bufio.Reader
	buf []byte
}

// next returns the next line, or says that it was longer than swfMaxLine
// bytes (not counting its "\n" or "\r\n" end), having skipped the rest.
func (l *swfLines) next() (line []byte, tooLong bool, err error) {
	l.buf = l.buf[:0]
	for {
		var chunk []byte
		chunk, err = l.br.ReadSlice('\n')
		if !tooLong {
			if len(l.buf)+len(chunk) > swfMaxLine+2 {
				tooLong, l.buf = true, l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		if err != bufio.ErrBufferFull {
			text := bytes.TrimSuffix(bytes.TrimSuffix(l.buf, []byte("\n")), []byte("\r"))
			return l.buf, tooLong || len(text) > swfMaxLine, err
		}
	}
}

// line handles one trimmed line; an error says why it is malformed.
func (imp *swfImport) line(n int, text string) error {
	if text == "" {
		return nil
	}
	if text[0] == ';' {
		return imp.comment(text[1:])
	}
	j, err := imp.parseJob(strings.Fields(text))
	if err != nil {
		return err
	}
	if first, dup := imp.seen[j.id]; dup {
		return fmt.Errorf("job number %d was already used on line %d", j.id, first)
	}
	imp.seen[j.id] = n
	if j.submit == -1 {
		imp.stats.Skipped++
		return nil
	}
	imp.stats.Jobs++
	imp.jobs = append(imp.jobs, j)
	return nil
}

// comment reads the header comments that matter.
func (imp *swfImport) comment(text string) error {
	key, val, ok := strings.Cut(text, ":")
	if !ok {
		return nil
	}
	key = strings.TrimSpace(key)
	unix, procs := swfKeyIs(key, "unixstarttime"), swfKeyIs(key, "maxprocs")
	if !unix && !procs {
		return nil
	}
	word := ""
	if f := strings.Fields(val); len(f) > 0 {
		word = f[0]
	}
	v, ok := swfNumber(word)
	switch {
	case ok && v == -1:
		if unix {
			imp.haveUnix = false
		} else {
			imp.maxProcs = 0
		}
	case unix:
		if !ok || v < 0 || v > swfMaxUnixStart {
			return fmt.Errorf("UnixStartTime %s is not a number of seconds from 0 to 1e11", swfQuote(word))
		}
		imp.unixStart, imp.haveUnix = v, true
	default:
		if !ok || v < 1 || v > math.MaxInt32 || v != math.Trunc(v) {
			return fmt.Errorf("MaxProcs %s is not a whole number from 1 to %d", swfQuote(word), math.MaxInt32)
		}
		imp.maxProcs = int(v)
	}
	return nil
}

// swfKeyIs says whether key is lower, ignoring ASCII case only.
func swfKeyIs(key, lower string) bool {
	if len(key) != len(lower) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseJob checks one job line's fields.
func (imp *swfImport) parseJob(fields []string) (swfJobRec, error) {
	if len(fields) != swfFields {
		return swfJobRec{}, fmt.Errorf("has %d fields, want %d", len(fields), swfFields)
	}
	var v [swfFields + 1]float64
	for i, f := range fields {
		x, ok := swfNumber(f)
		if !ok {
			return swfJobRec{}, fmt.Errorf("field %d (%s) is not a finite number: %s", i+1, swfFieldNames[i+1], swfQuote(f))
		}
		v[i+1] = x
	}
	if id := v[swfJob]; id < 1 || id > swfMaxWhole || id != math.Trunc(id) {
		return swfJobRec{}, fmt.Errorf("field 1 (job number) must be a whole number from 1 to 2^53, got %s", swfQuote(fields[0]))
	}
	for _, i := range []int{swfSubmit, swfWait, swfRun} {
		switch x := v[i]; {
		case x == -1:
		case x < 0:
			return swfJobRec{}, fmt.Errorf("field %d (%s) is negative: %s (only -1, for missing, may be)", i, swfFieldNames[i], swfQuote(fields[i-1]))
		case x > swfMaxSeconds:
			return swfJobRec{}, fmt.Errorf("field %d (%s) is above 1e10 seconds: %s", i, swfFieldNames[i], swfQuote(fields[i-1]))
		}
	}
	for _, i := range []int{swfStatus, swfUser, swfExe, swfQueue} {
		if x := v[i]; x != -1 && (x < 0 || x > swfMaxWhole || x != math.Trunc(x)) {
			return swfJobRec{}, fmt.Errorf("field %d (%s) must be -1 or a whole number from 0 to 2^53, got %s", i, swfFieldNames[i], swfQuote(fields[i-1]))
		}
	}
	j := swfJobRec{
		id:     uint64(v[swfJob]),
		submit: v[swfSubmit],
		wait:   v[swfWait],
		run:    v[swfRun],
		status: v[swfStatus],
		procs:  -1,
		client: imp.name("user-", v[swfUser], "user-unknown"),
		hint:   imp.name("exe-", v[swfExe], ""),
		pool:   imp.opts.Pool,
	}
	if j.pool == "" {
		j.pool = imp.name("queue-", v[swfQueue], "default")
	}
	if p := cmp.Or(max(v[swfProcs], 0), max(v[swfAsked], 0)); p > 0 && p <= math.MaxInt32 {
		j.procs = p
	}
	return j, nil
}

// name is prefix followed by the whole number x, or missing when x is -1.
func (imp *swfImport) name(prefix string, x float64, missing string) string {
	if x == -1 {
		return missing
	}
	b := make([]byte, 0, 32)
	b = strconv.AppendUint(append(b, prefix...), uint64(x), 10)
	if s, ok := imp.names[string(b)]; ok {
		return s
	}
	s := string(b)
	imp.names[s] = s
	return s
}

// swfNumber parses a decimal number, refusing anything that is not plain
// digits, sign, point and exponent, and anything not finite. -0 becomes 0.
func swfNumber(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '+', c == '-', c == '.', c == 'e', c == 'E':
		default:
			return 0, false
		}
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, false
	}
	return x + 0, true
}

// swfQuote quotes a field for an error message, shortening a long one.
func swfQuote(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// build turns the kept jobs into the trace.
func (imp *swfImport) build() (Header, []Event) {
	first := imp.jobs[0].submit
	pools := map[string]bool{}
	for _, j := range imp.jobs {
		first = min(first, j.submit)
		pools[j.pool] = true
	}
	h := Header{Format: FormatName, Version: Version, Source: "swf", Pools: slices.Sorted(maps.Keys(pools))}
	if imp.haveUnix {
		sec := math.Floor(imp.unixStart) + math.Floor(first)
		frac := imp.unixStart - math.Floor(imp.unixStart) + first - math.Floor(first)
		h.Origin = time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
	}

	events := make([]Event, 0, len(h.Pools)+3*len(imp.jobs))
	for _, p := range h.Pools {
		events = append(events, Event{Kind: Register, Pool: p, Worker: swfWorker})
	}
	started := 0
	for _, j := range imp.jobs {
		t := j.submit - first
		submit := Event{T: t, Kind: Submit, Pool: j.pool, Job: j.id, Client: j.client, Hint: j.hint}
		outcome := OutcomeOK
		switch j.status {
		case 0:
			outcome = OutcomeFailed
		case 5:
			outcome = OutcomeCancelled
			if j.run > 0 {
				break
			}
			at := t
			if j.wait != -1 {
				at = t + j.wait
			}
			events = append(events, submit, Event{T: at, Kind: Cancel, Pool: j.pool, Job: j.id})
			continue
		}
		switch {
		case j.run == -1:
			imp.stats.NoRuntime++
			events = append(events, submit)
		case j.wait == -1:
			imp.stats.NoWait++
			submit.Planned = j.run
			if outcome != OutcomeOK {
				submit.Outcome = outcome
			}
			events = append(events, submit)
		default:
			started++
			start := t + j.wait
			events = append(events, submit,
				Event{T: start, Kind: Start, Pool: j.pool, Job: j.id, Worker: swfWorker},
				Event{T: start + j.run, Kind: Finish, Pool: j.pool, Job: j.id, Worker: swfWorker, Outcome: outcome, Duration: j.run})
		}
	}
	slices.SortStableFunc(events, compareSWFEvents)

	// Capacities, once the order is final.
	capacity := map[string]int{}
	running := map[string]int{}
	for _, e := range events {
		switch e.Kind {
		case Start:
			running[e.Pool]++
			capacity[e.Pool] = max(capacity[e.Pool], running[e.Pool])
		case Finish:
			running[e.Pool]--
		}
	}
	imp.stats.Mapping = "one worker per pool, its capacity the most jobs the log runs at once in that pool"
	procs, sized := 0.0, 0
	for _, j := range imp.jobs {
		if j.procs > 0 {
			procs += j.procs
			sized++
		}
	}
	switch {
	case imp.opts.Capacity > 0:
		imp.stats.Mapping = fmt.Sprintf("one worker per pool, of the capacity given: %d jobs", imp.opts.Capacity)
		for _, p := range h.Pools {
			capacity[p] = imp.opts.Capacity
		}
	case 2*started >= len(imp.jobs):
	case imp.maxProcs > 0 && sized > 0:
		mean := procs / float64(sized)
		c := int(max(1, math.Round(float64(imp.maxProcs)/mean)))
		imp.stats.Mapping = fmt.Sprintf("one worker per pool of %d jobs: MaxProcs %d over the %.1f processors a job has on average (too few jobs have a wait time to count how many ran at once)", c, imp.maxProcs, mean)
		for _, p := range h.Pools {
			capacity[p] = c
		}
	}
	for i := range h.Pools {
		events[i].Capacity = max(1, capacity[events[i].Pool])
	}
	return h, events
}

// swfKindOrder ranks the kinds that happen at the same instant.
func swfKindOrder(k Kind) int {
	switch k {
	case Register:
		return 0
	case Submit:
		return 1
	case Start:
		return 2
	case Finish:
		return 3
	case Cancel:
		return 4
	}
	return 5
}

func compareSWFEvents(a, b Event) int {
	return cmp.Or(
		cmp.Compare(a.T, b.T),
		cmp.Compare(swfKindOrder(a.Kind), swfKindOrder(b.Kind)),
		cmp.Compare(a.Job, b.Job),
		strings.Compare(a.Pool, b.Pool),
	)
}

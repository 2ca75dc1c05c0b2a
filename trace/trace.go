package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"time"
)

// FormatName and Version identify the format in a trace's header.
// Version 2 ends a trace its recorder closed with an end record; a
// version 1 trace has none, so it cannot tell whether it is complete.
const (
	FormatName = "ocluster-trace"
	Version    = 2
)

// Header is a trace's first line.
type Header struct {
	Format   string    `json:"format"`
	Version  int       `json:"version"`
	Origin   time.Time `json:"origin,omitzero"`
	Source   string    `json:"source"`
	Pools    []string  `json:"pools"`
	Policy   string    `json:"policy,omitempty"`
	Scenario string    `json:"scenario,omitempty"`
	Seed     uint64    `json:"seed,omitempty"`
	// Sample and Window (seconds) are the sampling interval and fairness
	// window the recording run used, so that a replay measures alike.
	Sample float64 `json:"sample,omitempty"`
	Window float64 `json:"window,omitempty"`
}

// Kind is what an event records.
type Kind string

const (
	Submit   Kind = "submit"
	Start    Kind = "start"
	Finish   Kind = "finish"
	Cancel   Kind = "cancel"
	Register Kind = "register"
	Release  Kind = "release"
	Pause    Kind = "pause"
	Unpause  Kind = "unpause"
	Rate     Kind = "rate"
	// Prune: the worker emptied its build cache and said so.
	Prune Kind = "prune"
)

// Outcomes of a finished run.
const (
	OutcomeOK        = "ok"
	OutcomeFailed    = "failed"
	OutcomeCancelled = "cancelled"
	// OutcomeRequeued: the run was lost with its worker (or moved off it
	// by the admin) and the job went back to the queue for another.
	OutcomeRequeued = "requeued"
)

// Event is one line after the header. Only the fields its Kind uses are set.
type Event struct {
	T        float64 `json:"t"`
	Kind     Kind    `json:"event"`
	Pool     string  `json:"pool"`
	Job      uint64  `json:"job,omitempty"`
	Client   string  `json:"client,omitempty"`
	Hint     string  `json:"hint,omitempty"`
	Urgent   bool    `json:"urgent,omitempty"`
	Worker   string  `json:"worker,omitempty"`
	Cached   bool    `json:"cached,omitempty"`
	Outcome  string  `json:"outcome,omitempty"`
	Duration float64 `json:"duration,omitempty"`
	Capacity int     `json:"capacity,omitempty"`
	Cache    int     `json:"cache,omitempty"`
	Crash    bool    `json:"crash,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
	// Planned is, on a finish event, how long the run would have taken
	// had it not been cut short. On a submit event it is the job's run
	// time when the trace knows it but not when the job started (an SWF
	// log without wait times), and Outcome then says how that run ends:
	// "" or ok, failed, or cancelled (its client cancels it once it has
	// run that long).
	Planned float64 `json:"planned,omitempty"`
	// Size, Stream and CancelAfter describe a submitted job of a simulated
	// run, so that a live cluster can be given the very same job: its
	// quantile in the scenario's run-time distributions, which of its
	// client's streams made it (counted from 0), and how long after
	// submission its client cancels it unless it has ended.
	Size        float64 `json:"size,omitempty"`
	Stream      int     `json:"stream,omitempty"`
	CancelAfter float64 `json:"cancel_after,omitempty"`
}

// endRecord is a trace's last line once its recorder has closed it: a
// trace without one was cut short, at a line boundary or within a line.
const endRecord = `{"event":"end"}`

// errClosed is a write after Close.
var errClosed = errors.New("trace: write after the end record")

// Writer records a trace.
type Writer struct {
	w   *bufio.Writer
	buf []byte
	err error
}

// NewWriter writes h and returns a Writer for the events.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Format, h.Version = FormatName, Version
	if err := h.validate(); err != nil {
		return nil, err
	}
	tw := &Writer{w: bufio.NewWriterSize(w, 64<<10)}
	line, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	tw.w.Write(line)
	tw.err = tw.w.WriteByte('\n')
	return tw, tw.err
}

// Write appends one event. Errors are sticky: once one happens, later
// writes return it.
func (w *Writer) Write(e Event) error {
	if w.err != nil {
		return w.err
	}
	if err := e.validate(); err != nil {
		return err
	}
	w.buf = appendEvent(w.buf[:0], &e)
	_, w.err = w.w.Write(w.buf)
	return w.err
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.w.Flush()
	return w.err
}

// Close ends the trace with its end record, so that a reader knows
// nothing is missing, and flushes. It does not close the underlying
// writer; later writes fail.
func (w *Writer) Close() error {
	if w.err == errClosed {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	w.w.WriteString(endRecord + "\n")
	if err := w.Flush(); err != nil {
		return err
	}
	w.err = errClosed
	return nil
}

// appendEvent encodes an event as one JSON line, with the fields in a
// fixed order, without reflection: production records every job.
func appendEvent(b []byte, e *Event) []byte {
	b = append(b, `{"t":`...)
	b = appendFloat(b, e.T)
	b = append(b, `,"event":`...)
	b = appendString(b, string(e.Kind))
	b = append(b, `,"pool":`...)
	b = appendString(b, e.Pool)
	if e.Job != 0 {
		b = append(b, `,"job":`...)
		b = strconv.AppendUint(b, e.Job, 10)
	}
	if e.Client != "" {
		b = append(b, `,"client":`...)
		b = appendString(b, e.Client)
	}
	if e.Hint != "" {
		b = append(b, `,"hint":`...)
		b = appendString(b, e.Hint)
	}
	if e.Urgent {
		b = append(b, `,"urgent":true`...)
	}
	if e.Worker != "" {
		b = append(b, `,"worker":`...)
		b = appendString(b, e.Worker)
	}
	if e.Cached {
		b = append(b, `,"cached":true`...)
	}
	if e.Outcome != "" {
		b = append(b, `,"outcome":`...)
		b = appendString(b, e.Outcome)
	}
	if e.Duration != 0 {
		b = append(b, `,"duration":`...)
		b = appendFloat(b, e.Duration)
	}
	if e.Capacity != 0 {
		b = append(b, `,"capacity":`...)
		b = strconv.AppendInt(b, int64(e.Capacity), 10)
	}
	if e.Cache != 0 {
		b = append(b, `,"cache":`...)
		b = strconv.AppendInt(b, int64(e.Cache), 10)
	}
	if e.Crash {
		b = append(b, `,"crash":true`...)
	}
	if e.Rate != 0 {
		b = append(b, `,"rate":`...)
		b = appendFloat(b, e.Rate)
	}
	if e.Planned != 0 {
		b = append(b, `,"planned":`...)
		b = appendFloat(b, e.Planned)
	}
	if e.Size != 0 {
		b = append(b, `,"size":`...)
		b = appendFloat(b, e.Size)
	}
	if e.Stream != 0 {
		b = append(b, `,"stream":`...)
		b = strconv.AppendInt(b, int64(e.Stream), 10)
	}
	if e.CancelAfter != 0 {
		b = append(b, `,"cancel_after":`...)
		b = appendFloat(b, e.CancelAfter)
	}
	return append(b, "}\n"...)
}

func appendFloat(b []byte, x float64) []byte {
	return strconv.AppendFloat(b, x, 'g', -1, 64)
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func (h *Header) validate() error {
	if h.Format != FormatName {
		return fmt.Errorf("not an %s trace (format %q)", FormatName, h.Format)
	}
	if h.Version < 1 || h.Version > Version {
		return fmt.Errorf("trace version %d is not supported (this build reads version %d)", h.Version, Version)
	}
	if len(h.Pools) == 0 {
		return errors.New("trace header lists no pools")
	}
	for _, p := range h.Pools {
		if p == "" {
			return errors.New("trace header names an empty pool")
		}
	}
	return nil
}

func (e *Event) validate() error {
	if math.IsNaN(e.T) || math.IsInf(e.T, 0) || e.T < 0 {
		return fmt.Errorf("t must be a finite number of seconds, 0 or more, got %v", e.T)
	}
	if e.Pool == "" {
		return fmt.Errorf("%s event without a pool", e.Kind)
	}
	need := func(ok bool, field string) error {
		if !ok {
			return fmt.Errorf("%s event without %s", e.Kind, field)
		}
		return nil
	}
	switch e.Kind {
	case Submit:
		if !(e.Size >= 0 && e.Size < 1) || e.Stream < 0 || !(e.CancelAfter >= 0) || math.IsInf(e.CancelAfter, 0) {
			return fmt.Errorf("submit event with size %v, stream %d and cancel_after %v (size must be in [0, 1), stream 0 or more, cancel_after finite, 0 or more)", e.Size, e.Stream, e.CancelAfter)
		}
		if !(e.Planned >= 0) || math.IsInf(e.Planned, 0) || !slices.Contains([]string{"", OutcomeOK, OutcomeFailed, OutcomeCancelled}, e.Outcome) {
			return fmt.Errorf("submit event with planned %v and outcome %q (planned must be finite, 0 or more; outcome ok, failed or cancelled)", e.Planned, e.Outcome)
		}
		return errors.Join(need(e.Job != 0, "job"), need(e.Client != "", "client"))
	case Start:
		return errors.Join(need(e.Job != 0, "job"), need(e.Worker != "", "worker"))
	case Finish:
		if err := errors.Join(need(e.Job != 0, "job"), need(e.Worker != "", "worker")); err != nil {
			return err
		}
		if !slices.Contains([]string{OutcomeOK, OutcomeFailed, OutcomeCancelled, OutcomeRequeued}, e.Outcome) {
			return fmt.Errorf("finish event with outcome %q (want ok, failed, cancelled or requeued)", e.Outcome)
		}
		for _, d := range []float64{e.Duration, e.Planned} {
			if math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
				return fmt.Errorf("finish event with duration %v and planned %v (both must be finite, 0 or more)", e.Duration, e.Planned)
			}
		}
	case Cancel:
		return need(e.Job != 0, "job")
	case Register:
		if e.Capacity < 0 || e.Cache < 0 {
			return fmt.Errorf("register event with capacity %d and cache %d (both must be 0 or more)", e.Capacity, e.Cache)
		}
		return need(e.Worker != "", "worker")
	case Release, Pause, Unpause, Prune:
		return need(e.Worker != "", "worker")
	case Rate:
		if math.IsNaN(e.Rate) || math.IsInf(e.Rate, 0) || e.Rate <= 0 {
			return fmt.Errorf("rate event with rate %v (must be a finite number more than 0)", e.Rate)
		}
		return need(e.Client != "", "client")
	default:
		return fmt.Errorf("unknown event %q", e.Kind)
	}
	return nil
}

// Reader reads a trace, checking each line.
type Reader struct {
	sc     *bufio.Scanner
	header Header
	line   int
	last   float64
	pools  map[string]bool
	// cut is set when the input ends without a newline: a recorder killed
	// mid-write leaves such a line, which is dropped if it does not parse.
	cut       bool
	truncated bool
	ended     bool
}

// MaxLine is the longest line a Reader accepts.
const MaxLine = 1 << 20

// NewReader reads and checks the header.
func NewReader(r io.Reader) (*Reader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	tr := &Reader{sc: sc, pools: map[string]bool{}}
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		advance, token, err := bufio.ScanLines(data, atEOF)
		if atEOF && token != nil && advance == len(data) && !bytes.HasSuffix(data, []byte("\n")) {
			tr.cut = true
		}
		return advance, token, err
	})
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("trace line 1: %w", err)
		}
		return nil, errors.New("trace is empty: the first line must be its header")
	}
	tr.line = 1
	if err := strictUnmarshal(sc.Bytes(), &tr.header); err != nil {
		return nil, fmt.Errorf("trace line 1: header: %w", err)
	}
	if err := tr.header.validate(); err != nil {
		return nil, fmt.Errorf("trace line 1: %w", err)
	}
	for _, p := range tr.header.Pools {
		tr.pools[p] = true
	}
	return tr, nil
}

// Header is the trace's header.
func (r *Reader) Header() Header { return r.header }

// Ending says how the trace ended, once Next has returned io.EOF.
func (r *Reader) Ending() Ending {
	switch {
	case r.ended:
		return Ended
	case r.truncated:
		return Cut
	case r.header.Version < 2:
		return Unknown
	}
	return Unended
}

// Ending is how a trace ended.
type Ending int

const (
	// Ended: with its end record; nothing is missing.
	Ended Ending = iota
	// Unended: without its end record; the recorder stopped (was killed,
	// or is still writing) at a line boundary, and later events are lost.
	Unended
	// Cut: in a line cut off mid-write, which was dropped, as later
	// events are lost.
	Cut
	// Unknown: a version 1 trace, which has no end record.
	Unknown
)

// Problem says what a user should know of a trace that ended so, or ""
// when nothing is missing.
func (e Ending) Problem() string {
	switch e {
	case Unended:
		return "the trace has no end record: its recorder stopped before closing it (was it killed, or is it still running?), so its last events may be missing"
	case Cut:
		return "its last line was cut off mid-write (was the recorder killed?) and is ignored"
	case Unknown:
		return "a version 1 trace has no end record: whether its last events are missing cannot be told"
	}
	return ""
}

// Next returns the next event, or io.EOF after the last.
func (r *Reader) Next() (Event, error) {
	for r.sc.Scan() {
		r.line++
		text := bytes.TrimSpace(r.sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if r.ended {
			return Event{}, fmt.Errorf("trace line %d: a line after the end record", r.line)
		}
		if string(text) == endRecord && r.header.Version >= 2 {
			r.ended = true
			continue
		}
		var e Event
		if err := strictUnmarshal(text, &e); err != nil {
			if r.cut {
				r.truncated = true
				break
			}
			return Event{}, fmt.Errorf("trace line %d: %w", r.line, err)
		}
		if err := e.validate(); err != nil {
			return Event{}, fmt.Errorf("trace line %d: %w", r.line, err)
		}
		if !r.pools[e.Pool] {
			return Event{}, fmt.Errorf("trace line %d: pool %q is not listed in the header", r.line, e.Pool)
		}
		if e.T < r.last {
			return Event{}, fmt.Errorf("trace line %d: time goes backwards (%v after %v)", r.line, e.T, r.last)
		}
		r.last = e.T
		return e, nil
	}
	if err := r.sc.Err(); err != nil {
		return Event{}, fmt.Errorf("trace line %d: %w", r.line+1, err)
	}
	return Event{}, io.EOF
}

// ReadAll reads a whole trace, dropping a last line cut off mid-write.
func ReadAll(r io.Reader) (Header, []Event, error) {
	tr, err := NewReader(r)
	if err != nil {
		return Header{}, nil, err
	}
	events, err := tr.rest()
	if err != nil {
		return Header{}, nil, err
	}
	return tr.Header(), events, nil
}

// ReadFile reads a whole trace file, as ReadAll does, and says how it
// ended, so that the caller can tell its user when events may be missing.
// Its errors name the file.
func ReadFile(path string) (h Header, events []Event, ending Ending, err error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, 0, err
	}
	defer f.Close()
	tr, err := NewReader(f)
	if err != nil {
		return Header{}, nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	if events, err = tr.rest(); err != nil {
		return Header{}, nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return tr.Header(), events, tr.Ending(), nil
}

// rest reads the events up to the end.
func (r *Reader) rest() ([]Event, error) {
	var events []Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

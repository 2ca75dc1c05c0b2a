package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// traceFormat and traceVersion are what a trace's header says it is; a
// newer version may mean what this reader would misread.
const (
	traceFormat  = "ocluster-trace"
	traceVersion = 2
	// endRecord is the last line of a trace its recorder closed (version
	// 2): nothing follows it.
	endRecord = `{"event":"end"}`
)

// TraceHeader is a trace's first line.
type TraceHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Origin is the wall-clock time of t = 0; zero for simulated runs.
	Origin   time.Time `json:"origin"`
	Source   string    `json:"source"`
	Pools    []string  `json:"pools"`
	Policy   string    `json:"policy"`
	Scenario string    `json:"scenario"`
	Seed     uint64    `json:"seed"`
}

// Event is one line after the header, reduced to what the series need.
type Event struct {
	T        float64 `json:"t"`
	Kind     string  `json:"event"`
	Pool     string  `json:"pool"`
	Job      uint64  `json:"job"`
	Client   string  `json:"client"`
	Worker   string  `json:"worker"`
	Capacity int     `json:"capacity"`
}

// Trace is a whole trace file.
type Trace struct {
	Header TraceHeader
	Events []Event
}

// needs lists, for every kind of event, the fields it must carry.
var needs = map[string][]string{
	"submit":   {"job", "client"},
	"start":    {"job", "worker"},
	"finish":   {"job", "worker"},
	"cancel":   {"job"},
	"register": {"worker"},
	"release":  {"worker"},
	"pause":    {"worker"},
	"unpause":  {"worker"},
	"rate":     {"client"},
	"prune":    {"worker"},
}

// sniffTrace reports whether a file's first line is a trace header.
func sniffTrace(first []byte) bool {
	var h TraceHeader
	return json.Unmarshal(first, &h) == nil && h.Format == traceFormat
}

// readTrace reads a trace, checking what the series rely on: a known
// version, known events with their fields, listed pools, and time that
// never goes backwards. Errors name the line.
func readTrace(r io.Reader) (*Trace, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	line, err := br.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("line 1: %w", err)
	}
	t := &Trace{}
	if err := json.Unmarshal(line, &t.Header); err != nil {
		return nil, fmt.Errorf("line 1: header: %w", err)
	}
	h := t.Header
	if h.Format != traceFormat {
		return nil, fmt.Errorf("line 1: not an %s trace (format %q)", traceFormat, h.Format)
	}
	if h.Version < 1 || h.Version > traceVersion {
		return nil, fmt.Errorf("line 1: trace version %d is not supported (this plugin reads version %d): update the plugin", h.Version, traceVersion)
	}
	if len(h.Pools) == 0 {
		return nil, errors.New("line 1: the header lists no pools")
	}
	// Names repeat on every line; one copy of each keeps a long trace small.
	names := map[string]string{}
	intern := func(s string) string {
		if n, ok := names[s]; ok {
			return n
		}
		names[s] = s
		return s
	}
	for n := 2; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		cut := errors.Is(err, io.EOF) // the last line, without its newline
		if text := bytes.TrimSpace(line); string(text) == endRecord {
			return t, nil
		} else if len(text) > 0 {
			var e Event
			if jerr := json.Unmarshal(text, &e); jerr != nil {
				if cut {
					// The recorder is still writing, or was killed mid-line:
					// the part-line is not an event yet.
					return t, nil
				}
				return nil, fmt.Errorf("line %d: %w", n, jerr)
			}
			if verr := t.check(&e); verr != nil {
				return nil, fmt.Errorf("line %d: %w", n, verr)
			}
			e.Kind, e.Pool, e.Client, e.Worker = intern(e.Kind), intern(e.Pool), intern(e.Client), intern(e.Worker)
			t.Events = append(t.Events, e)
		}
		if cut {
			return t, nil
		}
	}
}

func (t *Trace) check(e *Event) error {
	fields, ok := needs[e.Kind]
	if !ok {
		return fmt.Errorf("unknown event %q", e.Kind)
	}
	if math.IsNaN(e.T) || math.IsInf(e.T, 0) || e.T < 0 {
		return fmt.Errorf("t must be a finite number of seconds, 0 or more, got %v", e.T)
	}
	if n := len(t.Events); n > 0 && e.T < t.Events[n-1].T {
		return fmt.Errorf("time goes backwards (%v after %v)", e.T, t.Events[n-1].T)
	}
	if !slices.Contains(t.Header.Pools, e.Pool) {
		return fmt.Errorf("pool %q is not listed in the header (%s)", e.Pool, strings.Join(t.Header.Pools, ", "))
	}
	for _, f := range fields {
		if (f == "job" && e.Job == 0) || (f == "client" && e.Client == "") || (f == "worker" && e.Worker == "") {
			return fmt.Errorf("%s event without %s", e.Kind, f)
		}
	}
	return nil
}

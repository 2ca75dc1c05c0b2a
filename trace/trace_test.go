package trace

import (
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const header = `{"format":"ocluster-trace","version":1,"source":"test","pools":["p"]}` + "\n"

func TestWriteThenRead(t *testing.T) {
	h := Header{Source: "test", Pools: []string{"p", "q"}, Origin: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), Policy: "ocluster", Seed: 3, Sample: 10, Window: 600}
	events := []Event{
		{T: 0, Kind: Register, Pool: "p", Worker: "w", Capacity: 4, Cache: 100},
		{T: 0, Kind: Rate, Pool: "p", Client: "c", Rate: 2.5},
		{T: 1.5, Kind: Submit, Pool: "p", Job: 1, Client: "c", Hint: `a "quoted" hint`, Urgent: true},
		{T: 2, Kind: Start, Pool: "p", Job: 1, Worker: "w", Cached: true},
		{T: 17.25, Kind: Finish, Pool: "p", Job: 1, Worker: "w", Outcome: OutcomeOK, Duration: 15.25},
		{T: 18, Kind: Submit, Pool: "q", Job: 2, Client: "c", Size: 0.25, Stream: 1, CancelAfter: 90.5},
		{T: 19, Kind: Cancel, Pool: "q", Job: 2},
		{T: 20, Kind: Pause, Pool: "p", Worker: "w"},
		{T: 21, Kind: Unpause, Pool: "p", Worker: "w"},
		{T: 22, Kind: Finish, Pool: "p", Job: 3, Worker: "w", Outcome: OutcomeFailed, Duration: 1, Planned: 9},
		{T: 30, Kind: Release, Pool: "p", Worker: "w", Crash: true},
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	gotH, got, err := ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	h.Format, h.Version = FormatName, Version
	if !reflect.DeepEqual(gotH, h) || !reflect.DeepEqual(got, events) {
		t.Fatalf("round trip differs:\n%+v\n%+v\n%+v\n%+v", gotH, h, got, events)
	}
}

func TestWriterRefusesBadEvents(t *testing.T) {
	w, err := NewWriter(io.Discard, Header{Pools: []string{"p"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Event{T: -1, Kind: Submit, Pool: "p", Job: 1, Client: "c"}); err == nil {
		t.Fatal("negative time accepted")
	}
	if _, err := NewWriter(io.Discard, Header{}); err == nil {
		t.Fatal("a header without pools accepted")
	}
}

func TestReaderErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"empty", "", "trace is empty"},
		{"not json", "hello\n", "trace line 1: header"},
		{"other format", `{"format":"csv","version":1,"pools":["p"]}` + "\n", `not an ocluster-trace trace`},
		{"newer version", `{"format":"ocluster-trace","version":3,"pools":["p"]}` + "\n", "trace version 3 is not supported"},
		{"no pools", `{"format":"ocluster-trace","version":1}` + "\n", "lists no pools"},
		{"unknown header field", `{"format":"ocluster-trace","version":1,"pools":["p"],"colour":"red"}` + "\n", `unknown field "colour"`},
		{"unknown event", header + `{"t":1,"event":"explode","pool":"p"}` + "\n", `trace line 2: unknown event "explode"`},
		{"missing job", header + `{"t":1,"event":"submit","pool":"p","client":"c"}` + "\n", "trace line 2: submit event without job"},
		{"missing worker", header + `{"t":1,"event":"start","pool":"p","job":1}` + "\n", "trace line 2: start event without worker"},
		{"bad outcome", header + `{"t":1,"event":"finish","pool":"p","job":1,"worker":"w","outcome":"meh"}` + "\n", `outcome "meh"`},
		{"bad rate", header + `{"t":1,"event":"rate","pool":"p","client":"c","rate":0}` + "\n", "rate event with rate 0"},
		{"unlisted pool", header + `{"t":1,"event":"cancel","pool":"x","job":1}` + "\n", `trace line 2: pool "x" is not listed`},
		{"backwards", header + `{"t":5,"event":"cancel","pool":"p","job":1}` + "\n\n" + `{"t":4,"event":"cancel","pool":"p","job":2}` + "\n", "trace line 4: time goes backwards"},
		{"two values", header + `{"t":1,"event":"cancel","pool":"p","job":1} {}` + "\n", "trace line 2: more than one JSON value"},
		{"wrong type", header + `{"t":"soon","event":"cancel","pool":"p","job":1}` + "\n", "trace line 2:"},
		{"long line", header + `{"t":1,"event":"cancel","pool":"p","job":1,"hint":"` + strings.Repeat("x", MaxLine) + `"}` + "\n", "trace line 2: bufio.Scanner: token too long"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ReadAll(strings.NewReader(c.text))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestACutLastLineIsDropped(t *testing.T) {
	text := header + `{"t":1,"event":"cancel","pool":"p","job":1}` + "\n" + `{"t":2,"event":"canc`
	tr, err := NewReader(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Next(); err != io.EOF || tr.Ending() != Cut {
		t.Fatalf("a cut last line: %v, ending %v", err, tr.Ending())
	}
	// A complete but bad last line is still an error.
	if _, _, err := ReadAll(strings.NewReader(header + `{"t":2,"event":"canc"}`)); err == nil {
		t.Fatal("a bad last line was dropped")
	}
}

// ReadFile tells a cut last line from a whole trace, and names the file
// in its errors.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	whole := header + `{"t":1,"event":"cancel","pool":"p","job":1}` + "\n"
	for _, c := range []struct {
		text   string
		ending Ending
	}{{whole, Unknown}, {whole + `{"t":2,"event":"canc`, Cut}} {
		path := filepath.Join(dir, "trace.jsonl")
		require.NoError(t, os.WriteFile(path, []byte(c.text), 0o644))
		h, events, ending, err := ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, "test", h.Source)
		assert.Len(t, events, 1)
		assert.Equal(t, c.ending, ending)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(header+`{"t":2,"event":"canc"}`+"\n"), 0o644))
	_, _, _, err := ReadFile(bad)
	assert.ErrorContains(t, err, bad+": ")
}

// FuzzRead feeds arbitrary text to the reader: it errors or returns events
// that write back and read again identically.
func FuzzRead(f *testing.F) {
	f.Add(header + `{"t":1,"event":"submit","pool":"p","job":1,"client":"c","hint":"h"}` + "\n")
	f.Add(header + `{"t":0,"event":"register","pool":"p","worker":"w","capacity":2}` + "\n" + `{"t":2,"event":"finish","pool":"p","job":1,"worker":"w","outcome":"ok","duration":2}` + "\n")
	f.Fuzz(func(t *testing.T, text string) {
		h, events, err := ReadAll(strings.NewReader(text))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w, err := NewWriter(&buf, h)
		if err != nil {
			t.Fatalf("header read but not written: %v", err)
		}
		for _, e := range events {
			if err := w.Write(e); err != nil {
				t.Fatalf("event read but not written: %v", err)
			}
		}
		w.Close()
		h.Version = Version // a trace is written in this build's version
		h2, events2, err := ReadAll(&buf)
		if err != nil || !reflect.DeepEqual(h, h2) || !reflect.DeepEqual(events, events2) {
			t.Fatalf("rewritten trace differs (%v)", err)
		}
	})
}

// What the simulator records of a submitted job must make sense: a
// quantile, a stream number, a cancel delay.
func TestSubmitDrawsAreChecked(t *testing.T) {
	w, err := NewWriter(io.Discard, Header{Pools: []string{"p"}})
	require.NoError(t, err)
	ok := Event{Kind: Submit, Pool: "p", Job: 1, Client: "c", Size: 0.999, Stream: 3, CancelAfter: 1}
	require.NoError(t, w.Write(ok))
	for _, bad := range []func(*Event){
		func(e *Event) { e.Size = 1 },
		func(e *Event) { e.Size = -0.1 },
		func(e *Event) { e.Size = math.NaN() },
		func(e *Event) { e.Stream = -1 },
		func(e *Event) { e.CancelAfter = -5 },
		func(e *Event) { e.CancelAfter = math.Inf(1) },
	} {
		e := ok
		bad(&e)
		assert.ErrorContains(t, w.Write(e), "submit event with size", "%+v", e)
	}
}

// A closed trace ends with its end record, and a reader tells it from one
// whose recorder stopped between two lines, or within one.
func TestTheEndRecordTellsACompleteTrace(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Source: "test", Pools: []string{"p"}})
	require.NoError(t, err)
	require.NoError(t, w.Write(Event{T: 1, Kind: Cancel, Pool: "p", Job: 1}))
	require.NoError(t, w.Write(Event{T: 2, Kind: Cancel, Pool: "p", Job: 2}))
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "a second Close")
	assert.ErrorIs(t, w.Write(Event{T: 3, Kind: Cancel, Pool: "p", Job: 3}), errClosed)
	complete := buf.String()
	require.True(t, strings.HasSuffix(complete, "\n"+endRecord+"\n"), complete)

	ending := func(text string) Ending {
		t.Helper()
		tr, err := NewReader(strings.NewReader(text))
		require.NoError(t, err)
		_, err = tr.rest()
		require.NoError(t, err)
		return tr.Ending()
	}
	lines := strings.SplitAfter(complete, "\n")
	assert.Equal(t, Ended, ending(complete))
	atBoundary := strings.Join(lines[:len(lines)-2], "") // the end record lost
	assert.Equal(t, Unended, ending(atBoundary))
	assert.Equal(t, Cut, ending(atBoundary[:len(atBoundary)-5]))
	assert.Equal(t, Unknown, ending(header+`{"t":1,"event":"cancel","pool":"p","job":1}`+"\n"))
	for _, e := range []Ending{Unended, Cut, Unknown} {
		assert.NotEmpty(t, e.Problem())
	}
	assert.Empty(t, Ended.Problem())

	_, _, err = ReadAll(strings.NewReader(complete + `{"t":3,"event":"cancel","pool":"p","job":3}` + "\n"))
	assert.ErrorContains(t, err, "a line after the end record")
}

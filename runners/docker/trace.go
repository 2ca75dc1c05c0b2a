package docker

import (
	"fmt"
	"maps"
	"slices"

	controlapi "github.com/moby/buildkit/api/services/control"
)

// traceLog turns BuildKit's progress (the engine's "moby.buildkit.trace"
// messages, each a StatusResponse) into plain log lines in the style of
// `docker build --progress=plain`: "#N step name", "#N output line",
// "#N DONE 0.3s", "#N CACHED", "#N ERROR: why". Steps are numbered in the
// order they first show up in the log.
type traceLog struct {
	emit    func(string)
	num     map[string]int
	shown   map[string]bool // step named in the log
	ended   map[string]bool // DONE, CACHED or ERROR written
	output  map[string]*lineSplitter
	lastNum int
}

func newTraceLog(emit func(string)) *traceLog {
	return &traceLog{emit: emit, num: map[string]int{}, shown: map[string]bool{}, ended: map[string]bool{}, output: map[string]*lineSplitter{}}
}

func (t *traceLog) id(vertex string) int {
	n, ok := t.num[vertex]
	if !ok {
		t.lastNum++
		n = t.lastNum
		t.num[vertex] = n
	}
	return n
}

// handle decodes one StatusResponse and logs what it says. A response may
// start a step, carry its output and end it all at once, so the lines go
// out in that order whatever order the fields come in.
func (t *traceLog) handle(raw []byte) error {
	var sr controlapi.StatusResponse
	if err := sr.UnmarshalVT(raw); err != nil {
		return fmt.Errorf("decoding BuildKit progress: %w", err)
	}
	for _, v := range sr.Vertexes {
		if !t.shown[v.Digest] && (v.Started != nil || v.Cached || v.Completed != nil || v.Error != "") {
			t.shown[v.Digest] = true
			t.emit(fmt.Sprintf("#%d %s", t.id(v.Digest), v.Name))
		}
	}
	for _, l := range sr.Logs {
		t.splitter(l.Vertex).write(l.Msg)
	}
	for _, w := range sr.Warnings {
		t.emit(fmt.Sprintf("#%d WARNING: %s", t.id(w.Vertex), w.Short))
	}
	for _, v := range sr.Vertexes {
		if t.ended[v.Digest] || !t.shown[v.Digest] {
			continue
		}
		n := t.id(v.Digest)
		switch {
		case v.Error != "":
			t.flush(v.Digest)
			t.emit(fmt.Sprintf("#%d ERROR: %s", n, v.Error))
		case v.Cached:
			t.emit(fmt.Sprintf("#%d CACHED", n))
		case v.Completed != nil:
			t.flush(v.Digest)
			if v.Started != nil {
				d := v.Completed.AsTime().Sub(v.Started.AsTime())
				t.emit(fmt.Sprintf("#%d DONE %.1fs", n, d.Seconds()))
			} else {
				t.emit(fmt.Sprintf("#%d DONE", n))
			}
		default:
			continue
		}
		t.ended[v.Digest] = true
	}
	return nil
}

func (t *traceLog) splitter(vertex string) *lineSplitter {
	s := t.output[vertex]
	if s == nil {
		n := t.id(vertex)
		s = &lineSplitter{emit: func(line string) { t.emit(fmt.Sprintf("#%d %s", n, line)) }}
		t.output[vertex] = s
	}
	return s
}

func (t *traceLog) flush(vertex string) {
	if s := t.output[vertex]; s != nil {
		s.flush()
	}
}

// close writes out whatever output of unfinished steps is left.
func (t *traceLog) close() {
	vertices := slices.Collect(maps.Keys(t.output))
	slices.SortFunc(vertices, func(a, b string) int { return t.num[a] - t.num[b] })
	for _, v := range vertices {
		t.output[v].flush()
	}
}

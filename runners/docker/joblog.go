package docker

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

const (
	// tailLines is how much of the log a failure's error repeats: enough
	// to see the failing command's last words without scrolling the log.
	tailLines = 10
	// tailWidth caps each repeated line, so that one huge line (a
	// minified file cat'ed by a step) cannot swamp the error.
	tailWidth = 400
	// minRedacted is the shortest secret fragment that is masked in the
	// log: masking shorter ones would garble ordinary output, and they
	// are too short to be worth protecting anyway.
	minRedacted = 4
)

// jobLog writes a job's log one whole line at a time, masks the job's
// secrets in every line, and remembers the last lines for error messages.
// The build stream and the cancel watcher both write to it.
type jobLog struct {
	mu      sync.Mutex
	w       io.Writer
	failed  bool // the writer failed once: the build goes on, unlogged
	secrets [][]byte
	tail    []string
}

func newJobLog(w io.Writer, secrets map[string][]byte) *jobLog {
	if w == nil {
		w = io.Discard
	}
	l := &jobLog{w: w}
	for _, v := range secrets {
		// Each line of a multi-line secret (a key file, say) is masked on
		// its own, since the log is handled line by line.
		for _, frag := range bytes.Split(v, []byte("\n")) {
			frag = bytes.TrimRight(frag, "\r")
			if len(frag) >= minRedacted {
				l.secrets = append(l.secrets, frag)
			}
		}
	}
	// Longest first, so a secret containing another is masked whole.
	slices.SortFunc(l.secrets, func(a, b []byte) int { return len(b) - len(a) })
	return l
}

// redact masks the job's secrets in s.
func (l *jobLog) redact(s string) string {
	for _, frag := range l.secrets {
		if strings.Contains(s, string(frag)) {
			s = strings.ReplaceAll(s, string(frag), "***")
		}
	}
	return s
}

func (l *jobLog) line(s string) {
	s = l.redact(s)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.failed {
		if _, err := io.WriteString(l.w, s+"\n"); err != nil {
			l.failed = true
		}
	}
	if len(s) > tailWidth {
		s = s[:tailWidth] + "…"
	}
	if len(l.tail) == tailLines {
		l.tail = slices.Delete(l.tail, 0, 1)
	}
	l.tail = append(l.tail, s)
}

func (l *jobLog) linef(format string, args ...any) { l.line(fmt.Sprintf(format, args...)) }

func (l *jobLog) lastLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.tail)
}

// lineSplitter turns a stream of text chunks, which the engine cuts
// wherever it likes, into whole lines.
type lineSplitter struct {
	partial []byte
	emit    func(string)
}

func (s *lineSplitter) write(chunk []byte) {
	s.partial = append(s.partial, chunk...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return
		}
		s.emit(string(bytes.TrimRight(s.partial[:i], "\r")))
		s.partial = s.partial[i+1:]
	}
}

// flush emits what is left of an unterminated last line.
func (s *lineSplitter) flush() {
	if len(s.partial) > 0 {
		s.emit(string(bytes.TrimRight(s.partial, "\r")))
		s.partial = nil
	}
}

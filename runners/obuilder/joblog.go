package obuilder

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// minRedacted is the shortest secret value hidden in logs: hiding shorter
// ones would garble ordinary output and protect little.
const minRedacted = 4

const redacted = "[secret]"

// jobLog is the job's log as the build writes it. It serialises writers
// (a step's output arrives from a copying goroutine), hides secret values
// even when they are split across writes, never fails (a log that cannot
// be written must not block a container on a full pipe), and knows whether
// the text so far ends a line, so that headings start on a line of their
// own.
type jobLog struct {
	mu          sync.Mutex
	w           io.Writer
	secrets     [][]byte // longest first, so that a longer value wins over its own prefix
	held        []byte   // a tail that may be the start of a secret
	atLineStart bool
}

func newJobLog(w io.Writer, secrets []string) *jobLog {
	l := &jobLog{w: w, atLineStart: true}
	seen := map[string]bool{}
	for _, s := range secrets {
		for _, v := range []string{s, strings.TrimSpace(s)} {
			if len(v) >= minRedacted && !seen[v] {
				seen[v] = true
				l.secrets = append(l.secrets, []byte(v))
			}
		}
	}
	slices.SortFunc(l.secrets, func(a, b []byte) int { return len(b) - len(a) })
	return l
}

func (l *jobLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.write(p)
	return len(p), nil
}

func (l *jobLog) write(p []byte) {
	if len(l.secrets) == 0 {
		l.emit(p)
		return
	}
	buf := append(l.held, p...)
	for _, s := range l.secrets {
		buf = bytes.ReplaceAll(buf, s, []byte(redacted))
	}
	hold := l.partial(buf)
	l.emit(buf[:len(buf)-hold])
	l.held = append([]byte(nil), buf[len(buf)-hold:]...)
}

// partial is the length of the longest tail of buf that begins some secret,
// which must wait for the next write before it can be shown.
func (l *jobLog) partial(buf []byte) int {
	longest := len(l.secrets[0]) - 1
	for k := min(longest, len(buf)); k > 0; k-- {
		tail := buf[len(buf)-k:]
		for _, s := range l.secrets {
			if len(s) > k && bytes.HasPrefix(s, tail) {
				return k
			}
		}
	}
	return 0
}

func (l *jobLog) emit(p []byte) {
	if len(p) == 0 {
		return
	}
	l.w.Write(p) //nolint:errcheck // see the type's comment
	l.atLineStart = p[len(p)-1] == '\n'
}

// flush shows a held tail: the output it might have continued has ended.
func (l *jobLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.emit(l.held)
	l.held = nil
}

// heading starts a step, as OBuilder does: bold blue, on its own line.
func (l *jobLog) heading(text string) {
	l.line("\x1b[01;34m" + text + "\x1b[0m")
}

// note reports what happened to a step: magenta, on its own line.
func (l *jobLog) note(format string, args ...any) {
	l.line("\x1b[01;35m" + fmt.Sprintf(format, args...) + "\x1b[0m")
}

func (l *jobLog) line(s string) {
	l.flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.atLineStart {
		l.write([]byte("\n"))
	}
	l.write([]byte(s + "\n"))
}

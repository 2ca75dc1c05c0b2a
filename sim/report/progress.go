package report

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Progress draws a progress bar on a terminal once work has taken more
// than a second; elsewhere (a pipe, a file, CI logs) it stays silent.
type Progress struct {
	w       io.Writer
	tty     bool
	started time.Time
	last    time.Time
	drawn   bool
}

// NewProgress returns a bar drawing on w when w is a terminal.
func NewProgress(w *os.File) *Progress {
	fi, err := w.Stat()
	return &Progress{w: w, tty: err == nil && fi.Mode()&os.ModeCharDevice != 0, started: time.Now()}
}

// Update shows done out of total, with a label such as "simulated 3h of 24h".
func (p *Progress) Update(done, total float64, label string) {
	now := time.Now()
	if !p.tty || now.Sub(p.started) < time.Second || now.Sub(p.last) < 100*time.Millisecond || total <= 0 {
		return
	}
	p.last = now
	frac := min(max(done/total, 0), 1)
	const width = 30
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %s ", strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac, label)
	p.drawn = true
}

// Done clears the bar.
func (p *Progress) Done() {
	if p.drawn {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 79))
		p.drawn = false
	}
}

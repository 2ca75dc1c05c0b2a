package store

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocluster-go/ocluster/core"
)

// crashDirEnv, when set, makes TestCrashChild write to a store in that
// directory until it is killed.
const crashDirEnv = "OCLUSTER_STORE_CRASH_DIR"

const (
	crashFlushed   = 40 // the batch after which the child flushes
	crashBatchRows = 8  // cache entries in a batch
)

// crashBatch is batch n of the crash test: crashBatchRows cache entries
// with the hint of the batch, and the rate n+1 for the client "last".
func crashBatch(n int) []core.Change {
	hint := fmt.Sprintf("batch-%06d", n)
	changes := []core.Change{{Kind: core.RateSet, Pool: "p", Client: "last", Rate: float64(n + 1)}}
	for w := range crashBatchRows {
		changes = append(changes, core.Change{Kind: core.CacheAdded, Pool: "p", Hint: hint, Worker: fmt.Sprint("w", w), At: float64(n)})
	}
	return changes
}

// TestCrashChild is the process that TestCrashKill kills.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs as the child process of TestCrashKill")
	}
	s, err := Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(s, 2*time.Millisecond, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	for n := 0; ; n++ {
		w.Enqueue(crashBatch(n))
		if n == crashFlushed {
			if err := w.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("FLUSHED %d\n", n)
		}
		if n%4 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// TestCrashKill kills a process that writes through a Writer (kill -9) and
// checks what the database holds afterwards: every batch up to the one it
// flushed, and then whole batches only, in order.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, wait := range []time.Duration{0, 5 * time.Millisecond, 30 * time.Millisecond, 100 * time.Millisecond} {
		t.Run(fmt.Sprintf("kill %v after the flush", wait), func(t *testing.T) {
			dir := t.TempDir()
			killChild(t, dir, wait)
			path := filepath.Join(dir, "state.db")
			// A clean close would have checkpointed and removed the WAL:
			// the next open must recover from it.
			if info, err := os.Stat(path + "-wal"); err != nil || info.Size() == 0 {
				t.Fatalf("no write-ahead log left by the killed process: %v", err)
			}
			s, err := Open(path)
			if err != nil {
				t.Fatalf("reopen after kill -9: %v", err)
			}
			defer s.Close()
			var check string
			if err := s.db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil {
				t.Fatal(err)
			}
			if check != "ok" {
				t.Fatalf("integrity_check: %s", check)
			}
			last := checkCrashBatches(t, mustSnapshot(t, s))
			t.Logf("batches 0 to %d stored", last)
		})
	}
}

// killChild runs TestCrashChild, reads its "FLUSHED n" line, waits and
// kills it.
func killChild(t *testing.T, dir string, wait time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var seen []string
	flushed := false
	for !flushed && lines.Scan() {
		seen = append(seen, lines.Text())
		flushed = lines.Text() == fmt.Sprint("FLUSHED ", crashFlushed)
	}
	if !flushed {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child did not report its flush; stdout:\n%s\nstderr:\n%s", strings.Join(seen, "\n"), stderr.String())
	}
	time.Sleep(wait)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout) // so that Wait does not wait for a reader
	err = cmd.Wait()
	status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !status.Signaled() || status.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed by SIGKILL: %v; stderr:\n%s", err, stderr.String())
	}
}

// checkCrashBatches checks that the stored batches are 0 to some last one
// (at least crashFlushed), each whole, and returns the last.
func checkCrashBatches(t *testing.T, snap core.Snapshot) int {
	t.Helper()
	if len(snap.Pools) != 1 || snap.Pools[0].Name != "p" {
		t.Fatalf("stored pools: %+v", snap.Pools)
	}
	p := snap.Pools[0]
	rows := map[string]int{}
	for _, e := range p.Cache {
		rows[e.Hint]++
	}
	last := len(rows) - 1
	for n := 0; n <= last; n++ {
		hint := fmt.Sprintf("batch-%06d", n)
		if rows[hint] != crashBatchRows {
			t.Fatalf("batch %d has %d of its %d cache entries (%d batches stored in all)", n, rows[hint], crashBatchRows, len(rows))
		}
	}
	if last < crashFlushed {
		t.Fatalf("batches 0 to %d stored; the child flushed up to %d", last, crashFlushed)
	}
	if len(p.Rates) != 1 || p.Rates[0] != (core.ClientRate{Client: "last", Rate: float64(last + 1)}) {
		t.Fatalf("rates %+v, want the rate of the last batch stored, %d", p.Rates, last+1)
	}
	return last
}

package worker

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// The worker hands its log out in chunks of at most maxLogChunk, from
// memory and then, past logSpillSize, from its file; a reader ahead of
// the writer waits for the data; a reader past the end of a finished log
// is told so.
func TestJobLogChunks(t *testing.T) {
	l := newJobLog(t.TempDir())
	defer l.discard()
	var want bytes.Buffer
	ctx := context.Background()
	ahead := make(chan []byte)
	go func() {
		data, _, _, _ := l.read(ctx, logSpillSize+100)
		ahead <- data
	}()
	for i := 0; want.Len() < 2*logSpillSize; i++ {
		line := fmt.Sprintf("line %d %s\n", i, strings.Repeat("x", i%3000))
		want.WriteString(line)
		if _, err := l.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	l.finish()
	if l.f == nil {
		t.Fatalf("a %d-byte log did not spill to a file", want.Len())
	}
	select {
	case data := <-ahead:
		if !bytes.Equal(data, want.Bytes()[logSpillSize+100:logSpillSize+100+len(data)]) || len(data) == 0 {
			t.Fatalf("a reader waiting past the end got %d bytes that differ from the log there", len(data))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a reader waiting past the end was never answered")
	}
	var got []byte
	for start := int64(0); ; {
		data, next, _, err := l.read(ctx, start)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > maxLogChunk || next != start+int64(len(data)) {
			t.Fatalf("a chunk of %d bytes from %d said the next starts at %d", len(data), start, next)
		}
		if len(data) == 0 {
			break
		}
		got, start = append(got, data...), next
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read %d bytes that differ from the %d written", len(got), want.Len())
	}
	if data, _, _, err := l.read(ctx, -5); err != nil || string(data) != want.String()[want.Len()-5:] {
		t.Fatalf("the last 5 bytes: %q, %v", data, err)
	}
	if _, _, _, err := l.read(ctx, int64(want.Len())+1); err == nil || !strings.Contains(err.Error(), "past the end of the log") {
		t.Fatalf("reading past the end of a finished log: %v", err)
	}
}

// A log that cannot spill (its directory is gone) fails the write that
// needed the spill, saying so, and keeps what it had.
func TestJobLogSpillFailure(t *testing.T) {
	l := newJobLog(t.TempDir() + "/missing")
	defer l.discard()
	if _, err := l.Write(bytes.Repeat([]byte("x"), logSpillSize)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte("more")); err == nil || !strings.Contains(err.Error(), "spooling a long log to disk") {
		t.Fatalf("a write that cannot spill: %v", err)
	}
	if data, _, _, err := l.read(context.Background(), 0); err != nil || len(data) != maxLogChunk {
		t.Fatalf("after a failed spill: %d bytes, %v", len(data), err)
	}
}

// The chunk that reaches the end of a finished log says the log is
// complete; a reader that waited for the log gets a burst of writes and
// the log's end in one reply, and a lone line once logLinger has passed.
func TestJobLogComplete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newJobLog(t.TempDir())
		defer l.discard()
		l.Write([]byte("Building\n"))
		data, next, complete, err := l.read(ctx, 0)
		require.NoError(t, err)
		require.Equal(t, "Building\n", string(data))
		require.False(t, complete, "the log goes on")

		type reply struct {
			data     string
			next     int64
			complete bool
		}
		replies := make(chan reply)
		readAt := func(start int64) {
			go func() {
				data, next, complete, err := l.read(ctx, start)
				require.NoError(t, err)
				replies <- reply{string(data), next, complete}
			}()
		}
		readAt(next)
		synctest.Wait()
		l.Write([]byte("Done\n"))
		time.Sleep(logLinger / 4)
		l.Write([]byte("Job succeeded\n"))
		l.finish()
		require.Equal(t, reply{"Done\nJob succeeded\n", 28, true}, <-replies)

		l = newJobLog(t.TempDir())
		defer l.discard()
		readAt(0)
		synctest.Wait()
		start := time.Now()
		l.Write([]byte("a line\n"))
		require.Equal(t, reply{"a line\n", 7, false}, <-replies)
		require.Equal(t, logLinger, time.Since(start)) // the bubble's clock
		l.finish()
		data, next, complete, err = l.read(ctx, 7)
		require.NoError(t, err)
		require.Equal(t, reply{"", 7, true}, reply{string(data), next, complete})
	})
}

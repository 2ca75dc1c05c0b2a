package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedWriter records each write; while gated, a write waits until the
// test opens the gate.
type gatedWriter struct {
	entered chan []byte   // each write, as it starts
	gate    chan struct{} // closed to let writes through
	err     error         // what every write returns

	mu     sync.Mutex
	writes [][]byte
}

func newGatedWriter() *gatedWriter {
	return &gatedWriter{entered: make(chan []byte, 100), gate: make(chan struct{})}
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	cp := bytes.Clone(p)
	g.entered <- cp
	<-g.gate
	g.mu.Lock()
	g.writes = append(g.writes, cp)
	g.mu.Unlock()
	if g.err != nil {
		return 0, g.err
	}
	return len(p), nil
}

func (g *gatedWriter) recorded() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, w := range g.writes {
		out = append(out, string(w))
	}
	return out
}

func TestBatchWriterSendsWhatQueuedDuringAWriteInOneWrite(t *testing.T) {
	g := newGatedWriter()
	b := newBatchWriter(g)
	_, err := b.Write([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, "a", string(<-g.entered))
	for _, m := range []string{"b", "cc", "ddd"} {
		_, err := b.Write([]byte(m))
		require.NoError(t, err)
	}
	close(g.gate)
	b.Close(time.Minute)
	assert.Equal(t, []string{"a", "bccddd"}, g.recorded())
}

func TestBatchWriterKeepsOrderAndBytes(t *testing.T) {
	var out bytes.Buffer
	b := newBatchWriter(&out)
	var want bytes.Buffer
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		m := bytes.Repeat([]byte{byte(i)}, 1+r.IntN(3000))
		want.Write(m)
		n, err := b.Write(m)
		require.NoError(t, err)
		require.Equal(t, len(m), n)
		if i%100 == 0 {
			// The caller may reuse its buffer once Write returns.
			clear(m)
		}
	}
	b.Close(time.Minute)
	assert.True(t, bytes.Equal(want.Bytes(), out.Bytes()), "wrote %d bytes, want %d, in order", out.Len(), want.Len())
}

func TestBatchWriterReportsAFailedWriteOnTheWritesAfterIt(t *testing.T) {
	g := newGatedWriter()
	g.err = errors.New("connection reset by peer")
	close(g.gate)
	b := newBatchWriter(g)
	_, err := b.Write([]byte("lost"))
	require.NoError(t, err, "the failure is not known yet")
	<-b.done
	_, err = b.Write([]byte("next"))
	require.ErrorIs(t, err, g.err)
	_, err = b.Write([]byte("and the next"))
	require.ErrorIs(t, err, g.err)
	assert.Equal(t, []string{"lost"}, g.recorded())
}

func TestBatchWriterCloseWritesWhatIsPending(t *testing.T) {
	g := newGatedWriter()
	b := newBatchWriter(g)
	_, err := b.Write([]byte("first"))
	require.NoError(t, err)
	<-g.entered
	_, err = b.Write([]byte("abort"))
	require.NoError(t, err)
	close(g.gate)
	b.Close(time.Minute)
	assert.Equal(t, []string{"first", "abort"}, g.recorded())
	_, err = b.Write([]byte("late"))
	assert.ErrorIs(t, err, errWriterClosed)
}

func TestBatchWriterCloseGivesUpOnAPeerThatDoesNotRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGatedWriter()
		b := newBatchWriter(g)
		_, err := b.Write([]byte("stuck"))
		require.NoError(t, err)
		start := time.Now()
		b.Close(time.Second)
		assert.Equal(t, time.Second, time.Since(start))
		// Closing the connection is what unblocks the write in real use.
		close(g.gate)
		<-b.done
	})
}

func TestBatchWriterHoldsASenderBackWhileTooMuchIsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGatedWriter()
		b := newBatchWriter(g)
		_, err := b.Write([]byte("x"))
		require.NoError(t, err)
		<-g.entered // the writer is busy with x
		chunk := make([]byte, 64<<10)
		for range maxPending / len(chunk) {
			_, err := b.Write(chunk)
			require.NoError(t, err)
		}
		returned := make(chan struct{})
		go func() {
			_, err := b.Write([]byte("over"))
			assert.NoError(t, err)
			close(returned)
		}()
		synctest.Wait()
		select {
		case <-returned:
			t.Fatal("a write past the bound returned while the writer was stuck")
		default:
		}
		close(g.gate)
		<-returned
		b.Close(time.Minute)
		got := g.recorded()
		require.Len(t, got, 3)
		assert.Equal(t, "x", got[0])
		assert.Len(t, got[1], maxPending)
		assert.Equal(t, "over", got[2])
	})
}

package testbed

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer answers every connection by echoing what it reads.
func echoServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return l.Addr().String()
}

func echo(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	_, err := c.Write([]byte(msg))
	require.NoError(t, err)
	buf := make([]byte, len(msg))
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	return string(buf)
}

// A cut link closes its connections and lets no new one through until
// it is restored; a killed one never again.
func TestLinkCut(t *testing.T) {
	addr := echoServer(t)
	l := newLink()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := l.dial(ctx, addr)
	require.NoError(t, err)
	assert.Equal(t, "one", echo(t, c, "one"))
	l.cut()
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err, "a connection of a cut link reads nothing more")

	dialed := make(chan net.Conn)
	go func() {
		c, err := l.dial(ctx, addr)
		assert.NoError(t, err)
		dialed <- c
	}()
	select {
	case <-dialed:
		t.Fatal("a cut link let a connection through")
	case <-time.After(50 * time.Millisecond):
	}
	l.restore()
	c = <-dialed
	assert.Equal(t, "two", echo(t, c, "two"))

	l.kill()
	_, err = l.dial(ctx, addr)
	assert.ErrorIs(t, err, errProcessGone)
	l.restore()
	_, err = l.dial(ctx, addr)
	assert.ErrorIs(t, err, errProcessGone, "a dead process does not come back")
}

// A stopped link keeps its connections open but passes nothing either
// way until it goes on; then what was held back arrives.
func TestLinkStop(t *testing.T) {
	addr := echoServer(t)
	l := newLink()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := l.dial(ctx, addr)
	require.NoError(t, err)
	l.stop()
	got := make(chan string)
	go func() { got <- echo(t, c, "held") }()
	select {
	case s := <-got:
		t.Fatalf("a stopped link passed %q", s)
	case <-time.After(50 * time.Millisecond):
	}
	l.resume()
	assert.Equal(t, "held", <-got)

	// Bytes that arrive while it is stopped wait for it to go on.
	l.stop()
	raw := c.(*linkConn).Conn
	_, err = raw.Write([]byte("x")) // the echo server sends it back
	require.NoError(t, err)
	read := make(chan error)
	go func() {
		_, err := c.Read(make([]byte, 1))
		read <- err
	}()
	select {
	case <-read:
		t.Fatal("a stopped link delivered bytes")
	case <-time.After(50 * time.Millisecond):
	}
	l.resume()
	assert.NoError(t, <-read)

	// A stopped connection that is cut fails at once.
	l.stop()
	go func() {
		_, err := c.Read(make([]byte, 1))
		read <- err
	}()
	l.cut()
	assert.Error(t, <-read)
}

package docker

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/moby/client"
)

// secretSession is a BuildKit session through which the engine fetches a
// job's secrets while a RUN --mount=type=secret step runs. The values
// stay in this process's memory: BuildKit mounts them on a tmpfs for the
// step only, and they are not part of any layer or cache record.
type secretSession struct {
	s    *session.Session
	done chan struct{}

	mu     sync.Mutex
	closed bool
	err    error
}

// startSecretSession opens the session over the engine's /session
// endpoint. The engine waits for the session a build names, so when the
// session fails abort is called to end the build rather than leave it
// waiting.
func startSecretSession(cli *client.Client, secrets map[string][]byte, abort func()) (*secretSession, error) {
	// The shared key only scopes BuildKit's cache of local directories
	// sent through a session, which these builds do not use.
	s, err := session.NewSession(context.Background(), "ocluster-worker")
	if err != nil {
		return nil, fmt.Errorf("starting a BuildKit session for the job's secrets: %w", err)
	}
	s.Allow(secretsprovider.FromMap(secrets))
	ss := &secretSession{s: s, done: make(chan struct{})}
	dial := func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
		return cli.DialHijack(ctx, "/session", proto, meta)
	}
	go func() {
		defer close(ss.done)
		err := s.Run(context.Background(), dial)
		ss.mu.Lock()
		failed := err != nil && !ss.closed
		if failed {
			ss.err = err
		}
		ss.mu.Unlock()
		if failed {
			abort()
		}
	}()
	return ss, nil
}

func (s *secretSession) id() string { return s.s.ID() }

func (s *secretSession) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *secretSession) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = s.s.Close()
	<-s.done
}

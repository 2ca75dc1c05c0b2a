package obuilder

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/client"

	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// benchFixture is built once per test binary and removed by TestMain:
// Go calls a benchmark function several times, and building its spec
// uncached each time would cost ten layer commits.
var benchFixture struct {
	once   sync.Once
	env    *testEnv
	spec   string
	ctxDir string
	err    error
}

func cachedRebuildFixture(b *testing.B) *testEnv {
	b.Helper()
	dockertest.Base(b, dockertest.Engine(b)) // skips, saying why, without an engine
	f := &benchFixture
	f.once.Do(func() {
		cli, err := client.New(client.FromEnv)
		if err != nil {
			f.err = err
			return
		}
		e := &testEnv{cli: cli, nonce: nonce()}
		if e.store, err = os.MkdirTemp("", "obuilder-bench-"); err != nil {
			f.err = err
			return
		}
		f.env = e
		store, _ := ParseStore("docker:" + e.store)
		e.r, f.err = New(Config{Client: cli, Store: store, Labels: map[string]string{testLabel: e.nonce},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if f.err != nil {
			return
		}
		f.ctxDir = filepath.Join(e.store, "context")
		for i := range 20 {
			p := filepath.Join(f.ctxDir, fmt.Sprintf("dir%d", i%4), fmt.Sprintf("file%d.ml", i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if f.err = os.WriteFile(p, []byte(strings.Repeat("let x = 1\n", 100*i)), 0o644); f.err != nil {
				return
			}
		}
		ops := "(workdir /src)\n (copy (src .) (dst ./))\n"
		for i := 1; i <= 9; i++ {
			ops += fmt.Sprintf(" (run (shell \"echo %d > /step%d\"))\n", i, i)
		}
		f.spec = e.spec(ops)
		_, f.err = e.r.Run(context.Background(), jobOf(f.spec), f.ctxDir, io.Discard)
	})
	if f.err != nil {
		b.Fatalf("building the benchmark's spec: %v", f.err)
	}
	return f.env
}

func cleanupBenchFixture() {
	if e := benchFixture.env; e != nil {
		e.cleanup(noopTB{})
		e.cli.Close()
		os.RemoveAll(e.store)
	}
}

// BenchmarkCachedRebuild10 rebuilds a ten-step spec (one copy from a
// 20-file context, nine runs) whose every step is cached.
func BenchmarkCachedRebuild10(b *testing.B) {
	e := cachedRebuildFixture(b)
	f := &benchFixture
	b.ResetTimer()
	for range b.N {
		res := e.build(b, f.spec, f.ctxDir)
		if res.err != nil || res.hits != 10 || res.misses != 0 {
			b.Fatalf("cached rebuild: %d hits, %d misses, error %v", res.hits, res.misses, res.err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/build")
}

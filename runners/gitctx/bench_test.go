package gitctx

import (
	"context"
	"fmt"
	"io"
	"testing"
)

// BenchmarkPrepareCached measures what a job pays for its build context
// once the worker's clone has its commits: the check-out of a 200-file
// tree with a second commit merged in, and the release. The goal is under
// 200 ms.
func BenchmarkPrepareCached(b *testing.B) {
	srv := startServer(b)
	f := srv.repo("bench")
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("src/dir%02d/file%03d.txt", i%20, i)] = fmt.Sprintf("line %d\n", i)
	}
	f.commit("base", files)
	f.git("checkout", "-q", "-b", "feature")
	feature := f.commit("feature", map[string]string{"feature.txt": "feature\n"})
	f.git("checkout", "-q", "main")
	head := f.commit("main", map[string]string{"main.txt": "main\n"})
	c := newContexts(b, Options{})
	job := gitJob(f.url, false, head, feature)
	_, release, err := c.Prepare(context.Background(), job, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	release()
	b.ResetTimer()
	for b.Loop() {
		_, release, err := c.Prepare(context.Background(), job, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/prepare")
}

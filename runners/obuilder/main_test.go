package obuilder

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	cleanupBenchFixture()
	os.Exit(code)
}

// noopTB lets clean-up helpers run outside a test.
type noopTB struct{ testing.TB }

func (noopTB) Helper()               {}
func (noopTB) Fatalf(string, ...any) {}

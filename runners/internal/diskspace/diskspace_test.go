package diskspace

import (
	"strings"
	"testing"
)

func TestFree(t *testing.T) {
	blocks, inodes, err := Free(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if blocks <= 0 || blocks > 100 || inodes <= 0 || inodes > 100 {
		t.Fatalf("free blocks %.1f%%, inodes %.1f%%: want percentages above 0", blocks, inodes)
	}
	if _, _, err := Free("/nonexistent/dir"); err == nil || !strings.Contains(err.Error(), "/nonexistent/dir") {
		t.Fatalf("a missing folder: %v", err)
	}
}

package obuilder

import (
	"fmt"
	"syscall"
)

// freePercent is the share of the file system holding dir that is free,
// in blocks or inodes, whichever is scarcer. File systems without a fixed
// inode count (btrfs) report zero inodes and are judged on blocks alone.
func freePercent(dir string) (float64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("checking free space on %s: %w", dir, err)
	}
	if st.Blocks == 0 {
		return 0, fmt.Errorf("checking free space on %s: the file system reports no blocks", dir)
	}
	free := 100 * float64(st.Bavail) / float64(st.Blocks)
	if st.Files > 0 {
		free = min(free, 100*float64(st.Ffree)/float64(st.Files))
	}
	return free, nil
}

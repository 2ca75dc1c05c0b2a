package obuilder

import "github.com/ocluster-go/ocluster/runners/internal/diskspace"

// freePercent is the share of the file system holding dir that is free,
// in blocks or inodes, whichever is scarcer.
func freePercent(dir string) (float64, error) {
	blocks, inodes, err := diskspace.Free(dir)
	return min(blocks, inodes), err
}

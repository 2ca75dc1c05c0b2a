// Package diskspace measures how full the file system holding a folder
// is, for the runners that prune their caches when it fills up.
package diskspace

import "fmt"

// Free gives the percentages of free blocks and of free inodes of the file
// system holding dir. A file system without a fixed inode count (btrfs)
// reports none; its inodes count as all free.
func Free(dir string) (blocks, inodes float64, err error) {
	total, avail, files, ffree, err := statfs(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("checking free space on %s: %w", dir, err)
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("checking free space on %s: the file system reports no blocks", dir)
	}
	blocks, inodes = 100*float64(avail)/float64(total), 100
	if files > 0 {
		inodes = 100 * float64(ffree) / float64(files)
	}
	return blocks, inodes, nil
}

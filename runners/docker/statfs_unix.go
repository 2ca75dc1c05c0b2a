//go:build unix

package docker

import "golang.org/x/sys/unix"

// freeSpace gives the percentages of free blocks and free inodes of the
// file system holding dir. A file system without an inode limit (btrfs)
// reports 100% free inodes.
func freeSpace(dir string) (blocks, inodes float64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	blocks, inodes = 100, 100
	if st.Blocks > 0 {
		blocks = 100 * float64(st.Bavail) / float64(st.Blocks)
	}
	if st.Files > 0 {
		inodes = 100 * float64(st.Ffree) / float64(st.Files)
	}
	return blocks, inodes, nil
}

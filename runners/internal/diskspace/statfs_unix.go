//go:build unix

package diskspace

import "golang.org/x/sys/unix"

func statfs(dir string) (blocks, avail, files, ffree uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, 0, 0, err
	}
	// Some systems (FreeBSD) count the space available to users as signed:
	// below zero when a disk is fuller than its reserve allows.
	avail = uint64(max(0, int64(st.Bavail)))
	ffree = uint64(max(0, int64(st.Ffree)))
	return uint64(st.Blocks), avail, uint64(st.Files), ffree, nil
}

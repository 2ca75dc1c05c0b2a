//go:build unix

package diskspace

import "golang.org/x/sys/unix"

func statfs(dir string) (blocks, avail, files, ffree uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, 0, 0, err
	}
	return uint64(st.Blocks), uint64(st.Bavail), uint64(st.Files), uint64(st.Ffree), nil
}

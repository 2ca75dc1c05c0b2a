//go:build !unix

package diskspace

import (
	"fmt"
	"runtime"
)

func statfs(string) (blocks, avail, files, ffree uint64, err error) {
	return 0, 0, 0, 0, fmt.Errorf("not implemented on %s", runtime.GOOS)
}
